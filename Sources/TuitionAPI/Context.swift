import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdAuth
import NIOCore
import Synchronization
import TuitionCore
import TuitionStore
import TuitionUseCases
import TuitionWire

/// The request context: Hummingbird's core storage plus the principal the bearer token belongs to.
public struct AppRequestContext: AuthRequestContext, RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var identity: Principal?
    /// The client's IP address, which failed authentications are counted by; nil in router tests.
    public let remoteAddress: String?

    public init(source: Source) {
        self.coreContext = .init(source: source)
        self.identity = nil
        self.remoteAddress = source.channel.remoteAddress?.ipAddress
    }

    /// Request bodies are small JSON documents.
    public var maxUploadSize: Int { RequestBodyLimit.jsonBytes }

    /// The authenticated principal, or 401.
    func principal() throws -> Principal {
        guard let identity else { throw Problem.unauthenticated }
        return identity
    }

    /// The authenticated principal if it has `role`, or 403 (which reveals nothing about any resource).
    func principal(_ role: Role) throws -> Principal {
        let principal = try principal()
        guard principal.role == role else { throw Problem.roleNotPermitted }
        return principal
    }

    var scope: Scope { get throws { Scope(try principal()) } }

    /// The authenticated regulator's district, or 401/403.
    func regulatorDistrict() throws -> DistrictCode { try principal(.regulator).district() }
    /// The authenticated institution, or 401/403.
    func institution() throws -> Institution.ID { try principal(.institution).institution() }
    /// The authenticated guardian, or 401/403.
    func guardian() throws -> Guardian.ID { try principal(.guardian).guardian() }
    /// The authenticated insurer, or 401/403.
    func insurer() throws -> Insurer.ID { try principal(.insurer).insurer() }
}

/// The party a principal acts for, when a route needs one kind; any other kind is 403 (which reveals nothing).
extension Principal {
    func district() throws -> DistrictCode {
        guard case .regulator(let district) = entity else { throw Problem.roleNotPermitted }
        return district
    }

    func institution() throws -> Institution.ID {
        guard case .institution(let id) = entity else { throw Problem.roleNotPermitted }
        return id
    }

    func guardian() throws -> Guardian.ID {
        guard case .guardian(let id) = entity else { throw Problem.roleNotPermitted }
        return id
    }

    func insurer() throws -> Insurer.ID {
        guard case .insurer(let id) = entity else { throw Problem.roleNotPermitted }
        return id
    }
}

/// How tokens live and how hard guessing them is: a token expires `tokenLifetime` after it is issued
/// (`TUITIONGUARD_TOKEN_LIFETIME_DAYS`, default 90); a client address that presents `failedAuthenticationLimit`
/// unknown, expired or revoked tokens within `failedAuthenticationWindow` gets 429 until the window ends.
public struct AuthSettings: Sendable {
    public var tokenLifetime: TimeInterval
    public var failedAuthenticationLimit: Int
    public var failedAuthenticationWindow: Duration
    /// The reverse proxies in front of the service (`TUITIONGUARD_TRUSTED_PROXIES`, IP addresses): a request from one
    /// of them is counted by the client address its `X-Forwarded-For` names, not by the proxy's own, which every
    /// client behind it would share.
    public var trustedProxies: Set<String>

    public init(
        tokenLifetime: TimeInterval = PrincipalRepository.defaultLifetime, failedAuthenticationLimit: Int = 20,
        failedAuthenticationWindow: Duration = .seconds(60), trustedProxies: Set<String> = []
    ) {
        self.tokenLifetime = tokenLifetime
        self.failedAuthenticationLimit = failedAuthenticationLimit
        self.failedAuthenticationWindow = failedAuthenticationWindow
        self.trustedProxies = trustedProxies
    }
}

/// Failed authentications per client address, kept in the process. Once an address reaches the limit within a
/// window, every request of it that carries a token is refused until the window ends, a valid token included:
/// answering a good guess differently would still answer the guess.
final class FailedAuthenticationLimiter: Sendable {
    private struct Window {
        var started: ContinuousClock.Instant
        var failures: Int
    }

    private let limit: Int
    private let window: Duration
    private let trustedProxies: Set<String>
    private let windows = Mutex<[String: Window]>([:])
    /// More addresses than this in one window and the table starts afresh, so a flood of addresses cannot grow it
    /// without bound.
    private let addressesMax = 10_000

