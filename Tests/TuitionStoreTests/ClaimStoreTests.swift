import Foundation
import PostgresNIO
import Testing
import TuitionCore
import TuitionStore
import TuitionTestSupport
import TuitionWire

@Suite struct ClaimStoreTests {
    typealias Insured = InsuranceStoreTests.Insured

    /// A paid world whose guardian holds a tuition policy for the whole of what it paid. In reserve mode no escrow holds
    /// the guardian's money, so the insurer pays claims alone.
    static func insuredWorld(_ store: Store, mode: SupervisionMode = .reserve) async throws -> (Insured, PolicyRecord) {
        let insured = try await Insured.make(store, mode: mode)
        let policy = try await store.transaction {
            try await InsuranceRepository(store: store).buyTuitionPolicy(
                insured.tuitionPolicy(insured.world.enrollment.amountFen), enrollment: insured.world.enrollment.id,
                guardian: insured.world.guardian, key: "premium:claims:\(insured.world.enrollment.id)", on: $0)
        }
        return (insured, policy)
    }

    /// A risk-control policy of ¥100,000 on the insured world's institution, beside the guardian's tuition policy.
    static func riskPolicy(_ store: Store, _ insured: Insured) async throws -> PolicyRecord {
        try await store.transaction {
            try await InsuranceRepository(store: store).issueRiskPolicy(
                insured.riskPolicy(.yuan(100_000)), insurer: insured.insurer, key: "premium:risk:\(insured.world.institution.id)", on: $0)
        }
    }

    static func file(_ store: Store, _ insured: Insured, policy: Policy.ID, claimed: Money) async throws -> ClaimRecord {
        try await store.transaction {
            try await ClaimRepository(store: store).file(
                NewClaim(enrollmentId: insured.world.enrollment.id, policyId: policy, reason: .refundRefused, claimedFen: claimed),
                guardian: insured.world.guardian, on: $0)
        }
    }

    /// Five lessons recorded on the insured enrollment, the guardian disputing the last two.
    static func giveThreeLessonsAndTwoDisputed(_ store: Store, _ insured: Insured) async throws {
        let enrollments = EnrollmentRepository(store: store)
        let (id, institution) = (insured.world.enrollment.id, insured.world.institution.id)
        _ = try await store.transaction {
            try await enrollments.recordLessons(id, institution: institution, lessons: 3, takenOn: insured.today, on: $0)
        }
        let disputed = try await store.transaction {
            try await enrollments.recordLessons(id, institution: institution, lessons: 2, takenOn: insured.today, on: $0)
        }
        _ = try await enrollments.answerLesson(disputed.id, guardian: insured.world.guardian, dispute: "没有上课")
    }

    static func pay(_ store: Store, _ claim: Claim.ID, insurer: Insurer.ID) async throws -> ClaimRecord {
        try await store.transaction { try await ClaimRepository(store: store).pay(claim, insurer: insurer, on: $0) }
    }

    func payouts(_ store: Store) async throws -> [(Int64, String, String, String)] {
        let rows = try await store.query(
            """
            SELECT t.amount_fen, d.kind, c.kind, t.idempotency_key FROM transfers t JOIN accounts d ON d.id = t.debit_account_id
                JOIN accounts c ON c.id = t.credit_account_id
            WHERE t.kind = 'payout' ORDER BY t.id
            """)
        var found: [(Int64, String, String, String)] = []
        for try await row in rows.decode((Int64, String, String, String).self) { found.append(row) }
        return found
    }

