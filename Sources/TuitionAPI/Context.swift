import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdAuth
import NIOCore
import PostgresNIO
import TuitionCore
import TuitionStore

/// The request context: Hummingbird's core storage plus the principal the bearer token belongs to.
public struct AppRequestContext: AuthRequestContext, RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var identity: Principal?

    public init(source: Source) {
        self.coreContext = .init(source: source)
        self.identity = nil
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
}

/// Looks up the principal behind `Authorization: Bearer …`; requests without one go on unauthenticated.
struct TokenAuthenticator: AuthenticatorMiddleware {
    typealias Context = AppRequestContext
    let principals: PrincipalRepository

    func authenticate(request: Request, context: Context) async throws -> Principal? {
        guard let token = request.headers.bearerToken else { return nil }
        // An unknown token leaves the request unauthenticated: public routes still answer, the others say 401.
        guard token.count < 200 else { return nil }
        return try await principals.principal(forToken: token)
    }
}

extension Request {
    var idempotencyKey: String? {
        guard let key = headers[HTTPField.Name("Idempotency-Key")!], !key.isEmpty, key.utf8.count <= 200 else { return nil }
        return key
    }
}

extension Parameters {
    /// A typed id from the path; a malformed id is 404 like an unknown one.
    func id<Entity>(_ name: String, as type: Identifier<Entity>.Type = Identifier<Entity>.self) throws -> Identifier<Entity> {
        guard let text = get(name), let id = Identifier<Entity>(text) else { throw Problem.notFound }
        return id
    }
}

extension Request {
    /// `cursor` and `limit` from the query string.
    func pageRequest() throws -> PageRequest {
        let query = uri.queryParameters
        var after: UUID?
        if let cursor = query["cursor"], !cursor.isEmpty {
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
        guard let value = Int(text), (1...200).contains(value) else { throw Problem.invalidParameter("limit must be 1–200") }
        return value
    }
}

/// A page as the API returns it: `items` and the `nextCursor` to pass back, or null at the end.
struct PageBody<Item: Encodable & Sendable>: Encodable, Sendable {
    let items: [Item]
    let nextCursor: String?

    init(_ page: Page<Item>) {
        self.items = page.items
        self.nextCursor = page.next
    }

    init(items: [Item], nextCursor: String?) {
        self.items = items
        self.nextCursor = nextCursor
    }

    enum CodingKeys: CodingKey { case items, nextCursor }

    /// `nextCursor` is written as null at the end, not left out.
    func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(items, forKey: .items)
        try container.encode(nextCursor, forKey: .nextCursor)
    }
}

enum JSON {
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    static func response(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        response(body: try encoder.encode(value), status: status)
    }

    static func response(body: Data, status: HTTPResponse.Status) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}

/// Runs a money-moving request once per `Idempotency-Key`: the first run's response is stored in the same
/// transaction as its effects; a replay with the same method, path and body gets that response and moves nothing;
/// the same key with a different request gets 409.
struct IdempotentRequests: Sendable {
    let store: Store
    let repository: IdempotencyRepository

    func run(
        _ request: Request, body: ByteBuffer, principal: Principal, status: HTTPResponse.Status = .created,
        _ operation: (PostgresConnection) async throws -> any Encodable & Sendable
    ) async throws -> Response {
        guard let key = request.idempotencyKey else { throw Problem.idempotencyKeyRequired }
        var hasher = SHA256()
        hasher.update(data: Data("\(request.method.rawValue) \(request.uri.path)\n".utf8))
        hasher.update(data: Data(buffer: body))
        let digest = Data(hasher.finalize())
        let stored: StoredResponse = try await store.transaction { connection in
            switch try await repository.begin(principal: principal.id, key: key, requestDigest: digest, on: connection) {
            case .replay(let response): return response
            case .conflict: throw Problem.idempotencyKeyReused
            case .proceed:
                let result = try await operation(connection)
                let response = StoredResponse(status: Int(status.code), body: try JSON.encoder.encode(result))
                try await repository.finish(principal: principal.id, key: key, response: response, on: connection)
                return response
            }
        }
        return JSON.response(body: stored.body, status: HTTPResponse.Status(code: stored.status))
    }
}