    init(limit: Int, window: Duration, trustedProxies: Set<String> = []) {
        self.limit = limit
        self.window = window
        self.trustedProxies = trustedProxies
    }

    /// The key a request's failures count against: the client's address (`clientAddress`), an IPv6 one by its /64,
    /// the block one subscriber gets, so rotating addresses inside it earns no fresh guesses.
    func address(of request: Request, _ context: AppRequestContext) -> String {
        Self.limitKey(
            Self.clientAddress(
                peer: context.remoteAddress, forwardedFor: request.headers[values: .xForwardedFor], trustedProxies: trustedProxies))
    }

    /// The peer's address, or, when the peer is a trusted proxy, the client `X-Forwarded-For` names. Each proxy appends
    /// the address it received the request from, so the list is read from the right: the first entry not itself a
    /// trusted proxy is the client; entries left of it were written by the client and prove nothing. An entry that is
    /// no IP address (`unknown`, a name) leaves the request counted by the proxy. A peer that is no trusted proxy is the
    /// client, whatever it sends. Addresses are compared in one form (`normalized`); `trustedProxies` holds that form.
    static func clientAddress(peer: String?, forwardedFor: [String], trustedProxies: Set<String>) -> String {
        guard let peer = peer.flatMap(normalized) else { return peer ?? "local" }
        guard trustedProxies.contains(peer) else { return peer }
        let hops = forwardedFor.flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces) }
        for hop in hops.reversed() where !hop.isEmpty {
            guard let address = normalized(hop) else { return peer }
            if !trustedProxies.contains(address) { return address }
        }
        return peer
    }

    /// An address in the one form the limiter compares: brackets and a port dropped (`[2001:db8::1]:443`,
    /// `203.0.113.9:5555`, as some proxies write them), an IPv4-mapped IPv6 address as IPv4, and the text
    /// `SocketAddress` prints (lowercase, zeros compressed). Nil when the text is no IP address.
    static func normalized(_ text: String) -> String? {
        var candidate = text.trimmingCharacters(in: .whitespaces)
        if candidate.hasPrefix("["), let close = candidate.firstIndex(of: "]") {
            candidate = String(candidate[candidate.index(after: candidate.startIndex)..<close])
        } else if candidate.filter({ $0 == ":" }).count == 1, let host = candidate.split(separator: ":").first {
            candidate = String(host)
        }
        guard let printed = (try? SocketAddress(ipAddress: candidate, port: 0))?.ipAddress else { return nil }
        return printed.hasPrefix("::ffff:") && printed.contains(".") ? String(printed.dropFirst(7)) : printed
    }

    /// An IPv6 address by its /64; anything else as it is.
    static func limitKey(_ address: String) -> String {
        guard address.contains(":") else { return address }
        var raw = in6_addr()
        guard inet_pton(AF_INET6, address, &raw) == 1 else { return address }
        withUnsafeMutableBytes(of: &raw) { bytes in
            for index in 8..<16 { bytes[index] = 0 }
        }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        guard inet_ntop(AF_INET6, &raw, &buffer, socklen_t(buffer.count)) != nil else { return address }
        return String(cString: buffer) + "/64"
    }

    /// How long `address` must wait, or nil when it may authenticate.
    func retryAfter(_ address: String) -> Duration? {
        let now = ContinuousClock.now
        return windows.withLock { windows in
            guard let current = windows[address] else { return nil }
            let end = current.started.advanced(by: window)
            guard now < end else {
                windows[address] = nil
                return nil
            }
            return current.failures >= limit ? now.duration(to: end) : nil
        }
    }

    /// The 429 an address over the limit gets, with the seconds left in its window as `Retry-After`.
    static func refusal(waiting wait: Duration, _ request: Request, _ context: AppRequestContext) throws -> Response {
        var response = try Problem.tooManyFailedAuthentications.response(from: request, context: context)
        response.headers[.retryAfter] = String(max(1, wait.components.seconds + (wait.components.attoseconds > 0 ? 1 : 0)))
        return response
    }

    func recordFailure(_ address: String) {
        let now = ContinuousClock.now
        windows.withLock { windows in
            if var current = windows[address], now < current.started.advanced(by: window) {
                current.failures += 1
                windows[address] = current
                return
            }
            if windows.count >= addressesMax { windows.removeAll(keepingCapacity: true) }
            windows[address] = Window(started: now, failures: 1)
        }
    }
}

