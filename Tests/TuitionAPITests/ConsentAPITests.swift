import Foundation
import HTTPTypes
import Testing
import TuitionCore
import TuitionStore
import TuitionTestSupport

/// Issue #11: an enrollment and a risk-control policy exist only with the consent of the party they bind; ids in
/// request bodies act only on the caller's own people and money.
@Suite struct ConsentAPITests {
    /// The same status and the same problem document (its keys in any order).
    func sameAnswer(_ a: Reply, _ b: Reply) -> Bool {
        a.status == b.status && NSDictionary(dictionary: a.json).isEqual(to: b.json)
    }

    func count(_ api: API, _ table: String) async throws -> Int {
        for try await count in try await api.store.query("SELECT count(*)::int FROM \(unescaped: table)").decode(Int.self) { return count }
        return -1
    }

    @Test func anInstitutionEnrolsNoStudentWithoutTheGuardiansAcceptance() async throws {
        try await API.run("consentorder") { api, _ in
            let cast = try await Cast.make(api)
            let world = cast.world
            let today = BusinessDate(shanghaiDateOf: Date())
            func order(student: String) -> String {
                """
                {"studentId":"\(student)","courseId":"\(world.course.id)","lessons":5,"termStart":"\(today)",
                 "termEnd":"\(today.addingMonths(1))"}
                """
            }
            // The old way in is closed, and answers the same whether the student exists or not: no oracle.
            let real = try await api.call(
                .post, "/v1/enrollments", token: cast.institution, json: order(student: world.student.id.description))
            let random = try await api.call(.post, "/v1/enrollments", token: cast.institution, json: order(student: UUID().uuidString))
            #expect(real.status == .forbidden && sameAnswer(real, random))

            // A proposal to the guardian's reference names no student; proposing to a reference that names no one
            // answers alike.
            let enrollmentsBefore = try await count(api, "enrollments")
            func propose(to guardian: String) async throws -> Reply {
                try await api.call(
                    .post, "/v1/enrollment-proposals", token: cast.institution,
                    json: """
                        {"guardianId":"\(guardian)","courseId":"\(world.course.id)","lessons":5,"termStart":"\(today)",
                         "termEnd":"\(today.addingMonths(1))"}
                        """)
            }
            let proposal = try await propose(to: world.guardian.description)
            let nobody = try await propose(to: UUID().uuidString.lowercased())
            #expect(proposal.status == .created && nobody.status == .created, "\(proposal.body)")
            #expect(proposal.string("status") == "proposed" && proposal.json["studentId"] == nil && proposal.int("amountFen") == 40_000)
            #expect(Set(proposal.json.keys) == Set(nobody.json.keys))
            #expect(!proposal.body.contains(world.student.id.description) && !proposal.body.contains("张"))
            let id = proposal.string("id")

            // Before acceptance: no enrollment, no live order, no contract.
            #expect(try await count(api, "enrollments") == enrollmentsBefore)
            #expect(try await api.call(.get, "/v1/enrollments/\(id)", token: cast.institution).status == .notFound)
            #expect(!(try await api.call(.get, "/v1/enrollments", token: cast.institution).body.contains(id)))
            #expect(!(try await api.call(.get, "/v1/enrollments", token: cast.guardian).body.contains(id)))
            let early = try await api.call(.post, "/v1/enrollments/\(id)/contract", token: cast.institution, json: "{}")
            #expect(early.status == .conflict && early.code == "enrollment_not_accepted", "\(early.body)")

            // The guardian sees what it is asked to agree to; another guardian does not, nor may it accept.
            #expect(try await api.call(.get, "/v1/enrollment-proposals/\(id)", token: cast.guardian).string("status") == "proposed")
            #expect(try await api.call(.get, "/v1/enrollment-proposals", token: cast.guardian).body.contains(id))
            let stranger = try await api.token(for: .guardian(try await PartyRepository(store: api.store).createGuardian(name: "李四")))
            #expect(try await api.call(.get, "/v1/enrollment-proposals/\(id)", token: stranger).status == .notFound)
            let accept = "/v1/enrollment-proposals/\(id)/acceptance"
            let strangers = try await api.call(.post, accept, token: stranger, json: #"{"studentId":"\#(world.student.id)"}"#)
            #expect(strangers.status == .notFound)
            // Its own proposal, but another guardian's student: not found either.
            let otherStudent = try await api.call(.post, accept, token: cast.guardian, json: #"{"studentId":"\#(UUID())"}"#)
            #expect(otherStudent.status == .notFound && sameAnswer(otherStudent, strangers))

            let accepted = try await api.call(.post, accept, token: cast.guardian, json: #"{"studentId":"\#(world.student.id)"}"#)
            #expect(accepted.status == .created && accepted.string("id") == id && accepted.string("status") == "awaiting_payment")
            #expect(accepted.string("studentId") == world.student.id.description)
            #expect(try await api.call(.get, "/v1/enrollments/\(id)", token: cast.institution).status == .ok)
            #expect(try await api.call(.get, "/v1/enrollment-proposals/\(id)", token: cast.institution).string("status") == "accepted")
            let again = try await api.call(.post, accept, token: cast.guardian, json: #"{"studentId":"\#(world.student.id)"}"#)
            #expect(again.status == .conflict && again.code == "proposal_not_open")
            let contract = try await api.call(.post, "/v1/enrollments/\(id)/contract", token: cast.institution, json: "{}")
            #expect(contract.status == .created, "\(contract.body)")

            // The guardian turns the cast's open proposal down; it cannot be accepted afterwards.
            let declined = try await api.call(.post, "/v1/enrollment-proposals/\(cast.enrollmentProposal)/rejection", token: cast.guardian)
            #expect(declined.status == .ok && declined.string("status") == "rejected")
            let late = try await api.call(
                .post, "/v1/enrollment-proposals/\(cast.enrollmentProposal)/acceptance", token: cast.guardian,
                json: #"{"studentId":"\#(world.student.id)"}"#)
            #expect(late.code == "proposal_not_open")

            // The guardian places an order from the catalog itself: its own order needs no further consent.
            let placed = try await api.call(
                .post, "/v1/enrollments", token: cast.guardian, json: order(student: world.student.id.description))
            #expect(placed.status == .created && placed.string("status") == "awaiting_payment", "\(placed.body)")
            #expect(try await count(api, "enrollments") == enrollmentsBefore + 2)
            // With an Idempotency-Key a retried order is the first one; the key with another body is refused.
            let body = order(student: world.student.id.description)
            let keyed = try await api.call(.post, "/v1/enrollments", token: cast.guardian, json: body, idempotencyKey: "order-1")
            let retried = try await api.call(.post, "/v1/enrollments", token: cast.guardian, json: body, idempotencyKey: "order-1")
            #expect(keyed.status == .created && retried.status == .created && retried.body == keyed.body)
            #expect(try await count(api, "enrollments") == enrollmentsBefore + 3)
            let other = body.replacingOccurrences(of: "\"lessons\":", with: "\"lessons\": ")
            let reused = try await api.call(.post, "/v1/enrollments", token: cast.guardian, json: other, idempotencyKey: "order-1")
            #expect(reused.status == .conflict && reused.code == "idempotency_key_reused", "\(reused.body)")
            #expect(try await auditBreaches(api.store) == [])
            #expect(try await LedgerLogReconciliation(store: api.store).breaches() == [])
        }
    }

    @Test func aRiskPolicyCountsOnlyOnceAcceptedAndOnlyIfItCoversTheReserveRequirement() async throws {
        try await API.run("consentrisk") { api, _ in
            // Reserve mode, 20 %: ¥3,200 paid, nothing in the reserve → ¥640 required, a reserve_shortfall warning.
            let world = try await World.make(api.store, mode: .reserve)
            let regulator = try await api.token(for: .regulator(world.district))
            let school = try await api.token(for: .institution(world.institution.id))
            let parent = try await api.token(for: .guardian(world.guardian))
            let insurerID = try await PartyRepository(store: api.store).createInsurer(name: "人保财险")
            let insurer = try await api.token(for: .insurer(insurerID))
            _ = try await api.call(
                .post, "/v1/enrollments/\(world.enrollment.id)/payments", token: parent,
                json: "{\"amountFen\":\(world.enrollment.amountFen.fen)}", idempotencyKey: "pay")
            func shortfallOpen() async throws -> Bool {
                _ = try await api.call(.post, "/v1/warnings/evaluation", token: regulator)
                return try await api.call(.get, "/v1/warnings?status=open&rule=reserve_shortfall", token: school).items.count == 1
            }
            func premiums() async throws -> Int {
                for try await count in try await api.store.query("SELECT count(*)::int FROM transfers WHERE kind = 'premium'")
                    .decode(Int.self)
                { return count }
                return -1
            }
            #expect(try await shortfallOpen())
            let product = try await api.call(
                .post, "/v1/insurance-products", token: insurer,
                json: #"{"kind":"institution_risk","premiumRateBasisPoints":100,"coveredShareBasisPoints":8000,"limitFen":100000000}"#
            ).string("id")
            let today = BusinessDate(shanghaiDateOf: Date())
            func propose(sumFen: Int64) async throws -> String {
                try await api.call(
                    .post, "/v1/policy-proposals", token: insurer,
                    json: """
                        {"productId":"\(product)","institutionId":"\(world.institution.id)","sumInsuredFen":\(sumFen),
                         "periodStart":"\(today)","periodEnd":"\(today.addingMonths(12))"}
                        """
                ).string("id")
            }
            // Proposed only: no premium, no policy, the warning stands, the public page shows no insurance.
            let ample = try await propose(sumFen: 100_000)
            #expect(try await premiums() == 0)
            #expect(try await shortfallOpen())
            let page = try await api.call(.get, "/v1/public/institutions/\(pathSegment(world.institution.licenceNumber))")
            #expect((page.json["insuranceInForce"] as? [Any])?.isEmpty == true, "\(page.body)")

            // A token policy (¥1 against ¥640 required) is charged once accepted, but excuses nothing.
            let token = try await propose(sumFen: 100)
            let small = try await api.call(.post, "/v1/policy-proposals/\(token)/acceptance", token: school, idempotencyKey: "small")
            #expect(small.status == .created && small.string("status") == "active", "\(small.body)")
            #expect(try await premiums() == 1)
            #expect(try await shortfallOpen())
            let credit = try await api.call(.get, "/v1/institutions/\(world.institution.id)/credit", token: regulator).body
            #expect(!credit.contains("risk-control policy in force"), "\(credit)")

            // A policy covering the requirement (¥1,000, 80 % share of ¥3,200) stands in for the reserve.
            let covering = try await api.call(.post, "/v1/policy-proposals/\(ample)/acceptance", token: school, idempotencyKey: "ample")
            #expect(covering.status == .created)
            #expect(try await premiums() == 2)
            #expect(!(try await shortfallOpen()))
            // Another institution may not accept a proposal made to this one.
            let otherWorld = try await World.make(api.store, district: "330205")
            let other = try await api.token(for: .institution(otherWorld.institution.id))
            let foreign = try await propose(sumFen: 100)
            #expect(
                try await api.call(.post, "/v1/policy-proposals/\(foreign)/acceptance", token: other, idempotencyKey: "x").status
                    == .notFound)
            #expect(try await premiums() == 2)
            #expect(try await auditBreaches(api.store) == [])
            #expect(try await LedgerLogReconciliation(store: api.store).breaches() == [])
        }
    }

    @Test func aClaimMayNameOnlyAPolicyCoveringTheClaimantsOwnEnrollment() async throws {
        try await API.run("claimscope") { api, _ in
            let mine = try await Cast.make(api, district: "330203")
            let other = try await Cast.make(api, district: "330205")
            func file(enrollment: String, policy: String, key: String) async throws -> Reply {
                try await api.call(
                    .post, "/v1/claims", token: mine.guardian,
                    json: #"{"enrollmentId":"\#(enrollment)","policyId":"\#(policy)","reason":"refund_refused","claimedFen":1000}"#,
                    idempotencyKey: key)
            }
            let claimsBefore = try await count(api, "claims")
            // Another guardian's tuition policy, named against the claimant's own enrollment.
            let foreign = try await file(enrollment: mine.world.enrollment.id.description, policy: other.policy.description, key: "c1")
            let unknown = try await file(enrollment: mine.world.enrollment.id.description, policy: UUID().uuidString, key: "c2")
            #expect(foreign.status == .notFound && sameAnswer(foreign, unknown), "\(foreign.body)")
            #expect(!foreign.body.contains(other.world.institution.id.description))
            #expect(!foreign.body.contains("insurer"))
            // Repeating it changes nothing either.
            for index in 0..<3 {
                #expect(
                    try await file(enrollment: mine.world.enrollment.id.description, policy: other.policy.description, key: "r\(index)")
                        .status == .notFound)
            }
            #expect(try await count(api, "claims") == claimsBefore)
            #expect(try await api.call(.get, "/v1/claims", token: other.insurer).items.count == 1)
            // The claimant's own policy on its own enrollment is filed (the cast's claim is open: a second one conflicts,
            // which shows it got past the scope check).
            let own = try await file(enrollment: mine.world.enrollment.id.description, policy: mine.policy.description, key: "c3")
            #expect(own.code == "claim_already_open", "\(own.body)")
        }
    }

    /// The class: an id in a request body that names another principal's resource is 404, exactly as an id that names
    /// nothing, and nothing changes.
    @Test func everyBodyIdNamingAnotherPrincipalsResourceIsNotFound() async throws {
        try await API.run("bodyids") { api, _ in
            let mine = try await Cast.make(api, district: "330203")
            let other = try await Cast.make(api, district: "330205")
            let today = BusinessDate(shanghaiDateOf: Date())
            let term = #""lessons":5,"termStart":"\#(today)","termEnd":"\#(today.addingMonths(1))""#
            // (name, path, token, body naming the other's resource, the same body naming nothing)
            let random = UUID().uuidString.lowercased()
            let cases: [(String, String, String, String, String)] = [
                (
                    "order for another's student", "/v1/enrollments", mine.guardian,
                    #"{"studentId":"\#(other.world.student.id)","courseId":"\#(mine.world.course.id)",\#(term)}"#,
                    #"{"studentId":"\#(random)","courseId":"\#(mine.world.course.id)",\#(term)}"#
                ),
                (
                    "acceptance for another's student", "/v1/enrollment-proposals/\(mine.enrollmentProposal)/acceptance", mine.guardian,
                    #"{"studentId":"\#(other.world.student.id)"}"#, #"{"studentId":"\#(random)"}"#
                ),
                (
                    "proposal of another's course", "/v1/enrollment-proposals", mine.institution,
                    #"{"guardianId":"\#(mine.world.guardian)","courseId":"\#(other.world.course.id)",\#(term)}"#,
                    #"{"guardianId":"\#(mine.world.guardian)","courseId":"\#(random)",\#(term)}"#
                ),
                (
                    "claim on another's enrollment", "/v1/claims", mine.guardian,
                    #"{"enrollmentId":"\#(other.world.enrollment.id)","policyId":"\#(other.policy)","reason":"refund_refused","claimedFen":100}"#,
                    #"{"enrollmentId":"\#(random)","policyId":"\#(other.policy)","reason":"refund_refused","claimedFen":100}"#
                ),
                (
                    "claim on another's policy", "/v1/claims", mine.guardian,
                    #"{"enrollmentId":"\#(mine.world.enrollment.id)","policyId":"\#(other.policy)","reason":"refund_refused","claimedFen":100}"#,
                    #"{"enrollmentId":"\#(mine.world.enrollment.id)","policyId":"\#(random)","reason":"refund_refused","claimedFen":100}"#
                ),
                (
                    "complaint about another's enrollment", "/v1/complaints", mine.guardian,
                    #"{"enrollmentId":"\#(other.world.enrollment.id)","text":"冒名投诉"}"#, #"{"enrollmentId":"\#(random)","text":"冒名投诉"}"#
                ),
                (
                    "proposal on another insurer's product", "/v1/policy-proposals", mine.insurer,
                    """
                    {"productId":"\(other.riskProduct)","institutionId":"\(mine.world.institution.id)","sumInsuredFen":1000,
                     "periodStart":"\(today)","periodEnd":"\(today.addingMonths(12))"}
                    """,
                    """
                    {"productId":"\(random)","institutionId":"\(mine.world.institution.id)","sumInsuredFen":1000,
                     "periodStart":"\(today)","periodEnd":"\(today.addingMonths(12))"}
                    """
                ),
            ]
            let tables = ["enrollments", "enrollment_proposals", "claims", "complaints", "risk_policy_proposals", "transfers"]
            var before: [String: Int] = [:]
            for table in tables { before[table] = try await count(api, table) }
            for (index, (name, path, token, foreign, nothing)) in cases.enumerated() {
                let named = try await api.call(.post, path, token: token, json: foreign, idempotencyKey: "named-\(index)")
                let none = try await api.call(.post, path, token: token, json: nothing, idempotencyKey: "none-\(index)")
                #expect(named.status == .notFound && named.code == "not_found", "\(name): \(named.body)")
                #expect(sameAnswer(named, none), "\(name): the answer tells a foreign id from an unknown one")
                for id in other.ids { #expect(!named.body.contains(id), "\(name) leaked \(id)") }
            }
            for table in tables { #expect(try await count(api, table) == before[table], "\(table) changed") }
        }
    }
}
