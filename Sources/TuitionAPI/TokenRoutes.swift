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

// MARK: Token lifecycle: list, revoke, rotate

func addTokenRoutes(to router: Router<AppRequestContext>, services: Services) {
    let v1 = router.group("v1")

    // The caller's own token, and for a regulator every token of its district (never the tokens themselves).
    v1.get("tokens") { request, context in
        let principal = try context.principal()
        return try JSON.response(PageBody(try await services.principals.tokens(visibleTo: principal, page: try request.pageRequest())))
    }
    // The holder revokes its own token; the regulator any token of its district. Anyone else's is 404.
    v1.delete("tokens/:id") { _, context in
        let principal = try context.principal()
        guard try await services.principals.revoke(try context.parameters.principalID(), by: principal) != nil else {
            throw Problem.notFound
        }
        return Response(status: .noContent)
    }
    // A new token for the same entity; the old one stops working in the same transaction.
    v1.post("tokens/:id/rotation") { _, context in
        let principal = try context.principal()
        guard let issued = try await services.principals.rotate(try context.parameters.principalID(), by: principal) else {
            throw Problem.notFound
        }
        return try TokenIssued(issued).response
    }
}

extension Parameters {
    /// A principal's id from the path; a malformed id is 404 like an unknown one.
    func principalID() throws -> UUID {
        guard let text = get("id"), let id = UUID(uuidString: text) else { throw Problem.notFound }
        return id
    }
}
