import HTTPTypes
import Hummingbird

import Synchronization

/// The routes the router serves, by path (segments; `:id`, `*` and `{…}` match any one segment, `**` the rest) with
/// the methods each takes. Filled once every route is added, so a middleware placed before the routes may ask too.
final class RouteTable: Sendable {
    private let routes = Mutex<[(segments: [Substring], methods: Set<HTTPRequest.Method>)]>([])

    init() {}

    func fill(_ list: [(path: String, method: HTTPRequest.Method)]) {
        var byPath: [String: Set<HTTPRequest.Method>] = [:]
        for route in list { byPath[route.path, default: []].insert(route.method) }
        routes.withLock { $0 = byPath.map { path, methods in (path.split(separator: "/"), methods) } }
    }

    /// The methods some route takes at `path`, HEAD with GET.
    func methods(for path: String) -> Set<HTTPRequest.Method> {
        let segments = path.split(separator: "/")
        var allowed = Set<HTTPRequest.Method>()
        routes.withLock { routes in
            for route in routes where Self.matches(route.segments, segments) { allowed.formUnion(route.methods) }
        }
        if allowed.contains(.get) { allowed.insert(.head) }
        return allowed
    }

    static func matches(_ pattern: [Substring], _ segments: [Substring]) -> Bool {
        if pattern.last == "**" {
            return segments.count >= pattern.count - 1 && matches(Array(pattern.dropLast()), Array(segments.prefix(pattern.count - 1)))
        }
        guard pattern.count == segments.count else { return false }
        return zip(pattern, segments).allSatisfy { pattern, segment in
            pattern == segment || pattern.hasPrefix(":") || pattern == "*" || (pattern.hasPrefix("{") && pattern.hasSuffix("}"))
        }
    }
}

/// 405 with `Allow` for a path the router knows under other methods; 404 stays for unknown paths. Added after every
/// route, so Hummingbird applies it only around its not-found responder: matched requests never pay for it.
struct MethodNotAllowedMiddleware<Context: RequestContext>: RouterMiddleware {
    let table: RouteTable

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            let allowed = table.methods(for: request.uri.path)
            guard !allowed.isEmpty else { throw error }
            var problem = try Problem(APIFailure.methodNotAllowed).response(from: request, context: context)
            problem.headers[.allow] = allowed.map(\.rawValue).sorted().joined(separator: ", ")
            return problem
        }
    }
}
