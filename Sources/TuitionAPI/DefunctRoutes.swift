import Foundation
import Hummingbird
import TuitionCore
import TuitionStore
import TuitionWire

// MARK: Defunct fast-track

func addDefunctRoutes(to router: Router<AppRequestContext>, services: Services) {
    let v1 = router.group("v1")

    // The regulator marks an institution of its district defunct: the institution is frozen at once, and the fast-track
    // starts in the background; its progress is `GET /v1/defunct-cases/{id}`.
    v1.post("institutions/:id/defunct") { request, context in
        guard case .regulator(let district) = try context.principal(.regulator).entity else { throw Problem.roleNotPermitted }
        let institution: Institution.ID = try context.parameters.id("id")
        let (body, _) = try await request.decodeJSON(DefunctMarkBody.self, context: context)
        let marked = try await services.defunct.mark(
            institution, district: district.value, effectiveAt: body.effectiveAt, reason: body.reason)
        services.fastTrack.start(marked.id)
        return try JSON.response(marked, status: .accepted)
    }
    v1.get("defunct-cases") { request, context in
        return try JSON.response(PageBody(try await services.defunct.cases(scope: try context.scope, page: try request.pageRequest())))
    }
    v1.get("defunct-cases/:id") { _, context in
        guard let found = try await services.defunct.defunctCase(try context.parameters.id("id"), scope: try context.scope) else {
            throw Problem.notFound
        }
        return try JSON.response(found)
    }
    // Each enrollment's waterfall: the regulator and the institution see all, a guardian its own.
    v1.get("defunct-cases/:id/settlements") { request, context in
        let status = try request.option("status", as: SettlementStatus.self)
        guard
            let page = try await services.defunct.settlements(
                of: try context.parameters.id("id"), scope: try context.scope, status: status, page: try request.pageRequest())
        else { throw Problem.notFound }
        return try JSON.response(PageBody(page))
    }
}
