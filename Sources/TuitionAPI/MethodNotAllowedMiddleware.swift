import HTTPTypes
import Hummingbird

/// 405 with `Allow` for a path the router knows under other methods; 404 stays for unknown paths. Added after every
/// route, so Hummingbird applies it only around its not-found responder: matched requests never pay for it.
struct MethodNotAllowedMiddleware<Context: RequestContext>: RouterMiddleware {
    /// Each route's path split into segments (`:id` and `*` match any one segment), with the methods it takes.
    let routes: [(segments: [Substring], methods: Set<HTTPRequest.Method>)]

    init(routes: [(path: String, method: HTTPRequest.Method)]) {
        var byPath: [String: Set<HTTPRequest.Method>] = [:]
        for route in routes { byPath[route.path, default: []].insert(route.method) }
        self.routes = byPath.map { path, methods in (path.split(separator: "/"), methods) }
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            let allowed = allowedMethods(for: request.uri.path)
            guard !allowed.isEmpty else { throw error }
            var problem = try Problem(APIFailure.methodNotAllowed).response(from: request, context: context)
            problem.headers[.allow] = allowed.map(\.rawValue).sorted().joined(separator: ", ")
            return problem
        }
    }

    func allowedMethods(for path: String) -> Set<HTTPRequest.Method> {
        let segments = path.split(separator: "/")
        var allowed = Set<HTTPRequest.Method>()
        for route in routes where Self.matches(route.segments, segments) { allowed.formUnion(route.methods) }
        if allowed.contains(.get) { allowed.insert(.head) }
        return allowed
    }

    static func matches(_ pattern: [Substring], _ segments: [Substring]) -> Bool {
        if pattern.last == "**" {
            return segments.count >= pattern.count - 1 && matches(pattern.dropLast(), segments.prefix(pattern.count - 1))
        }
        guard pattern.count == segments.count else { return false }
        return zip(pattern, segments).allSatisfy { pattern, segment in
            pattern == segment || pattern.hasPrefix(":") || pattern == "*" || (pattern.hasPrefix("{") && pattern.hasSuffix("}"))
        }
    }

    static func matches(_ pattern: ArraySlice<Substring>, _ segments: ArraySlice<Substring>) -> Bool {
        matches(Array(pattern), Array(segments))
    }
}
