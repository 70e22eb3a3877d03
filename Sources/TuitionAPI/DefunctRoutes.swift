import Foundation
import Hummingbird
import TuitionCore
import TuitionStore
import TuitionWire

/// The defunct fast-track: the regulator marks an institution of its district defunct, the institution is frozen at once
/// and the fast-track starts in the background; its progress is `GET /v1/defunct-cases/{id}`.
struct DefunctController {
    let services: Services

    func addRoutes(to v1: RouterGroup<AppRequestContext>) {
        v1.post("institutions/:id/defunct", use: mark)
        v1.get("defunct-cases", use: cases)
        v1.get("defunct-cases/:id", use: defunctCase)
        v1.get("defunct-cases/:id/settlements", use: settlements)
    }

    func mark(_ request: Request, context: AppRequestContext) async throws -> Response {
        let district = try context.regulatorDistrict()
        let institution: Institution.ID = try context.parameters.id("id")
        let (body, _) = try await request.decodeJSON(DefunctMarkBody.self, context: context)
        let marked = try await services.defunct.mark(
            institution, district: district.value, effectiveAt: body.effectiveAt, reason: body.reason)
        services.fastTrack.start(marked.id)
        return try JSON.response(marked, status: .accepted)
    }

    func cases(_ request: Request, context: AppRequestContext) async throws -> Response {
        try JSON.response(PageBody(try await services.defunct.cases(scope: try context.scope, page: try request.pageRequest())))
    }

    func defunctCase(_ request: Request, context: AppRequestContext) async throws -> Response {
        try JSON.response(try await services.defunct.defunctCase(try context.parameters.id("id"), scope: try context.scope).orNotFound())
    }

    /// Each enrollment's waterfall: the regulator and the institution see all, a guardian its own.
    func settlements(_ request: Request, context: AppRequestContext) async throws -> Response {
        let status = try request.option("status", as: SettlementStatus.self)
        let page = try await services.defunct.settlements(
            of: try context.parameters.id("id"), scope: try context.scope, status: status, page: try request.pageRequest())
        return try JSON.response(PageBody(try page.orNotFound()))
    }
}
