import HTTPTypes
import Hummingbird

/// Headers every response carries, whichever route made it (a page, a problem, a contract's HTML view):
/// - `X-Content-Type-Options: nosniff` on all, and `Strict-Transport-Security` (the service runs behind a TLS proxy;
///   browsers ignore the header on plain HTTP), so that a first plain-http visit to the sign-in page cannot be downgraded
///   once a browser has been here;
/// - on HTML: a Content-Security-Policy that runs no script and may not be framed, `X-Frame-Options: DENY` for older
///   browsers, and `Referrer-Policy: same-origin`;
/// - `Cache-Control: no-store` unless the route chose a policy: tokens, session cookies and personal data must not
///   stay in a shared or browser cache. Public, cacheable routes (QR codes) set their own.
struct SecurityHeadersMiddleware<Context: RequestContext>: RouterMiddleware {
    static var contentSecurityPolicy: String {
        "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        Self.secure(&response.headers)
        return response
    }

    static func secure(_ headers: inout HTTPFields) {
        headers[.xContentTypeOptions] = "nosniff"
        headers[.strictTransportSecurity] = "max-age=31536000"
        if headers[.cacheControl] == nil { headers[.cacheControl] = "no-store" }
        guard headers[.contentType]?.lowercased().hasPrefix("text/html") == true else { return }
        if headers[.contentSecurityPolicy] == nil { headers[.contentSecurityPolicy] = contentSecurityPolicy }
        headers[.xFrameOptions] = "DENY"
        headers[.referrerPolicy] = "same-origin"
    }
}

extension HTTPField.Name {
    static let xFrameOptions = HTTPField.Name("X-Frame-Options")!
    static let referrerPolicy = HTTPField.Name("Referrer-Policy")!
}
