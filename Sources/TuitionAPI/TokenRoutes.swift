import Foundation
import HTTPTypes
import Hummingbird
import TuitionCore
import TuitionStore

/// A token just issued: shown once, never cached.
struct TokenIssued: Codable, Sendable {
    let principalId: String
    let role: Role
    let entityId: String
    let token: String
    let expiresAt: Date

    init(_ issued: IssuedToken) {
        self.principalId = issued.principal.id.uuidString.lowercased()
        self.role = issued.principal.role
        self.entityId = issued.principal.entity.entityId
        self.token = issued.token
        self.expiresAt = issued.expiresAt
    }

    /// 201 with `Cache-Control: no-store`, so no cache between the client and us keeps the token.
    var response: Response {
        get throws {
            var response = try JSON.response(self, status: .created)
            response.headers[.cacheControl] = "no-store"
            return response
        }
    }
}

/// Token lifecycle: list, revoke, rotate.
struct TokenController {
    let services: Services

    func addRoutes(to v1: RouterGroup<AppRequestContext>) {
        v1.get("tokens", use: tokens)
        v1.delete("tokens/:id", use: revoke)
        v1.post("tokens/:id/rotation", use: rotate)
    }

    /// The caller's own token, and for a regulator every token of its district (never the tokens themselves).
    func tokens(_ request: Request, context: AppRequestContext) async throws -> Response {
        let principal = try context.principal()
        return try JSON.response(PageBody(try await services.principals.tokens(visibleTo: principal, page: try request.pageRequest())))
    }

    /// The holder revokes its own token; the regulator any token of its district. Anyone else's is 404.
    func revoke(_ request: Request, context: AppRequestContext) async throws -> Response {
        let principal = try context.principal()
        _ = try await services.principals.revoke(try context.parameters.principalID(), by: principal).orNotFound()
        return Response(status: .noContent)
    }

    /// A new token for the same entity; the old one stops working in the same transaction.
    func rotate(_ request: Request, context: AppRequestContext) async throws -> Response {
        let principal = try context.principal()
        return try TokenIssued(try await services.principals.rotate(try context.parameters.principalID(), by: principal).orNotFound()).response
    }
}

extension Parameters {
    /// A principal's id from the path; a malformed id is 404 like an unknown one.
    func principalID() throws -> UUID {
        guard let text = get("id"), let id = UUID(uuidString: text) else { throw Problem.notFound }
        return id
    }
}