    @Test func storesEveryCheckAndCutsAClaimAboveTheEntitlement() async throws {
        try await TestDatabase.withStore("claimchecks") { store in
            let (insured, policy) = try await Self.insuredWorld(store)
            let claim = try await Self.file(store, insured, policy: policy.id, claimed: .yuan(10_000))
            #expect(claim.status == .verified && claim.number.hasPrefix("TGC"))
            #expect(claim.checks.map(\.check) == ClaimCheck.allCases)
            let amount = claim.checks.first { $0.check == .amount }
            #expect(amount?.outcome == .adjusted && amount?.code == .claimExceedsEntitlement)
            #expect(claim.checks.filter { $0.check != .amount }.allSatisfy { $0.outcome == .passed })
            // Nothing consumed yet: the whole payment is the entitlement and the most an approval may grant.
            #expect(claim.entitlementFen == insured.world.enrollment.amountFen && claim.approvableFen == claim.entitlementFen)
            #expect(claim.insurerId == insured.insurer && claim.institutionId == insured.world.institution.id)
            let read = try await ClaimRepository(store: store).claim(
                claim.id, scope: Scope(Principal(id: UUID(), entity: .guardian(insured.world.guardian))))
            #expect(read == claim)
            let events = try await store.query("SELECT count(*) FROM evidence_queue")
            for try await count in events.decode(Int.self) { #expect(count >= 3) }
        }
    }

    @Test func disputedLessonsReferTheClaimAndAForeignPolicyIsNotFound() async throws {
        try await TestDatabase.withStore("claimrefer") { store in
            let (insured, policy) = try await Self.insuredWorld(store)
            let enrollments = EnrollmentRepository(store: store)
            let lesson = try await store.transaction {
                try await enrollments.recordLessons(
                    insured.world.enrollment.id, institution: insured.world.institution.id, lessons: 2, takenOn: insured.today, on: $0)
            }
            _ = try await enrollments.answerLesson(lesson.id, guardian: insured.world.guardian, dispute: "没有上课")
            let referred = try await Self.file(store, insured, policy: policy.id, claimed: .yuan(100))
            #expect(referred.status == .referred && referred.decisionReason == "disputed_lessons")
            #expect(referred.checks.first { $0.check == .disputes }?.outcome == .referred)
            // Another enrollment's tuition policy does not cover this one: not found, as an unknown policy, nothing stored
            // (issue #11: a claim names only a policy covering the claimant's own enrollment).
            let other = try await insured.world.anotherEnrollment(store, lessons: 5)
            _ = try await store.transaction {
                try await enrollments.pay(other.id, guardian: insured.world.guardian, amount: other.amountFen, on: $0)
            }
            await #expect(throws: NotFound.self) {
                _ = try await store.transaction {
                    try await ClaimRepository(store: store).file(
                        NewClaim(enrollmentId: other.id, policyId: policy.id, reason: .refundRefused, claimedFen: .yuan(10)),
                        guardian: insured.world.guardian, on: $0)
                }
            }
            let stored = try await store.query("SELECT count(*)::int FROM claims WHERE enrollment_id = \(other.id.uuid)")
            for try await count in stored.decode(Int.self) { #expect(count == 0) }
        }
    }

    @Test func oneOpenClaimPerEnrollmentAndPolicy() async throws {
        try await TestDatabase.withStore("claimopen") { store in
            let (insured, policy) = try await Self.insuredWorld(store)
            let first = try await Self.file(store, insured, policy: policy.id, claimed: .yuan(100))
            #expect(
                try await rejection { _ = try await Self.file(store, insured, policy: policy.id, claimed: .yuan(50)) } == .claimAlreadyOpen)
            // Once rejected, the claim is closed and a new one may be filed.
            let rejected = try await ClaimRepository(store: store).reject(first.id, insurer: insured.insurer, reason: "资料不全")
            #expect(rejected.status == .rejected && rejected.decisionReason == "资料不全" && rejected.decidedAt != nil)
            #expect(try await Self.file(store, insured, policy: policy.id, claimed: .yuan(50)).status == .verified)
        }
    }

