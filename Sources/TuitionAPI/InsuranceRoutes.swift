import Foundation
import Hummingbird
import NIOCore
import TuitionCore
import TuitionStore
import TuitionUseCases
import TuitionWire

/// Insurance: insurers offer products, propose risk-control policies to institutions (nothing is charged or counted
/// until the institution accepts and pays the premium from its bank), and guardians buy tuition policies.
struct InsuranceController {
    let services: Services

    func addRoutes(to v1: RouterGroup<AppRequestContext>) {
        v1.post("insurance-products", use: createProduct)
        v1.get("insurance-products", use: products)
        v1.post("policy-proposals", use: proposeRiskPolicy)
        v1.get("policy-proposals", use: proposals)
        v1.get("policy-proposals/:id", use: proposal)
        v1.post("policy-proposals/:id/acceptance", use: acceptRiskPolicy)
        v1.post("policy-proposals/:id/rejection", use: rejectRiskPolicy)
        v1.post("enrollments/:id/tuition-policies", use: buyTuitionPolicy)
        v1.get("policies", use: policies)
        v1.get("policies/:id", use: policy)
    }

    func createProduct(_ request: Request, context: AppRequestContext) async throws -> Response {
        let insurer = try context.insurer()
        let (body, _) = try await request.decodeJSON(NewInsuranceProduct.self, context: context)
        return try JSON.response(try await services.insurance.createProduct(body, insurer: insurer), status: .created)
    }

    /// Products are offers: any authenticated principal reads them all.
    func products(_ request: Request, context: AppRequestContext) async throws -> Response {
        _ = try context.principal()
        let kind = try request.option("kind", as: InsuranceProductKind.self)
        return try JSON.response(PageBody(try await services.insurance.products(kind: kind, page: try request.pageRequest())))
    }

    func proposeRiskPolicy(_ request: Request, context: AppRequestContext) async throws -> Response {
        let insurer = try context.insurer()
        let (body, _) = try await request.decodeJSON(NewRiskPolicy.self, context: context)
        return try JSON.response(try await services.insurance.proposeRiskPolicy(body, insurer: insurer), status: .created)
    }

    func proposals(_ request: Request, context: AppRequestContext) async throws -> Response {
        try JSON.response(
            PageBody(try await services.insurance.riskPolicyProposals(scope: try context.scope, page: try request.pageRequest())))
    }

    func proposal(_ request: Request, context: AppRequestContext) async throws -> Response {
        try JSON.response(
            try await services.insurance.riskPolicyProposal(try context.parameters.id("id"), scope: try context.scope).orNotFound())
    }

    /// A risk-control policy may stand in for the reserve and ends the expiry warning: the use case re-evaluates.
    func acceptRiskPolicy(_ request: Request, context: AppRequestContext) async throws -> Response {
        let principal = try context.principal(.institution)
        let institution = try principal.institution()
        let id: Policy.ID = try context.parameters.id("id")
        let keyed = try await services.idempotent.keyed(request, principal: principal)
        return try await services.idempotent.respond {
            try await services.money.acceptRiskPolicy(
                id, institution: institution, premiumKey: request.transferKey("premium", principal: principal), request: keyed,
                encode: JSON.body)
        }
    }

    func rejectRiskPolicy(_ request: Request, context: AppRequestContext) async throws -> Response {
        let institution = try context.institution()
        return try JSON.response(try await services.insurance.rejectRiskPolicy(try context.parameters.id("id"), institution: institution))
    }

    /// The guardian buys a tuition policy for its paid enrollment and pays the premium from its bank.
    func buyTuitionPolicy(_ request: Request, context: AppRequestContext) async throws -> Response {
        let principal = try context.principal(.guardian)
        let guardian = try principal.guardian()
        let id: Enrollment.ID = try context.parameters.id("id")
        let (body, raw) = try await request.decodeJSON(NewTuitionPolicy.self, context: context)
        let keyed = try services.idempotent.keyed(request, body: raw, principal: principal)
        return try await services.idempotent.respond {
            try await services.money.buyTuitionPolicy(
                body, enrollment: id, guardian: guardian, premiumKey: request.transferKey("premium", principal: principal),
                request: keyed, encode: JSON.body)
        }
    }

    func policies(_ request: Request, context: AppRequestContext) async throws -> Response {
        try JSON.response(PageBody(try await services.insurance.policies(scope: try context.scope, page: try request.pageRequest())))
    }

    func policy(_ request: Request, context: AppRequestContext) async throws -> Response {
        try JSON.response(try await services.insurance.policy(try context.parameters.id("id"), scope: try context.scope).orNotFound())
    }
}
