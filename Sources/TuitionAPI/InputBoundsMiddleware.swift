import Foundation
import HTTPTypes
import Hummingbird
import TuitionCore

/// Bounds every request meets before any route runs:
/// - a declared `Content-Length` over the JSON cap is 413 `body_too_large` (bodies sent without one are capped where
///   they are read, by `Request.collectBody(upTo:)`);
/// - the path and the query may not carry NUL, other control characters or bidirectional overrides once
///   percent-decoded: a licence number or a search term reaches PostgreSQL and pages. Such a path names nothing
///   (404 `not_found`, as a malformed id does); such a query is 400 `invalid_parameter`.
struct InputBoundsMiddleware<Context: RequestContext>: RouterMiddleware {
    let maxBodyBytes: Int

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > maxBodyBytes { throw APIFailure.bodyTooLarge }
        let path = request.uri.path
        if Self.mayHoldForbidden(path), TextRule.singleLine.forbiddenScalar(in: path.removingPercentEncoding ?? path) != nil {
            throw Problem.notFound
        }
        // Hummingbird decodes the values, not the names.
        for (name, value) in request.uri.queryParameters
        where Self.mayHoldForbidden(name)
            && TextRule.singleLine.forbiddenScalar(in: String(name).removingPercentEncoding ?? String(name)) != nil
            || Self.mayHoldForbidden(value) && TextRule.singleLine.forbiddenScalar(in: value) != nil
        {
            throw Problem.invalidParameter("the query holds a control character or a bidirectional override")
        }
        return try await next(request, context)
    }

    /// False for text of printable ASCII without `%`, which neither holds nor decodes to a forbidden scalar: most paths
    /// and queries, checked without decoding them (issue #15).
    static func mayHoldForbidden(_ text: some StringProtocol) -> Bool {
        text.utf8.contains { $0 < 0x20 || $0 >= 0x7f || $0 == UInt8(ascii: "%") }
    }
}