    @Test func refusesApprovalAboveTheApprovableAmountAndDecidingTwice() async throws {
        try await TestDatabase.withStore("claimapprove") { store in
            let (insured, policy) = try await Self.insuredWorld(store)
            let claims = ClaimRepository(store: store)
            let claim = try await Self.file(store, insured, policy: policy.id, claimed: .yuan(100))
            let above = Money(fen: claim.approvableFen.fen + 1)
            #expect(
                try await rejection { _ = try await claims.approve(claim.id, insurer: insured.insurer, amount: above) }
                    == .approvalExceedsApprovable)
            #expect(
                try await rejection { _ = try await claims.approve(claim.id, insurer: insured.insurer, amount: .zero) }
                    == .approvalExceedsApprovable)
            #expect(try await rejection { _ = try await Self.pay(store, claim.id, insurer: insured.insurer) } == .claimNotApproved)
            let approved = try await claims.approve(claim.id, insurer: insured.insurer, amount: .yuan(60))
            #expect(approved.status == .approved && approved.approvedFen == .yuan(60))
            #expect(
                try await rejection { _ = try await claims.approve(claim.id, insurer: insured.insurer, amount: .yuan(1)) }
                    == .claimNotAwaitingDecision)
            // Another insurer does not find the claim.
            let stranger = try await PartyRepository(store: store).createInsurer(name: "大地财险")
            await #expect(throws: NotFound.self) { _ = try await claims.approve(claim.id, insurer: stranger, amount: .yuan(1)) }
        }
    }

    @Test func payingTwicePaysOnceAndReducesThePolicy() async throws {
        try await TestDatabase.withStore("claimpay") { store in
            let (insured, policy) = try await Self.insuredWorld(store)
            let claim = try await Self.file(store, insured, policy: policy.id, claimed: .yuan(1_000))
            _ = try await ClaimRepository(store: store).approve(claim.id, insurer: insured.insurer, amount: .yuan(800))
            let paid = try await Self.pay(store, claim.id, insurer: insured.insurer)
            let again = try await Self.pay(store, claim.id, insurer: insured.insurer)
            #expect(paid.status == .paid && paid.paidFen == .yuan(800) && paid.paidAt != nil && again == paid)
            let moved = try await payouts(store)
            #expect(moved.count == 1)
            #expect(moved.first.map { $0 == (80_000, "insurer_claims", "guardian_bank", "claim:\(claim.id)") } == true)
            let reduced = try await InsuranceRepository(store: store).policy(
                policy.id, scope: Scope(Principal(id: UUID(), entity: .insurer(insured.insurer))))
            #expect(reduced?.remainingFen == Money(fen: policy.sumInsuredFen.fen - 80_000))
            // A paid claim is closed: a new claim on the same enrollment and policy may be filed.
            #expect(try await Self.file(store, insured, policy: policy.id, claimed: .yuan(10)).status == .verified)
            #expect(try await InvariantAudit(store: store).breaches() == [])
        }
    }

    /// In escrow mode the supervised account still holds what a guardian whose refund was refused is owed: a claim is
    /// paid from it first, and the insurer pays only what it does not hold, so the escrow never keeps more than the
    /// enrollment is owed (before, the insurer paid it all and the escrow kept the guardian's money for ever).
    @Test func aClaimIsPaidFromTheEscrowHeldForTheEnrollmentFirst() async throws {
        try await TestDatabase.withStore("claimescrow") { store in
            let (insured, policy) = try await Self.insuredWorld(store, mode: .escrow)
            let enrollments = EnrollmentRepository(store: store)
            _ = try await store.transaction {
                try await enrollments.recordLessons(
                    insured.world.enrollment.id, institution: insured.world.institution.id, lessons: 10, takenOn: insured.today, on: $0)
            }
            // ¥3,200 paid, 10 lessons of ¥80 given: ¥2,400 owed, all of it in escrow.
            let claim = try await Self.file(store, insured, policy: policy.id, claimed: .yuan(1_000))
            _ = try await ClaimRepository(store: store).approve(claim.id, insurer: insured.insurer, amount: .yuan(1_000))
            let paid = try await Self.pay(store, claim.id, insurer: insured.insurer)
            #expect(paid.status == .paid && paid.paidFen == .yuan(1_000) && paid.paidFromEscrowFen == .yuan(1_000))
            #expect(
                try await payouts(store).map { "\($0.0) \($0.1) \($0.2) \($0.3)" } == [
                    "100000 escrow guardian_bank claim:\(claim.id):escrow"
                ])
            let scope = Scope(Principal(id: UUID(), entity: .insurer(insured.insurer)))
            #expect(try await InsuranceRepository(store: store).policy(policy.id, scope: scope)?.remainingFen == policy.sumInsuredFen)
            let position = try #require(
                try await enrollments.enrollment(insured.world.enrollment.id, scope: Scope(.institution(insured.world.institution.id)))
            ).position
            #expect(position.escrowHeld == .yuan(1_400) && position.outstanding == .yuan(1_400))

            // A refund of everything returns the rest from escrow and leaves it empty: nothing is left behind.
            _ = try await store.transaction {
                try await enrollments.refund(
                    insured.world.enrollment.id, institution: insured.world.institution.id, lessons: nil, reason: "家长要求退费", on: $0)
            }
            let closed = try #require(
                try await enrollments.enrollment(insured.world.enrollment.id, scope: Scope(.institution(insured.world.institution.id)))
            ).position
            #expect(closed.escrowHeld == .zero && closed.outstanding == .zero)
            #expect(try await InvariantAudit(store: store).breaches() == [])
            #expect(try await LedgerLogReconciliation(store: store).breaches() == [])
        }
    }

    /// The database refuses an escrow that would keep more than its enrollment is owed, whatever path writes it. An
    /// excess an insurer's payout left before sql/0036 is recorded as allowed (sql/0037): that enrollment stays
    /// writable, and its excess can never grow.
    @Test func theDatabaseRefusesEscrowAboveWhatTheEnrollmentIsOwed() async throws {
        try await TestDatabase.withStore("claimescrowcheck") { store in
            let (insured, _) = try await Self.insuredWorld(store, mode: .escrow)
            let id = insured.world.enrollment.id
            await #expect(throws: PSQLError.self) {
                try await store.query("UPDATE enrollments SET returned_fen = returned_fen + 100 WHERE id = \(id.uuid)")
            }
            // As 0037 records a payout made before 0036: the escrow keeps ¥1 more than owed.
            try await store.query(
                "UPDATE enrollments SET returned_fen = returned_fen + 100, escrow_excess_allowed_fen = 100 WHERE id = \(id.uuid)")
            _ = try await store.transaction {
                try await EnrollmentRepository(store: store).recordLessons(
                    id, institution: insured.world.institution.id, lessons: 2, takenOn: insured.today, on: $0)
            }
            await #expect(throws: PSQLError.self) {
                try await store.query("UPDATE enrollments SET returned_fen = returned_fen + 1 WHERE id = \(id.uuid)")
            }
        }
    }

    @Test func aPayoutNeverRepaysMoreThanTheUnconsumedTuition() async throws {
        try await TestDatabase.withStore("claimcap") { store in
            let (insured, tuitionPolicy) = try await Self.insuredWorld(store)
            let riskPolicy = try await Self.riskPolicy(store, insured)
            let claims = ClaimRepository(store: store)
            let owed = insured.world.enrollment.amountFen
            // Two claims, one on each policy, each approved for the whole unconsumed tuition.
            let onTuition = try await Self.file(store, insured, policy: tuitionPolicy.id, claimed: owed)
            let onRisk = try await Self.file(store, insured, policy: riskPolicy.id, claimed: owed)
            #expect(onTuition.status == .verified && onRisk.status == .verified)
            _ = try await claims.approve(onTuition.id, insurer: insured.insurer, amount: owed)
            _ = try await claims.approve(onRisk.id, insurer: insured.insurer, amount: onRisk.approvableFen)
            #expect(try await Self.pay(store, onTuition.id, insurer: insured.insurer).paidFen == owed)
            // Nothing is owed any more: the risk claim can never be paid, so it is closed with the reason rather than
            // left approved for ever (where it would block filing on that policy again).
            let closed = try await Self.pay(store, onRisk.id, insurer: insured.insurer)
            #expect(closed.status == .closed && closed.paidFen == .zero && closed.decisionReason == "entitlement_below_approval")
            #expect(try await payouts(store).count == 1)
            #expect(try await InvariantAudit(store: store).breaches() == [])
            #expect(try await LedgerLogReconciliation(store: store).breaches() == [])
        }
    }

    /// The contested value a person may add back is what is contested now: once one claim's payout added it back, another
    /// claim on the same enrollment cannot add it back again (it was floored out of the entitlement, not paid twice).
    @Test func theContestedValueIsAddedBackOnceAcrossClaims() async throws {
        try await TestDatabase.withStore("claimaddback") { store in
            let (insured, tuitionPolicy) = try await Self.insuredWorld(store)
            let riskPolicy = try await Self.riskPolicy(store, insured)
            let enrollments = EnrollmentRepository(store: store)
            let lesson = try await store.transaction {
                try await enrollments.recordLessons(
                    insured.world.enrollment.id, institution: insured.world.institution.id, lessons: 3, takenOn: insured.today, on: $0)
            }
            _ = try await enrollments.answerLesson(lesson.id, guardian: insured.world.guardian, dispute: "没有上课")
            let paid = insured.world.enrollment.amountFen
            let contested = lesson.valueFen
            let entitled = Money(fen: paid.fen - contested.fen)
            let claims = ClaimRepository(store: store)
            let onTuition = try await Self.file(store, insured, policy: tuitionPolicy.id, claimed: entitled)
            let onRisk = try await Self.file(store, insured, policy: riskPolicy.id, claimed: entitled)
            #expect(onTuition.status == .referred && onRisk.status == .referred)
            // The risk-control policy covers 80 %: of the contested lessons, it may add back only what its share leaves.
            #expect(onTuition.contestedFen == contested)
            #expect(onRisk.contestedFen == Money(fen: paid.fen * 8 / 10 - entitled.fen * 8 / 10))
            // Each approval alone is within reach: the whole payment on one, its share with the disputed lessons on the other.
            _ = try await claims.approve(onTuition.id, insurer: insured.insurer, amount: paid, reason: "课时未实际提供")
            let riskMost = Money(fen: onRisk.approvableFen.fen + onRisk.contestedFen.fen)
            _ = try await claims.approve(onRisk.id, insurer: insured.insurer, amount: riskMost, reason: "课时未实际提供")
            #expect(try await Self.pay(store, onTuition.id, insurer: insured.insurer).paidFen == paid)
            #expect(try await Self.pay(store, onRisk.id, insurer: insured.insurer).status == .closed)
            #expect(try await payouts(store).map(\.0) == [paid.fen])
            #expect(try await InvariantAudit(store: store).breaches() == [])
        }
    }

    /// An approval above the approvable amount adds back contested lessons a person found not given. Their value was
    /// released to the institution, so the insurer pays it, not the escrow, and the guardian keeps every lesson still
    /// owed: the add-back neither shortens the enrollment nor can be claimed again.
    @Test func anAddBackIsPaidByTheInsurerAndLeavesTheLessonsStillOwed() async throws {
        try await TestDatabase.withStore("claimaddbackescrow") { store in
            let (insured, policy) = try await Self.insuredWorld(store, mode: .escrow)
            let enrollments = EnrollmentRepository(store: store)
            let id = insured.world.enrollment.id
            let institution = insured.world.institution.id
            let price = insured.world.enrollment.pricePerLessonFen.fen
            try await Self.giveThreeLessonsAndTwoDisputed(store, insured)
            // One lesson's worth claimed; the two disputed lessons found not given and added back.
            let claims = ClaimRepository(store: store)
            let claim = try await Self.file(store, insured, policy: policy.id, claimed: Money(fen: price))
            #expect(claim.status == .referred && claim.approvableFen.fen == price && claim.contestedFen.fen == 2 * price)
            _ = try await claims.approve(claim.id, insurer: insured.insurer, amount: Money(fen: 3 * price), reason: "课时未实际提供")
            let paid = try await Self.pay(store, claim.id, insurer: insured.insurer)
            #expect(paid.paidFen.fen == 3 * price && paid.paidFromEscrowFen.fen == price && paid.addedBackFen.fen == 2 * price)
            #expect(
                try await payouts(store).map { "\($0.0) \($0.1) \($0.3)" } == [
                    "\(price) escrow claim:\(claim.id):escrow", "\(2 * price) insurer_claims claim:\(claim.id)",
                ])
            let scope = Scope(Principal(id: UUID(), entity: .insurer(insured.insurer)))
            let policyAfter = try #require(try await InsuranceRepository(store: store).policy(policy.id, scope: scope))
            #expect(policyAfter.remainingFen.fen == policy.sumInsuredFen.fen - 2 * price)
            // Bought 40, given 5 (two of them disputed), one returned: 34 lessons still owed, all of them in escrow.
            let owed = insured.world.enrollment.amountFen.fen - 6 * price
            let record = try #require(try await enrollments.enrollment(id, scope: Scope(.institution(institution))))
            let position = record.position
            #expect(position.outstanding.fen == owed && position.escrowHeld.fen == owed && position.returned.fen == price)
            // 35 lessons neither given nor refunded, but what is owed pays for 34: the record says 34 remain.
            #expect(record.lessonsBought - record.lessonsConsumed - record.lessonsRefunded == 35 && record.lessonsRemaining == 34)
            // The disputed lessons are contested no longer: another claim may not add them back again.
            let again = try await Self.file(store, insured, policy: policy.id, claimed: Money(fen: price))
            #expect(again.status == .referred && again.contestedFen == .zero)
            _ = try await claims.reject(again.id, insurer: insured.insurer, reason: "已赔付")
            let refund = try await store.transaction {
                try await enrollments.refund(id, institution: institution, lessons: nil, reason: "家长要求退费", on: $0)
            }
            #expect(refund.amountFen.fen == owed)
            #expect(try await InvariantAudit(store: store).breaches() == [])
            #expect(try await LedgerLogReconciliation(store: store).breaches() == [])
        }
    }

    /// An add-back above what is still owed never drives the enrollment's unconsumed tuition below zero: the
    /// entitlement's part returns what was owed, the add-back is paid on top.
    @Test func anAddBackAboveWhatIsOwedLeavesNothingNegative() async throws {
        try await TestDatabase.withStore("claimaddbackowed") { store in
            let (insured, policy) = try await Self.insuredWorld(store)
            let enrollments = EnrollmentRepository(store: store)
            let id = insured.world.enrollment.id
            let institution = insured.world.institution.id
            let price = insured.world.enrollment.pricePerLessonFen.fen
            try await Self.giveThreeLessonsAndTwoDisputed(store, insured)
            let owed = insured.world.enrollment.amountFen.fen - 5 * price
            let claims = ClaimRepository(store: store)
            let claim = try await Self.file(store, insured, policy: policy.id, claimed: Money(fen: owed + 2 * price))
            #expect(claim.approvableFen.fen == owed && claim.contestedFen.fen == 2 * price)
            _ = try await claims.approve(claim.id, insurer: insured.insurer, amount: Money(fen: owed + 2 * price), reason: "课时未实际提供")
            let paid = try await Self.pay(store, claim.id, insurer: insured.insurer)
            #expect(paid.status == .paid && paid.addedBackFen.fen == 2 * price)
            let position = try #require(try await enrollments.enrollment(id, scope: Scope(.institution(institution)))).position
            #expect(position.outstanding == .zero && position.returned.fen == owed)
            #expect(try await InvariantAudit(store: store).breaches() == [])
        }
    }

    /// A risk-control policy covers a share (here 80 %) of each enrollment's unconsumed tuition: a guardian's claim on it
    /// is cut to that share, what the policy paid counts against it, and lessons recorded before the payment shrink it.
    @Test func aRiskPolicyPaysAGuardianAtMostItsCoveredShare() async throws {
        try await TestDatabase.withStore("claimshare") { store in
            let (insured, _) = try await Self.insuredWorld(store)
            let riskPolicy = try await Self.riskPolicy(store, insured)
            let claims = ClaimRepository(store: store)
            #expect(insured.world.enrollment.amountFen == .yuan(3_200))  // 40 lessons at ¥80: the share is ¥2,560
            let first = try await Self.file(store, insured, policy: riskPolicy.id, claimed: .yuan(3_200))
            #expect(first.status == .verified && first.entitlementFen == .yuan(3_200) && first.approvableFen == .yuan(2_560))
            #expect(first.checks.first { $0.check == .amount }?.code == .claimExceedsCoveredShare)
            _ = try await claims.approve(first.id, insurer: insured.insurer, amount: .yuan(1_000))
            #expect(try await Self.pay(store, first.id, insurer: insured.insurer).paidFen == .yuan(1_000))

            // ¥2,200 is still owed; the policy's ¥1,000 counts against its share, so ¥1,560 is left of it.
            let second = try await Self.file(store, insured, policy: riskPolicy.id, claimed: .yuan(2_200))
            #expect(second.approvableFen == .yuan(1_560))
            #expect(second.checks.first { $0.check == .amount }?.code == .claimExceedsCoveredShare)
            _ = try await claims.approve(second.id, insurer: insured.insurer, amount: .yuan(1_560))
            // Five lessons are given before the insurer pays: 80 % of the ¥2,800 unconsumed, less ¥1,000, is ¥1,240,
            // though ¥1,800 is still owed.
            _ = try await store.transaction {
                try await EnrollmentRepository(store: store).recordLessons(
                    insured.world.enrollment.id, institution: insured.world.institution.id, lessons: 5, takenOn: insured.today, on: $0)
            }
            #expect(try await Self.pay(store, second.id, insurer: insured.insurer).status == .closed)
            #expect(try await payouts(store).map(\.0) == [Money.yuan(1_000).fen])
            // Closed, the claim no longer blocks the policy: the guardian files again, for what the share leaves now.
            let third = try await Self.file(store, insured, policy: riskPolicy.id, claimed: .yuan(1_800))
            #expect(third.status == .verified && third.approvableFen == .yuan(1_240))
            #expect(try await InvariantAudit(store: store).breaches() == [])
        }
    }

    @Test func aRiskPolicyThatPaidItsShareOfAnEnrollmentRefusesTheNextClaim() async throws {
        try await TestDatabase.withStore("claimshareused") { store in
            let (insured, _) = try await Self.insuredWorld(store)
            let riskPolicy = try await Self.riskPolicy(store, insured)
            let first = try await Self.file(store, insured, policy: riskPolicy.id, claimed: .yuan(3_200))
            _ = try await ClaimRepository(store: store).approve(first.id, insurer: insured.insurer, amount: first.approvableFen)
            #expect(try await Self.pay(store, first.id, insurer: insured.insurer).paidFen == .yuan(2_560))
            // ¥640 is still owed (a tuition policy may pay it), but not by this policy.
            let next = try await Self.file(store, insured, policy: riskPolicy.id, claimed: .yuan(640))
            #expect(next.status == .rejected && next.decisionReason == ClaimCheckCode.coveredShareUsed.rawValue)
            #expect(try await InvariantAudit(store: store).breaches() == [])
        }
    }

    /// From the defunct mark on, only the fast-track claims on the institution's enrollments and only its referred claims
    /// are paid: a guardian's own claim, filed after it or approved before it, would take policy money the plan shared out.
    /// The case closes the guardians' claims still open when it completes, so none is left open for ever.
    @Test func afterTheMarkNoClaimButTheFastTracksIsFiledOrPaid() async throws {
        try await TestDatabase.withStore("claimdefunct") { store in
            let (insured, tuitionPolicy) = try await Self.insuredWorld(store)
            let riskPolicy = try await Self.riskPolicy(store, insured)
            let claims = ClaimRepository(store: store)
            let approved = try await Self.file(store, insured, policy: tuitionPolicy.id, claimed: .yuan(100))
            _ = try await claims.approve(approved.id, insurer: insured.insurer, amount: .yuan(100))
            let undecided = try await Self.file(store, insured, policy: riskPolicy.id, claimed: .yuan(100))
            // Every lesson is given: nothing is owed at the mark, so the fast-track settles (and closes) nothing here.
            for _ in 0..<4 {
                _ = try await store.transaction {
                    try await EnrollmentRepository(store: store).recordLessons(
                        insured.world.enrollment.id, institution: insured.world.institution.id, lessons: 10, takenOn: insured.today,
                        on: $0)
                }
            }
            let marked = try await DefunctRepository(store: store).mark(
                insured.world.institution.id, district: insured.world.district.value, effectiveAt: nil, reason: "跑路")
            // Before the job runs: the approval is refused, and so is the payment (the case is not complete).
            #expect(
                try await rejection { _ = try await claims.approve(undecided.id, insurer: insured.insurer, amount: .yuan(100)) }
                    == .institutionDefunct)
            #expect(try await rejection { _ = try await Self.pay(store, approved.id, insurer: insured.insurer) } == .fastTrackInProgress)
            try await FastTrackJob(store: store).run(marked.id)
            for id in [approved.id, undecided.id] {
                let closed = try #require(try await claims.claim(id, scope: scopeOf(.insurer(insured.insurer))))
                #expect(closed.status == .closed && closed.decisionReason?.hasPrefix("superseded_by_fast_track") == true)
            }
            #expect(try await Self.pay(store, approved.id, insurer: insured.insurer).status == .closed)
            let queued = try await store.query(
                "SELECT count(*)::int FROM evidence_queue WHERE convert_from(entry, 'UTF8') LIKE '%:closed\"%'")
            for try await count in queued.decode(Int.self) { #expect(count == 2) }
            for policy in [tuitionPolicy.id, riskPolicy.id] {
                #expect(
                    try await rejection { _ = try await Self.file(store, insured, policy: policy, claimed: .yuan(100)) }
                        == .institutionDefunct)
            }
            #expect(try await payouts(store).isEmpty)
            #expect(try await InvariantAudit(store: store).breaches() == [])
        }
    }

    @Test func concurrentPaymentsOfOneClaimPayOnce() async throws {
        try await TestDatabase.withStore("claimconcurrent") { store in
            let (insured, policy) = try await Self.insuredWorld(store)
            let claim = try await Self.file(store, insured, policy: policy.id, claimed: .yuan(500))
            _ = try await ClaimRepository(store: store).approve(claim.id, insurer: insured.insurer, amount: .yuan(500))
            let paid = try await withThrowingTaskGroup(of: ClaimRecord.self) { group in
                for _ in 0..<8 { group.addTask { try await Self.pay(store, claim.id, insurer: insured.insurer) } }
                var paid: [ClaimRecord] = []
                for try await record in group { paid.append(record) }
                return paid
            }
            #expect(paid.count == 8 && Set(paid).count == 1 && paid.first?.status == .paid)
            #expect(try await payouts(store).count == 1)
            #expect(
                try await InsuranceRepository(store: store).policy(
                    policy.id, scope: Scope(Principal(id: UUID(), entity: .insurer(insured.insurer))))?.remainingFen
                    == Money(fen: policy.sumInsuredFen.fen - 50_000))
            #expect(try await InvariantAudit(store: store).breaches() == [])
        }
    }
}