/// Looks up the principal behind `Authorization: Bearer …`; requests without one go on unauthenticated.
/// An unknown, expired or revoked token also leaves the request unauthenticated (public routes still answer, the
/// others say 401) and counts as a failure of the client's address. A defunct institution's token reads but does
/// not write: its only write is the retry of one that ran before the mark, which gets its first answer and moves
/// nothing (`replayOrRefuse`).
struct TokenAuthentication: RouterMiddleware {
    typealias Context = AppRequestContext
    let principals: PrincipalRepository
    let keys: IdempotencyRepository
    let limiter: FailedAuthenticationLimiter
    /// Only a write some route takes is refused for a defunct institution; any other gets the router's 404 or 405.
    let routes: RouteTable

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        // `/metrics` checks its own scrape token: it is no principal's and must not count as a failed authentication.
        guard let token = request.headers.bearerToken, request.uri.path != "/metrics" else { return try await next(request, context) }
        let address = limiter.address(of: request, context)
        if let wait = limiter.retryAfter(address) { return try FailedAuthenticationLimiter.refusal(waiting: wait, request, context) }
        var context = context
        if token.utf8.count < 200, let holder = try await principals.holder(forToken: token) {
            if holder.institutionStatus == .defunct && request.mayWrite && !request.revokesAToken
                && routes.methods(for: request.uri.path).contains(request.method)
            {
                return try await replayOrRefuse(request, principal: holder.principal)
            }
            context.identity = holder.principal
        } else {
            limiter.recordFailure(address)
        }
        return try await next(request, context)
    }

    /// A defunct institution's write: the first answer when it is the replay of a keyed request that ran before the
    /// mark (same key, method, path and body), `institution_defunct` otherwise.
    func replayOrRefuse(_ request: Request, principal: Principal) async throws -> Response {
        // A money route without its key is a malformed request before it is a closed path (as for everyone).
        guard request.idempotencyKey != nil else {
            throw request.isMoneyWrite ? Problem.idempotencyKeyRequired : Problem.institutionDefunct
        }
        let claim = try await IdempotentRequests().keyed(request, principal: principal)
        guard let first = try await keys.replay(of: claim) else { throw Problem.institutionDefunct }
        return JSON.response(body: first.body, status: HTTPResponse.Status(code: first.status))
    }
}

extension HTTPField.Name {
    static let xForwardedFor = HTTPField.Name("X-Forwarded-For")!
}

extension Request {
    /// `DELETE /v1/tokens/{id}`: a holder may always end its own access (a defunct institution's token still reads
    /// its guardians' data; a leaked one must not wait for the regulator). The route checks whose token it is.
    var revokesAToken: Bool { method == .delete && uri.path.hasPrefix("/v1/tokens/") }

    /// One of the routes that move money, each of which needs an Idempotency-Key (the document's keyed routes).
    var isMoneyWrite: Bool { Self.isMoneyWrite(method, uri.path) }

    static func isMoneyWrite(_ method: HTTPRequest.Method, _ path: String) -> Bool {
        let parts = path.split(separator: "/")
        guard method == .post, parts.first == "v1" else { return false }
        switch (parts.count, parts.dropFirst().first, parts.last) {
        case (2, "class-sessions", _), (2, "claims", _), (4, "institutions", "reserve-topups"), (4, "enrollments", "lessons"),
            (4, "enrollments", "refunds"), (4, "enrollments", "payments"), (4, "enrollments", "tuition-policies"),
            (4, "policy-proposals", "acceptance"), (4, "claims", "payment"):
            return true
        default:
            return false
        }
    }

    /// A method some route writes with; any other (TRACE, OPTIONS…) is left to the router, which answers 405.
    var mayWrite: Bool { [.post, .put, .patch, .delete].contains(method) }

    /// The key of the transfer a keyed request moves money with: the kind, the entity the key belongs to, the key.
    func transferKey(_ kind: String, principal: Principal) -> String {
        "\(kind):\(principal.entity.idempotencyOwner):\(idempotencyKey ?? "")"
    }

    /// The request's Idempotency-Key: 1–200 printable ASCII characters, else nil. The header's bytes reach us decoded
    /// as UTF-8 with every invalid byte made U+FFFD, so keys of other bytes would collide (`top\xA1`, `top\xA2`).
    var idempotencyKey: String? {
        guard let key = headers[HTTPField.Name("Idempotency-Key")!], (1...200).contains(key.utf8.count),
            key.utf8.allSatisfy({ (0x20...0x7E).contains($0) })
        else { return nil }
        return key
    }

