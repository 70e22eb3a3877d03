import Foundation
import HTTPTypes
import Testing
import TuitionCore
import TuitionStore
import TuitionTestSupport

@Suite struct InsuranceAPITests {
    func premiumCount(_ api: API) async throws -> Int {
        for try await count in try await api.store.query("SELECT count(*)::int FROM transfers WHERE kind = 'premium'").decode(Int.self) {
            return count
        }
        return -1
    }

    @Test func insurersIssueRiskPoliciesAndGuardiansBuyTuitionPolicies() async throws {
        try await API.run("insflow") { api, _ in
            let cast = try await Cast.make(api)
            let today = BusinessDate(shanghaiDateOf: Date())
            let premiumsBefore = try await premiumCount(api)

            let product = try await api.call(
                .post, "/v1/insurance-products", token: cast.insurer,
                json: #"{"kind":"institution_risk","premiumRateBasisPoints":120,"coveredShareBasisPoints":9000,"limitFen":100000000}"#)
            #expect(product.status == .created && product.string("kind") == "institution_risk" && product.int("limitFen") == 100_000_000)
            let productID = product.string("id")

            // Every role reads the offers; the filter narrows them.
            for (role, token) in cast.tokens {
                let listed = try await api.call(.get, "/v1/insurance-products", token: token)
                #expect(listed.status == .ok && listed.items.count == 3, "\(role): \(listed.body)")
            }
            #expect(try await api.call(.get, "/v1/insurance-products?kind=student_tuition", token: cast.guardian).items.count == 1)

            let risk = """
                {"productId":"\(productID)","institutionId":"\(cast.world.institution.id)","sumInsuredFen":5000001,
                 "periodStart":"\(today)","periodEnd":"\(today.addingMonths(12))"}
                """
            // The insurer proposes: nothing is charged and the institution holds no policy until it accepts.
            let proposed = try await api.call(.post, "/v1/policy-proposals", token: cast.insurer, json: risk)
            #expect(proposed.status == .created && proposed.string("status") == "proposed", "\(proposed.body)")
            // 5,000,001 × 120 / 10,000 = 60,000.012: rounded up to the fen.
            #expect(proposed.int("premiumFen") == 60_001)
            #expect(try await premiumCount(api) == premiumsBefore)
            #expect(try await api.call(.get, "/v1/policies", token: cast.institution).items.isEmpty)
            let proposalID = proposed.string("id")
            #expect(try await api.call(.get, "/v1/policy-proposals/\(proposalID)", token: cast.institution).string("status") == "proposed")
            let acceptance = "/v1/policy-proposals/\(proposalID)/acceptance"
            let issued = try await api.call(.post, acceptance, token: cast.institution, idempotencyKey: "risk-1")
            #expect(issued.status == .created, "\(issued.body)")
            #expect(
                issued.int("premiumFen") == 60_001 && issued.string("status") == "active" && issued.string("kind") == "institution_risk")
            #expect(issued.json["enrollmentId"] == nil && issued.int("remainingFen") == 5_000_001 && issued.string("id") == proposalID)
            let replay = try await api.call(.post, acceptance, token: cast.institution, idempotencyKey: "risk-1")
            #expect(replay.status == .created && replay.body == issued.body)
            let twice = try await api.call(.post, acceptance, token: cast.institution, idempotencyKey: "risk-2")
            #expect(twice.status == .conflict && twice.code == "proposal_not_open")
            #expect(try await premiumCount(api) == premiumsBefore + 1)
            let riskID = issued.string("id")

            // The institution sees the policy insuring it and its premium among its transfers.
            let seenByInstitution = try await api.call(.get, "/v1/policies", token: cast.institution)
            #expect(seenByInstitution.items.compactMap { $0["id"] as? String } == [riskID])
            #expect(try await api.call(.get, "/v1/policies/\(riskID)", token: cast.institution).status == .ok)
            let transfers = try await api.call(
                .get, "/v1/institutions/\(cast.world.institution.id)/transfers?limit=200", token: cast.institution)
            #expect(transfers.items.contains { $0["kind"] as? String == "premium" && ($0["amountFen"] as? Int) == 60_001 })

            // The guardian buys a tuition policy on a second, paid enrollment.
            let second = try await cast.world.anotherEnrollment(api.store, lessons: 10)
            let paid = try await api.call(
                .post, "/v1/enrollments/\(second.id)/payments", token: cast.guardian, json: "{\"amountFen\":\(second.amountFen.fen)}",
                idempotencyKey: "pay-2")
            #expect(paid.status == .created)
            let tuition = try await api.call(.get, "/v1/insurance-products?kind=student_tuition", token: cast.guardian).items.first?["id"]
            let buy = """
                {"productId":"\(tuition as? String ?? "")","sumInsuredFen":\(second.amountFen.fen),
                 "periodStart":"\(today)","periodEnd":"\(today.addingMonths(3))"}
                """
            let bought = try await api.call(
                .post, "/v1/enrollments/\(second.id)/tuition-policies", token: cast.guardian, json: buy, idempotencyKey: "tuition-1")
            #expect(bought.status == .created && bought.string("enrollmentId") == second.id.description, "\(bought.body)")
            // 80,000 × 200 / 10,000 = 1,600.
            #expect(bought.int("premiumFen") == 1_600 && bought.string("guardianId") == cast.world.guardian.description)
            let again = try await api.call(
                .post, "/v1/enrollments/\(second.id)/tuition-policies", token: cast.guardian, json: buy, idempotencyKey: "tuition-2")
            #expect(again.status == .conflict && again.code == "enrollment_already_insured")
            #expect(try await premiumCount(api) == premiumsBefore + 2)

            let guardianSees = Set(
                try await api.call(.get, "/v1/policies", token: cast.guardian).items.compactMap { $0["id"] as? String })
            // Its tuition policies, and the risk-control policy insuring its institution (which it may claim on); a
            // guardian with no enrollment there sees neither.
            #expect(guardianSees == [cast.policy.description, bought.string("id"), riskID])
            #expect(try await api.call(.get, "/v1/policies/\(riskID)", token: cast.guardian).status == .ok)
            let stranger = try await api.call(.post, "/v1/guardians", json: #"{"name":"路人"}"#).string("token")
            #expect(try await api.call(.get, "/v1/policies", token: stranger).items.isEmpty)
            #expect(try await api.call(.get, "/v1/policies/\(riskID)", token: stranger).status == .notFound)
            let insurerSees = try await api.call(.get, "/v1/policies", token: cast.insurer).items.count
            let regulatorSees = try await api.call(.get, "/v1/policies", token: cast.regulator).items.count
            #expect(insurerSees == 3 && regulatorSees == 3)
            #expect(try await api.call(.get, "/v1/policies/\(bought.string("id"))", token: cast.institution).status == .notFound)
            #expect(try await auditBreaches(api.store) == [])
            #expect(try await LedgerLogReconciliation(store: api.store).breaches() == [])
        }
    }

    @Test func badInsuranceInputGetsAProblemAndNeverA500() async throws {
        try await API.run("insbad") { api, _ in
            let cast = try await Cast.make(api)
            let today = BusinessDate(shanghaiDateOf: Date())
            let enrollment = cast.world.enrollment.id
            let unpaid = try await cast.world.anotherEnrollment(api.store, lessons: 5)
            func risk(_ product: InsuranceProduct.ID, sum: String = "100000", start: String? = nil, end: String? = nil) -> String {
                """
                {"productId":"\(product)","institutionId":"\(cast.world.institution.id)","sumInsuredFen":\(sum),
                 "periodStart":"\(start ?? today.description)","periodEnd":"\(end ?? today.addingMonths(12).description)"}
                """
            }
            func tuition(_ product: InsuranceProduct.ID, sum: String = "1000", start: String? = nil) -> String {
                """
                {"productId":"\(product)","sumInsuredFen":\(sum),"periodStart":"\(start ?? today.description)",
                 "periodEnd":"\(today.addingMonths(3))"}
                """
            }
            let cases: [(String, HTTPRequest.Method, String, String, String?, String?, Int, String)] = [
                (
                    "product rate out of range", .post, "/v1/insurance-products", cast.insurer,
                    #"{"kind":"student_tuition","premiumRateBasisPoints":0}"#, nil, 422, "premium_rate_invalid"
                ),
                (
                    "risk product without a limit", .post, "/v1/insurance-products", cast.insurer,
                    #"{"kind":"institution_risk","premiumRateBasisPoints":100,"coveredShareBasisPoints":5000}"#, nil, 422,
                    "coverage_terms_invalid"
                ),
                (
                    "unknown product kind", .post, "/v1/insurance-products", cast.insurer,
                    #"{"kind":"life","premiumRateBasisPoints":100}"#, nil, 400, "malformed_body"
                ),
                (
                    "product by a guardian", .post, "/v1/insurance-products", cast.guardian,
                    #"{"kind":"student_tuition","premiumRateBasisPoints":100}"#, nil, 403, "role_not_permitted"
                ),
                ("unknown kind filter", .get, "/v1/insurance-products?kind=life", cast.guardian, nil, nil, 400, "invalid_parameter"),
                (
                    "acceptance without a key", .post, "/v1/policy-proposals/\(UUID())/acceptance", cast.institution, nil, nil, 400,
                    "idempotency_key_required"
                ),
                (
                    "acceptance of an unknown proposal", .post, "/v1/policy-proposals/\(UUID())/acceptance", cast.institution, nil, "b0",
                    404, "not_found"
                ),
                (
                    "acceptance by the insurer", .post, "/v1/policy-proposals/\(UUID())/acceptance", cast.insurer, nil, "b0", 403,
                    "role_not_permitted"
                ),
                (
                    "policy by an institution", .post, "/v1/policy-proposals", cast.institution, risk(cast.riskProduct), "b1", 403,
                    "role_not_permitted"
                ),
                (
                    "sum insured above the limit", .post, "/v1/policy-proposals", cast.insurer, risk(cast.riskProduct, sum: "100000001"),
                    "b2", 422,
                    "sum_insured_exceeds_cover"
                ),
                (
                    "risk policy on a tuition product", .post, "/v1/policy-proposals", cast.insurer, risk(cast.tuitionProduct), "b3", 422,
                    "insured_does_not_match_product"
                ),
                (
                    "period ending before it starts", .post, "/v1/policy-proposals", cast.insurer,
                    risk(cast.riskProduct, end: today.addingDays(-1).description), "b4", 422, "policy_period_invalid"
                ),
                (
                    "backdated risk policy", .post, "/v1/policy-proposals", cast.insurer,
                    risk(cast.riskProduct, start: today.addingDays(-10).description), "b5", 422, "policy_starts_in_the_past"
                ),
                (
                    "malformed date", .post, "/v1/policy-proposals", cast.insurer, risk(cast.riskProduct, start: "2026-02-30"), "b6", 400,
                    "malformed_body"
                ),
                (
                    "overflowing sum", .post, "/v1/policy-proposals", cast.insurer, risk(cast.riskProduct, sum: "9223372036854775808"),
                    "b7", 400,
                    "malformed_body"
                ),
                (
                    "unknown product", .post, "/v1/policy-proposals", cast.insurer, risk(.init(UUID())), "b8", 404, "not_found"
                ),
                (
                    "tuition policy on an unpaid enrollment", .post, "/v1/enrollments/\(unpaid.id)/tuition-policies", cast.guardian,
                    tuition(cast.tuitionProduct), "b9", 422, "enrollment_not_paid"
                ),
                (
                    "tuition policy on a risk product", .post, "/v1/enrollments/\(enrollment)/tuition-policies", cast.guardian,
                    tuition(cast.riskProduct), "b10", 422, "insured_does_not_match_product"
                ),
                (
                    "negative sum insured", .post, "/v1/enrollments/\(enrollment)/tuition-policies", cast.guardian,
                    tuition(cast.tuitionProduct, sum: "-5"), "b11", 422, "amount_must_be_positive"
                ),
                (
                    "second tuition policy", .post, "/v1/enrollments/\(enrollment)/tuition-policies", cast.guardian,
                    tuition(cast.tuitionProduct), "b12", 409, "enrollment_already_insured"
                ),
                (
                    "tuition policy by an insurer", .post, "/v1/enrollments/\(enrollment)/tuition-policies", cast.insurer,
                    tuition(cast.tuitionProduct), "b13", 403, "role_not_permitted"
                ),
                (
                    "unknown enrollment", .post, "/v1/enrollments/\(UUID())/tuition-policies", cast.guardian, tuition(cast.tuitionProduct),
                    "b14", 404, "not_found"
                ),
                ("malformed policy id", .get, "/v1/policies/nope", cast.insurer, nil, nil, 404, "not_found"),
                ("unknown policy", .get, "/v1/policies/\(UUID())", cast.insurer, nil, nil, 404, "not_found"),
                ("policies without a token", .get, "/v1/policies", "", nil, nil, 401, "unauthenticated"),
            ]
            let premiums = try await premiumCount(api)
            for (name, method, path, token, json, key, status, code) in cases {
                let reply = try await api.call(method, path, token: token.isEmpty ? nil : token, json: json, idempotencyKey: key)
                #expect(Int(reply.status.code) == status && reply.code == code, "\(name): \(reply.status) \(reply.body)")
                #expect(reply.contentType == "application/problem+json", "\(name)")
            }
            // The sum insured may not exceed what was paid (the cast's enrollment is insured already: use a fresh one).
            let fresh = try await cast.world.anotherEnrollment(api.store, lessons: 2)
            _ = try await api.store.transaction {
                try await EnrollmentRepository(store: api.store).pay(
                    fresh.id, guardian: cast.world.guardian, amount: fresh.amountFen, on: $0)
            }
            let above = try await api.call(
                .post, "/v1/enrollments/\(fresh.id)/tuition-policies", token: cast.guardian,
                json: tuition(cast.tuitionProduct, sum: "\(fresh.amountFen.fen + 1)"), idempotencyKey: "b15")
            #expect(above.status == .unprocessableContent && above.code == "sum_insured_exceeds_cover", "\(above.body)")
            #expect(try await premiumCount(api) == premiums)
            #expect(try await auditBreaches(api.store) == [])
            #expect(try await LedgerLogReconciliation(store: api.store).breaches() == [])
        }
    }
}

extension InsuranceAPITests {
    @Test func concurrentRequestsWithOneKeyMoveThePremiumOnce() async throws {
        try await API.run("insconcurrent") { api, _ in
            let cast = try await Cast.make(api)
            let today = BusinessDate(shanghaiDateOf: Date())
            let before = try await premiumCount(api)
            let risk = """
                {"productId":"\(cast.riskProduct)","institutionId":"\(cast.world.institution.id)","sumInsuredFen":300000,
                 "periodStart":"\(today)","periodEnd":"\(today.addingMonths(6))"}
                """
            let proposal = try await api.call(.post, "/v1/policy-proposals", token: cast.insurer, json: risk).string("id")
            // Two tokens of the one institution: the key belongs to the institution, not to either token.
            let secondToken = try await api.token(for: .institution(cast.world.institution.id))
            let replies = try await withThrowingTaskGroup(of: Reply.self) { group in
                for index in 0..<8 {
                    group.addTask {
                        try await api.call(
                            .post, "/v1/policy-proposals/\(proposal)/acceptance", token: index % 2 == 0 ? cast.institution : secondToken,
                            idempotencyKey: "same")
                    }
                }
                var replies: [Reply] = []
                for try await reply in group { replies.append(reply) }
                return replies
            }
            #expect(replies.allSatisfy { $0.status == .created }, "\(replies.map(\.body))")
            #expect(Set(replies.map(\.body)).count == 1)
            #expect(try await premiumCount(api) == before + 1)
            #expect(try await auditBreaches(api.store) == [])
            #expect(try await LedgerLogReconciliation(store: api.store).breaches() == [])
        }
    }
}
