import Foundation
import HTTPTypes
import Testing
import TuitionCore
import TuitionStore
import TuitionTestSupport

@Suite struct ClaimAPITests {
    /// Payouts on claims the guardian filed (the cast's defunct case has its own, keyed `defunct:…`).
    func payoutCount(_ api: API) async throws -> Int {
        let rows = try await api.store.query(
            "SELECT count(*)::int FROM transfers WHERE kind = 'payout' AND idempotency_key NOT LIKE 'defunct:%'")
        for try await count in rows.decode(Int.self) {
            return count
        }
        return -1
    }

    @Test func eachRoleFollowsAClaimFromFilingToPayment() async throws {
        try await API.run("claimflow") { api, _ in
            let cast = try await Cast.make(api)
            let claim = "/v1/claims/\(cast.claim)"

            // The guardian files and follows; the cast's claim passed every check and waits for the insurer.
            let mine = try await api.call(.get, "/v1/claims", token: cast.guardian)
            #expect(mine.status == .ok && mine.items.count == 1 && mine.items.first?["status"] as? String == "verified", "\(mine.body)")
            #expect((mine.items.first?["checks"] as? [Any])?.count == ClaimCheck.allCases.count)
            let fresh = try await cast.world.anotherEnrollment(api.store, lessons: 4)
            _ = try await api.store.transaction {
                try await EnrollmentRepository(store: api.store).pay(
                    fresh.id, guardian: cast.world.guardian, amount: fresh.amountFen, on: $0)
            }
            // Another enrollment under the cast's tuition policy is not covered: a claim may name only a policy covering
            // the enrollment it is about, anything else is not found, and nothing is stored or queued (issue #11).
            let filed = try await api.call(
                .post, "/v1/claims", token: cast.guardian,
                json: #"{"enrollmentId":"\#(fresh.id)","policyId":"\#(cast.policy)","reason":"refund_refused","claimedFen":1000}"#,
                idempotencyKey: "c1")
            #expect(filed.status == .notFound && filed.code == "not_found", "\(filed.body)")

            // The insurer's queue holds the verified claim; institutions and regulators read it.
            let queue = try await api.call(.get, "/v1/claims?status=verified", token: cast.insurer)
            #expect(queue.items.map { $0["id"] as? String } == [cast.claim.description], "\(queue.body)")
            #expect(try await api.call(.get, "/v1/claims?status=paid", token: cast.insurer).items.isEmpty)
            for token in [cast.institution, cast.regulator] {
                #expect(try await api.call(.get, claim, token: token).string("status") == "verified")
                #expect(try await api.call(.get, "/v1/claims", token: token).items.count == 1)
            }
            let institutionApproves = try await api.call(.post, "\(claim)/approval", token: cast.institution, json: #"{"amountFen":1}"#)
            #expect(institutionApproves.status == .forbidden)

            // The insurer approves part, then pays; paying again, under any key, moves nothing more.
            let approved = try await api.call(.post, "\(claim)/approval", token: cast.insurer, json: #"{"amountFen":60000}"#)
            #expect(approved.status == .ok && approved.string("status") == "approved" && approved.int("approvedFen") == 60_000)
            let before = try await payoutCount(api)
            let paid = try await api.call(.post, "\(claim)/payment", token: cast.insurer, idempotencyKey: "p1")
            #expect(paid.status == .ok && paid.string("status") == "paid" && paid.int("paidFen") == 60_000, "\(paid.body)")
            let replay = try await api.call(.post, "\(claim)/payment", token: cast.insurer, idempotencyKey: "p1")
            #expect(replay.status == .ok && replay.body == paid.body)
            let again = try await api.call(.post, "\(claim)/payment", token: cast.insurer, idempotencyKey: "p2")
            #expect(again.status == .ok && again.string("status") == "paid")
            #expect(try await payoutCount(api) == before + 1)
            // An escrow-mode enrollment: the supervised account held the guardian's money and paid it all, so the
            // policy's sum insured is untouched.
            #expect(paid.int("paidFromEscrowFen") == 60_000)
            let policy = try await api.call(.get, "/v1/policies/\(cast.policy)", token: cast.guardian)
            #expect(policy.int("remainingFen") == policy.int("sumInsuredFen"))
            #expect(try await api.call(.get, claim, token: cast.guardian).string("status") == "paid")
            #expect(try await auditBreaches(api.store) == [])
            #expect(try await LedgerLogReconciliation(store: api.store).breaches() == [])
        }
    }

    @Test func badClaimInputGetsAProblemAndNeverA500() async throws {
        try await API.run("claimbad") { api, _ in
            let cast = try await Cast.make(api)
            let claim = "/v1/claims/\(cast.claim)"
            func file(_ fen: String = "1000", reason: String = "refund_refused", policy: String? = nil) -> String {
                """
                {"enrollmentId":"\(cast.world.enrollment.id)","policyId":"\(policy ?? cast.policy.description)","reason":"\(reason)",
                 "claimedFen":\(fen)}
                """
            }
            let cases: [(String, HTTPRequest.Method, String, String, String?, String?, Int, String)] = [
                ("claim without a key", .post, "/v1/claims", cast.guardian, file(), nil, 400, "idempotency_key_required"),
                ("claim of nothing", .post, "/v1/claims", cast.guardian, file("0"), "b1", 422, "amount_must_be_positive"),
                ("negative claim", .post, "/v1/claims", cast.guardian, file("-5"), "b2", 422, "amount_must_be_positive"),
                ("claimed as text", .post, "/v1/claims", cast.guardian, file(#""lots""#), "b3", 400, "malformed_body"),
                ("unknown reason", .post, "/v1/claims", cast.guardian, file(reason: "bored"), "b4", 400, "malformed_body"),
                ("malformed policy id", .post, "/v1/claims", cast.guardian, file(policy: "nope"), "b5", 400, "malformed_body"),
                ("unknown policy", .post, "/v1/claims", cast.guardian, file(policy: UUID().uuidString), "b6", 404, "not_found"),
                ("second open claim", .post, "/v1/claims", cast.guardian, file(), "b7", 409, "claim_already_open"),
                ("claim by an insurer", .post, "/v1/claims", cast.insurer, file(), "b8", 403, "role_not_permitted"),
                ("unknown status filter", .get, "/v1/claims?status=open", cast.insurer, nil, nil, 400, "invalid_parameter"),
                ("malformed claim id", .get, "/v1/claims/nope", cast.insurer, nil, nil, 404, "not_found"),
                ("unknown claim", .get, "/v1/claims/\(UUID())", cast.guardian, nil, nil, 404, "not_found"),
                (
                    "approval by the guardian", .post, "\(claim)/approval", cast.guardian, #"{"amountFen":1}"#, nil, 403,
                    "role_not_permitted"
                ),
                ("approval without an amount", .post, "\(claim)/approval", cast.insurer, "{}", nil, 400, "malformed_body"),
                (
                    "approval above the claim", .post, "\(claim)/approval", cast.insurer, #"{"amountFen":100001}"#, nil, 422,
                    "approval_exceeds_approvable"
                ),
                (
                    "approval of nothing", .post, "\(claim)/approval", cast.insurer, #"{"amountFen":0}"#, nil, 422,
                    "approval_exceeds_approvable"
                ),
                (
                    "rejection without a reason", .post, "\(claim)/rejection", cast.insurer, #"{"reason":"  "}"#, nil, 422,
                    "text_field_invalid"
                ),
                ("payment before approval", .post, "\(claim)/payment", cast.insurer, nil, "b9", 409, "claim_not_approved"),
                ("payment without a key", .post, "\(claim)/payment", cast.insurer, nil, nil, 400, "idempotency_key_required"),
                ("payment by the institution", .post, "\(claim)/payment", cast.institution, nil, "b10", 403, "role_not_permitted"),
                ("payment of an unknown claim", .post, "/v1/claims/\(UUID())/payment", cast.insurer, nil, "b11", 404, "not_found"),
                ("claims without a token", .get, "/v1/claims", "", nil, nil, 401, "unauthenticated"),
            ]
            for (name, method, path, token, json, key, status, code) in cases {
                let reply = try await api.call(method, path, token: token.isEmpty ? nil : token, json: json, idempotencyKey: key)
                #expect(Int(reply.status.code) == status && reply.code == code, "\(name): \(reply.status) \(reply.body)")
                #expect(reply.contentType == "application/problem+json", "\(name)")
            }
            // A rejected claim is decided: it can be neither approved nor rejected again.
            let rejected = try await api.call(.post, "\(claim)/rejection", token: cast.insurer, json: #"{"reason":"材料不全"}"#)
            #expect(rejected.status == .ok && rejected.string("status") == "rejected" && rejected.string("decisionReason") == "材料不全")
            let late = try await api.call(.post, "\(claim)/approval", token: cast.insurer, json: #"{"amountFen":1}"#)
            #expect(late.status == .conflict && late.code == "claim_not_awaiting_decision")
            #expect(try await payoutCount(api) == 0)
            #expect(try await auditBreaches(api.store) == [])
            #expect(try await LedgerLogReconciliation(store: api.store).breaches() == [])
        }
    }
}