    /// Whether the request names an Idempotency-Key at all, valid or not (where one is optional, an invalid one is 400).
    var namesIdempotencyKey: Bool { headers[HTTPField.Name("Idempotency-Key")!] != nil }
}

extension Parameters {
    /// A typed id from the path; a malformed id is 404 like an unknown one.
    func id<Entity>(_ name: String, as type: Identifier<Entity>.Type = Identifier<Entity>.self) throws -> Identifier<Entity> {
        guard let text = get(name), let id = Identifier<Entity>(text) else { throw Problem.notFound }
        return id
    }
}

extension Request {
    /// The `cursor` query parameter; empty is absent (the first page), on every paged route alike.
    var cursor: Substring? {
        guard let text = uri.queryParameters["cursor"], !text.isEmpty else { return nil }
        return text
    }

    /// `cursor` and `limit` from the query string.
    func pageRequest() throws -> PageRequest {
        var after: UUID?
        if let cursor {
            guard let id = UUID(uuidString: String(cursor)) else { throw Problem.invalidParameter("cursor is not one we gave out") }
            after = id
        }
        return PageRequest(after: after, limit: try pageLimit())
    }

    /// An optional filter from the query string naming one case of `T` (`?status=active`); an unknown value is 400.
    func option<T: RawRepresentable>(_ name: String, as type: T.Type) throws -> T? where T.RawValue == String {
        try uri.queryParameters[Substring(name)].map { text in
            guard let value = T(rawValue: String(text)) else { throw Problem.invalidParameter("unknown \(name) \(text)") }
            return value
        }
    }

    /// `limit` from the query string: 1–200, 50 when absent.
    func pageLimit() throws -> Int {
        guard let text = uri.queryParameters["limit"] else { return 50 }
        guard text.isASCIIDigits, let value = Int(text), (1...200).contains(value) else { throw Problem.invalidParameter("limit must be 1–200") }
        return value
    }
}

extension PageBody {
    /// The store's page as the API returns it.
    init(_ page: Page<Item>) {
        self.init(items: page.items, nextCursor: page.next)
    }
}

enum JSON {
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    /// The bytes of a response body.
    static func body(_ value: any Encodable & Sendable) throws -> Data { try encoder.encode(value) }

    static func response(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        response(body: try encoder.encode(value), status: status)
    }

    static func response(body: Data, status: HTTPResponse.Status) -> Response {
        response(body: ByteBuffer(bytes: body), status: status)
    }

    static func response(body: ByteBuffer, status: HTTPResponse.Status = .ok) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: body))
    }
}

/// The HTTP side of a request run once per `Idempotency-Key`: the use cases run it (`KeyedRequests`), storing the first
/// run's response in the same transaction as its effects; a replay with the same method, path and body gets that
/// response and moves nothing; the same key with a different request gets 409.
struct IdempotentRequests: Sendable {
    /// The request as the use cases take it: its key (400 without one), owner, token and digest.
    /// The request of a route that reads no body, digested with the body as sent, as every keyed request is (and as a
    /// defunct institution's replay is looked up).
    func keyed(_ request: Request, principal: Principal, status: HTTPResponse.Status = .created) async throws -> KeyedRequest {
        try keyed(request, body: try await request.collectBody(upTo: RequestBodyLimit.jsonBytes), principal: principal, status: status)
    }

    func keyed(_ request: Request, body: ByteBuffer, principal: Principal, status: HTTPResponse.Status = .created) throws -> KeyedRequest {
        guard let key = request.idempotencyKey else { throw Problem.idempotencyKeyRequired }
        var hasher = SHA256()
        hasher.update(data: Data("\(request.method.rawValue) \(request.uri.path)\n".utf8))
        hasher.update(data: Data(buffer: body))
        return KeyedRequest(
            owner: principal.entity.idempotencyOwner, principal: principal.id, key: key, digest: Data(hasher.finalize()),
            status: Int(status.code))
    }

    /// Answers with the stored response a keyed use case returns (its refusals are `KeyedRequestRefusal` problems).
    func respond(_ useCase: () async throws -> StoredResponse) async throws -> Response {
        let stored = try await useCase()
        return JSON.response(body: stored.body, status: HTTPResponse.Status(code: stored.status))
    }
}
