import Foundation
import HTTPTypes
import Hummingbird

/// Refuses a state-changing request (anything but GET and HEAD) that a browser sent from another site: its `Origin`,
/// or failing that its `Referer`, must be the service's own origin (the request's `Host`, or the configured public
/// address). A request with neither is refused too, so a cross-site form cannot sign a regulator in or out.
/// 403 `cross_site_request`.
struct SameOriginMiddleware<Context: RequestContext>: RouterMiddleware {
    let allowedOrigins: Set<String>

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.method != .get, request.method != .head else { return try await next(request, context) }
        guard let origin = Self.origin(of: request), isOwn(origin, request: request) else { throw APIFailure.crossSiteRequest }
        return try await next(request, context)
    }

    /// The origin a browser reported: `Origin`, else the scheme and authority of `Referer`.
    static func origin(of request: Request) -> String? {
        if let origin = request.headers[.origin], origin != "null" { return origin.lowercased() }
        return request.headers[.referer].flatMap(WebSettings.origin(of:))
    }

    func isOwn(_ origin: String, request: Request) -> Bool {
        if allowedOrigins.contains(origin) { return true }
        guard let authority = request.head.authority?.lowercased() else { return false }
        return origin == "http://\(authority)" || origin == "https://\(authority)"
    }
}
