import Foundation
import Hummingbird
import TuitionCore
import TuitionStore

// MARK: Insurance products and policies

func addInsuranceRoutes(to router: Router<AppRequestContext>, services: Services) {
    let v1 = router.group("v1")

    v1.post("insurance-products") { request, context in
        guard case .insurer(let insurer) = try context.principal(.insurer).entity else { throw Problem.roleNotPermitted }
        let (body, _) = try await request.decodeJSON(NewInsuranceProduct.self, context: context)
        return try JSON.response(try await services.insurance.createProduct(body, insurer: insurer), status: .created)
    }
    // Products are offers: any authenticated principal reads them all.
    v1.get("insurance-products") { request, context in
        _ = try context.principal()
        let kind = try request.option("kind", as: InsuranceProductKind.self)
        return try JSON.response(PageBody(try await services.insurance.products(kind: kind, page: try request.pageRequest())))
    }

    // The insurer issues a risk-control policy for an institution, which pays the premium from its bank.
    v1.post("policies") { request, context in
        let principal = try context.principal(.insurer)
        guard case .insurer(let insurer) = principal.entity else { throw Problem.roleNotPermitted }
        let (body, raw) = try await request.decodeJSON(NewRiskPolicy.self, context: context)
        let response = try await services.idempotent.run(request, body: raw, principal: principal) { connection in
            try await services.insurance.issueRiskPolicy(
                body, insurer: insurer, key: "premium:\(principal.id):\(request.idempotencyKey ?? "")", on: connection)
        }
        // A risk-control policy stands in for the reserve and ends the expiry warning: re-evaluate at once.
        await evaluateAfterChange(of: body.institutionId, services: services, logger: context.logger)
        return response
    }
    // The guardian buys a tuition policy for its paid enrollment and pays the premium from its bank.
    v1.post("enrollments/:id/tuition-policies") { request, context in
        let principal = try context.principal(.guardian)
        guard case .guardian(let guardian) = principal.entity else { throw Problem.roleNotPermitted }
        let id: Enrollment.ID = try context.parameters.id("id")
        let (body, raw) = try await request.decodeJSON(NewTuitionPolicy.self, context: context)
        return try await services.idempotent.run(request, body: raw, principal: principal) { connection in
            try await services.insurance.buyTuitionPolicy(
                body, enrollment: id, guardian: guardian, key: "premium:\(principal.id):\(request.idempotencyKey ?? "")",
                on: connection)
        }
    }
    v1.get("policies") { request, context in
        try JSON.response(PageBody(try await services.insurance.policies(scope: try context.scope, page: try request.pageRequest())))
    }
    v1.get("policies/:id") { _, context in
        guard let policy = try await services.insurance.policy(try context.parameters.id("id"), scope: try context.scope) else {
            throw Problem.notFound
        }
        return try JSON.response(policy)
    }
}
