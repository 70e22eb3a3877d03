import Foundation
import Hummingbird
import NIOCore
import TuitionCore
import TuitionStore
import TuitionUseCases
import TuitionWire

// MARK: Claims

func addClaimRoutes(to router: Router<AppRequestContext>, services: Services) {
    let v1 = router.group("v1")

    // The guardian files a claim; the automatic checks run at once and their outcome is stored with it.
    v1.post("claims") { request, context in
        let principal = try context.principal(.guardian)
        guard case .guardian(let guardian) = principal.entity else { throw Problem.roleNotPermitted }
        let (body, raw) = try await request.decodeJSON(NewClaim.self, context: context)
        try checkAmount(body.claimedFen, atMost: PlatformLimits.claimMaximum)
        return try await services.idempotent.run(request, body: raw, principal: principal) { connection in
            try await services.claims.file(body, guardian: guardian, on: connection)
        }
    }
    v1.get("claims") { request, context in
        let status = try request.option("status", as: ClaimStatus.self)
        let page = try await services.claims.claims(scope: try context.scope, status: status, page: try request.pageRequest())
        return try JSON.response(PageBody(page))
    }
    v1.get("claims/:id") { _, context in
        guard let claim = try await services.claims.claim(try context.parameters.id("id"), scope: try context.scope) else {
            throw Problem.notFound
        }
        return try JSON.response(claim)
    }
    // The insurer decides its claims; the district's regulator may decide a referred one, with a reason.
    v1.post("claims/:id/approval") { request, context in
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
    v1.post("claims/:id/rejection") { request, context in
        guard case .insurer(let insurer) = try context.principal(.insurer).entity else { throw Problem.roleNotPermitted }
        let id: Claim.ID = try context.parameters.id("id")
        let (body, _) = try await request.decodeJSON(ClaimRejectionBody.self, context: context)
        let reason = try validFreeText(body.reason, maxScalars: 1_000)
        return try JSON.response(try await services.claims.reject(id, insurer: insurer, reason: reason))
    }
    // Paying moves money: an Idempotency-Key is required, and paying a paid claim moves nothing either way.
    v1.post("claims/:id/payment") { request, context in
        let principal = try context.principal(.insurer)
        guard case .insurer(let insurer) = principal.entity else { throw Problem.roleNotPermitted }
        let id: Claim.ID = try context.parameters.id("id")
        let keyed = try services.idempotent.keyed(request, body: ByteBuffer(), principal: principal, status: .ok)
        return try await services.idempotent.respond {
            try await services.money.payClaim(id, insurer: insurer, request: keyed, encode: JSON.body)
        }
    }
}
