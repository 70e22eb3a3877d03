import Foundation
import HTTPTypes
import Hummingbird
import TuitionCore
import TuitionStore
import TuitionWire

extension TokenIssued {
    init(_ issued: IssuedToken) {
        self.init(
            principalId: issued.principal.id.uuidString.lowercased(), role: issued.principal.role,
            entityId: issued.principal.entity.entityId, token: issued.token, expiresAt: issued.expiresAt)
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

    /// Every token of the caller's own entity, and for a regulator every token of its district (never the tokens
    /// themselves).
    func tokens(_ request: Request, context: AppRequestContext) async throws -> Response {
        let principal = try context.principal()
        return try JSON.response(PageBody(try await services.principals.tokens(visibleTo: principal, page: try request.pageRequest())))
    }

    /// A holder revokes any token of its own entity; the regulator any token of its district. Anyone else's is 404.
    func revoke(_ request: Request, context: AppRequestContext) async throws -> Response {
        let principal = try context.principal()
        _ = try await services.principals.revoke(try context.parameters.principalID(), by: principal).orNotFound()
        return Response(status: .noContent)
    }

    /// A new token for the same entity; the old one stops working in the same transaction.
    func rotate(_ request: Request, context: AppRequestContext) async throws -> Response {
        let principal = try context.principal()
        return try TokenIssued(try await services.principals.rotate(try context.parameters.principalID(), by: principal).orNotFound())
            .response
    }
}

extension Parameters {
    /// A principal's id from the path; a malformed id is 404 like an unknown one.
    func principalID() throws -> UUID {
        guard let text = get("id"), let id = UUID(uuidString: text) else { throw Problem.notFound }
        return id
    }
}
