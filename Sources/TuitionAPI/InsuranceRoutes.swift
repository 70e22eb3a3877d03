import Foundation
import Hummingbird
import NIOCore
import TuitionCore
import TuitionStore
import TuitionUseCases
import TuitionWire

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

    // The insurer proposes a risk-control policy to an institution; nothing is charged or counted until the
    // institution accepts it (and pays the premium from its bank).
    v1.post("policy-proposals") { request, context in
        guard case .insurer(let insurer) = try context.principal(.insurer).entity else { throw Problem.roleNotPermitted }
        let (body, _) = try await request.decodeJSON(NewRiskPolicy.self, context: context)
        return try JSON.response(try await services.insurance.proposeRiskPolicy(body, insurer: insurer), status: .created)
    }
    v1.get("policy-proposals") { request, context in
        try JSON.response(
            PageBody(try await services.insurance.riskPolicyProposals(scope: try context.scope, page: try request.pageRequest())))
    }
    v1.get("policy-proposals/:id") { _, context in
        guard let proposal = try await services.insurance.riskPolicyProposal(try context.parameters.id("id"), scope: try context.scope)
        else { throw Problem.notFound }
        return try JSON.response(proposal)
    }
    v1.post("policy-proposals/:id/acceptance") { request, context in
        let principal = try context.principal(.institution)
        guard case .institution(let institution) = principal.entity else { throw Problem.roleNotPermitted }
        let id: Policy.ID = try context.parameters.id("id")
        // A risk-control policy may stand in for the reserve and ends the expiry warning: the use case re-evaluates.
        let keyed = try services.idempotent.keyed(request, body: ByteBuffer(), principal: principal)
        return try await services.idempotent.respond {
            try await services.money.acceptRiskPolicy(
                id, institution: institution, premiumKey: request.transferKey("premium", principal: principal), request: keyed,
                encode: JSON.body)
        }
    }
    v1.post("policy-proposals/:id/rejection") { _, context in
        guard case .institution(let institution) = try context.principal(.institution).entity else { throw Problem.roleNotPermitted }
        return try JSON.response(try await services.insurance.rejectRiskPolicy(try context.parameters.id("id"), institution: institution))
    }
    // The guardian buys a tuition policy for its paid enrollment and pays the premium from its bank.
    v1.post("enrollments/:id/tuition-policies") { request, context in
        let principal = try context.principal(.guardian)
        guard case .guardian(let guardian) = principal.entity else { throw Problem.roleNotPermitted }
        let id: Enrollment.ID = try context.parameters.id("id")
        let (body, raw) = try await request.decodeJSON(NewTuitionPolicy.self, context: context)
        return try await services.idempotent.run(request, body: raw, principal: principal) { connection in
            try await services.insurance.buyTuitionPolicy(
                body, enrollment: id, guardian: guardian, key: request.transferKey("premium", principal: principal),
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
