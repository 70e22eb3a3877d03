import Foundation
import Hummingbird
import NIOCore
import TuitionCore
import TuitionStore
import TuitionUseCases
import TuitionWire

/// Claims: a guardian files one and the automatic checks run at once; the insurer decides it (the district's regulator
/// may decide a referred one, with a reason) and pays it.
struct ClaimController {
    let services: Services

    func addRoutes(to v1: RouterGroup<AppRequestContext>) {
        v1.post("claims", use: file)
        v1.get("claims", use: list)
        v1.get("claims/:id", use: show)
        v1.post("claims/:id/approval", use: approve)
        v1.post("claims/:id/rejection", use: reject)
        v1.post("claims/:id/payment", use: pay)
    }

    func file(_ request: Request, context: AppRequestContext) async throws -> Response {
        let principal = try context.principal(.guardian)
        let guardian = try principal.guardian()
        let (body, raw) = try await request.decodeJSON(NewClaim.self, context: context)
        try checkAmount(body.claimedFen, atMost: PlatformLimits.claimMaximum)
        let keyed = try services.idempotent.keyed(request, body: raw, principal: principal)
        return try await services.idempotent.respond {
            try await services.money.fileClaim(body, guardian: guardian, request: keyed, encode: JSON.body)
        }
    }

    func list(_ request: Request, context: AppRequestContext) async throws -> Response {
        let status = try request.option("status", as: ClaimStatus.self)
        let page = try await services.claims.claims(scope: try context.scope, status: status, page: try request.pageRequest())
        return try JSON.response(PageBody(page))
    }

    func show(_ request: Request, context: AppRequestContext) async throws -> Response {
        try JSON.response(try await services.claims.claim(try context.parameters.id("id"), scope: try context.scope).orNotFound())
    }

    func approve(_ request: Request, context: AppRequestContext) async throws -> Response {
        let id: Claim.ID = try context.parameters.id("id")
        let (body, _) = try await request.decodeJSON(ApprovalBody.self, context: context)
        let reason = try body.reason.map { try validText($0, maxScalars: 1_000) }
        switch try context.principal().entity {
        case .insurer(let insurer):
            return try JSON.response(try await services.claims.approve(id, insurer: insurer, amount: body.amountFen, reason: reason))
        case .regulator(let district):
            return try JSON.response(try await services.claims.approve(id, regulator: district, amount: body.amountFen, reason: reason))
        default:
            throw Problem.roleNotPermitted
        }
    }

    func reject(_ request: Request, context: AppRequestContext) async throws -> Response {
        let insurer = try context.insurer()
        let id: Claim.ID = try context.parameters.id("id")
        let (body, _) = try await request.decodeJSON(ClaimRejectionBody.self, context: context)
        let reason = try validFreeText(body.reason, maxScalars: 1_000)
        return try JSON.response(try await services.claims.reject(id, insurer: insurer, reason: reason))
    }

    /// Paying moves money: an Idempotency-Key is required, and paying a paid claim moves nothing either way.
    func pay(_ request: Request, context: AppRequestContext) async throws -> Response {
        let principal = try context.principal(.insurer)
        let insurer = try principal.insurer()
        let id: Claim.ID = try context.parameters.id("id")
        let keyed = try await services.idempotent.keyed(request, principal: principal, status: .ok)
        return try await services.idempotent.respond {
            try await services.money.payClaim(id, insurer: insurer, request: keyed, encode: JSON.body)
        }
    }
}
