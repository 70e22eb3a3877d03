import Foundation
import PostgresNIO
import Testing
import TuitionCore
import TuitionTestSupport
import TuitionWire

@testable import TuitionStore

/// Issue 10: every path that returns money reads one position per enrollment, and the defunct mark closes every other
/// path. One test per finding, each failing on the code before the issue.
@Suite struct MoneyIntegrityStoreTests {
    static let district = "330203"

    static func pay(_ store: Store, _ enrollment: EnrollmentRecord, guardian: Guardian.ID) async throws {
        _ = try await store.transaction {
            try await EnrollmentRepository(store: store).pay(enrollment.id, guardian: guardian, amount: enrollment.amountFen, on: $0)
        }
    }

    static func lessons(_ store: Store, _ enrollment: EnrollmentRecord, _ count: Int) async throws -> LessonRecord {
        try await store.transaction {
            try await EnrollmentRepository(store: store).recordLessons(
                enrollment.id, institution: enrollment.institutionId, lessons: count,
                takenOn: BusinessDate(shanghaiDateOf: store.dependencies.now()), on: $0)
        }
    }

    static func refund(_ store: Store, _ enrollment: EnrollmentRecord, _ lessons: Int?) async throws -> RefundRecord {
        try await store.transaction {
            try await EnrollmentRepository(store: store).refund(
                enrollment.id, institution: enrollment.institutionId, lessons: lessons, reason: "退费", on: $0)
        }
    }

    static func mark(_ store: Store, _ institution: Institution.ID, effectiveAt: Date? = nil) async throws -> DefunctCaseRecord {
        try await DefunctRepository(store: store).mark(institution, district: district, effectiveAt: effectiveAt, reason: "负责人失联")
    }

    /// Refunds and payouts to the guardian on the enrollment, as the transfers have them.
    static func paidBack(_ store: Store, _ enrollment: Enrollment.ID) async throws -> Int64 {
        let rows = try await store.query(
            """
            SELECT coalesce(sum(amount_fen), 0)::bigint FROM transfers
            WHERE enrollment_id = \(enrollment.uuid) AND kind IN ('refund', 'payout')
            """)
        for try await sum in rows.decode(Int64.self) { return sum }
        return 0
    }

    static func enrollment(_ store: Store, _ id: Enrollment.ID, district: String = district) async throws -> EnrollmentRecord {
        try #require(try await EnrollmentRepository(store: store).enrollment(id, scope: scopeOf(.regulator(DistrictCode(district)!))))
    }

    /// The audit's breaches and the ledger's disagreements with its evidence log, printed when there are any.
    static func breaches(_ store: Store) async throws -> [String] { try await auditBreaches(store) }

    /// The evidence queue in order, decoded.
    static func events(_ store: Store) async throws -> [EvidenceEvent] {
        var found: [EvidenceEvent] = []
        for try await entry in try await store.query("SELECT entry FROM evidence_queue ORDER BY id").decode(ByteBuffer.self) {
            found.append(try EvidenceEvent.decode(canonical: Array(buffer: entry)))
        }
        return found
    }

    /// A reserve-mode institution with a paid enrollment of 40 lessons at ¥80, an insurer with a risk-control policy
    /// covering 80 % of the institution's unconsumed tuition, and `disputed` lessons the guardian disputed.
    struct Insured {
        let world: World
        let insurer: Insurer.ID
        let riskPolicy: PolicyRecord

        static func make(_ store: Store, mode: SupervisionMode = .reserve, disputed: Int = 2, sum: Money = .yuan(500_000)) async throws
            -> Insured
        {
            let world = try await World.make(store, district: district, mode: mode, pricePerLessonFen: 8_000, lessons: 40)
            try await MoneyIntegrityStoreTests.pay(store, world.enrollment, guardian: world.guardian)
            let insurer = try await PartyRepository(store: store).createInsurer(name: "平安产险")
            let insurance = InsuranceRepository(store: store)
            let risk = try await insurance.createProduct(
                NewInsuranceProduct(
                    kind: .institutionRisk, premiumRateBasisPoints: 150, coveredShareBasisPoints: 8_000, limitFen: .yuan(500_000)),
                insurer: insurer)
            let today = BusinessDate(shanghaiDateOf: store.dependencies.now())
            let policy = try await store.transaction {
                try await insurance.issueRiskPolicy(
                    NewRiskPolicy(
                        productId: risk.id, institutionId: world.institution.id, sumInsuredFen: sum, periodStart: today,
                        periodEnd: today.addingMonths(12)),
                    insurer: insurer, key: "risk:\(world.institution.id)", on: $0)
            }
            if disputed > 0 {
                let lesson = try await MoneyIntegrityStoreTests.lessons(store, world.enrollment, disputed)
                _ = try await EnrollmentRepository(store: store).answerLesson(lesson.id, guardian: world.guardian, dispute: "没有上课")
            }
            return Insured(world: world, insurer: insurer, riskPolicy: policy)
        }

        func file(_ store: Store, _ enrollment: EnrollmentRecord? = nil, reason: ClaimReason = .refundRefused, claimed: Money) async throws
            -> ClaimRecord
        {
            let enrollment = enrollment ?? world.enrollment
            return try await store.transaction {
                try await ClaimRepository(store: store).file(
                    NewClaim(enrollmentId: enrollment.id, policyId: riskPolicy.id, reason: reason, claimedFen: claimed),
                    guardian: enrollment.guardianId, on: $0)
            }
        }

        func pay(_ store: Store, _ claim: Claim.ID) async throws -> ClaimRecord {
            try await store.transaction { try await ClaimRepository(store: store).pay(claim, insurer: insurer, on: $0) }
        }

        /// The case's claims in the insurer's queue.
        func jobClaims(_ store: Store, _ id: DefunctCase.ID) async throws -> [ClaimRecord] {
            let rows = try await store.query(
                "SELECT \(unescaped: ClaimRecord.columns) FROM claims cl WHERE cl.defunct_case_id = \(id.uuid) ORDER BY cl.id")
            var found: [ClaimRecord] = []
            for try await row in rows { found.append(try ClaimRecord(row: row)) }
            return found
        }
    }

    // MARK: Finding 1

    /// Refunds after the mark are refused `institution_defunct`; refunds racing the mark are either counted by the plan or
    /// refused, so the case completes and no guardian gets back more than paid − consumed, in both modes.
    @Test func refundsRacingTheMarkAreCountedOrRefusedAndTheCaseCompletes() async throws {
        try await TestDatabase.withStore("mi_refund") { store in
            for mode in [SupervisionMode.escrow, .reserve] {
                for _ in 0..<3 {
                    let world = try await World.make(store, district: Self.district, mode: mode, pricePerLessonFen: 5_000, lessons: 40)
                    try await Self.pay(store, world.enrollment, guardian: world.guardian)
                    _ = try await Self.lessons(store, world.enrollment, 10)
                    if mode == .reserve {
                        _ = try await store.transaction {
                            try await EnrollmentRepository(store: store).topUpReserve(
                                institution: world.institution.id, amount: Money(fen: 300_000), key: "reserve:\(world.institution.id)",
                                on: $0)
                        }
                    }
                    let marked = try await withThrowingTaskGroup(of: DefunctCaseRecord?.self) { group in
                        group.addTask { try await Self.mark(store, world.institution.id) }
                        for _ in 0..<4 {
                            group.addTask {
                                _ = try? await Self.refund(store, world.enrollment, 3)
                                return nil
                            }
                        }
                        var marked: DefunctCaseRecord?
                        for try await result in group { if let result { marked = result } }
                        return marked
                    }
                    let finished = try await FastTrackJob(store: store).run(try #require(marked).id)
                    #expect(finished.status == .completed && finished.blockedReason == nil)
                    #expect(try await rejection { _ = try await Self.refund(store, world.enrollment, 1) } == .institutionDefunct)
                    let owed = world.enrollment.amountFen.fen - 10 * 5_000
                    let back = try await Self.paidBack(store, world.enrollment.id)
                    #expect(back <= owed, "\(mode): \(back) back on \(owed) owed")
                    if mode == .escrow { #expect(back == owed, "escrow holds every unconsumed fen") }
                }
            }
            #expect(try await Self.breaches(store) == [])
        }
    }

    // MARK: Finding 2

    /// A paid `refund_refused` claim counts against the enrollment: the institution refunds only what it left.
    @Test func aPaidClaimCountsAgainstLaterRefunds() async throws {
        try await TestDatabase.withStore("mi_claimrefund") { store in
            let insured = try await Insured.make(store, mode: .escrow, disputed: 0)
            let paid = insured.world.enrollment.amountFen  // 40 lessons at ¥80
            let claim = try await insured.file(store, claimed: paid)
            // The risk-control policy covers 80 %: it repays 32 lessons' worth; refunding everything returns the 40 unused
            // lessons and the 20 % still owed for them.
            #expect(claim.status == .verified && claim.approvableFen == Money(fen: paid.fen * 8 / 10))
            _ = try await ClaimRepository(store: store).approve(claim.id, insurer: insured.insurer, amount: claim.approvableFen)
            #expect(try await insured.pay(store, claim.id).status == .paid)
            let after = try await Self.enrollment(store, insured.world.enrollment.id)
            #expect(after.returnedFen == claim.approvableFen && after.unconsumedFen == Money(fen: paid.fen * 2 / 10))
            let rest = try await Self.refund(store, insured.world.enrollment, nil)
            #expect(rest.lessons == 40 && rest.amountFen == Money(fen: paid.fen * 2 / 10))
            #expect(try await Self.enrollment(store, insured.world.enrollment.id).status == .closed)
            #expect(try await rejection { _ = try await Self.refund(store, insured.world.enrollment, nil) } == .nothingToRefund)
            #expect(try await rejection { _ = try await Self.refund(store, insured.world.enrollment, 1) } == .nothingToRefund)
            #expect(try await rejection { _ = try await Self.lessons(store, insured.world.enrollment, 1) } == .lessonsExceedRemaining)
            #expect(try await Self.paidBack(store, insured.world.enrollment.id) == insured.world.enrollment.amountFen.fen)
            #expect(try await Self.breaches(store) == [])
        }
    }

    // MARK: Finding 3

    /// A payment made after the effective time but before the mark is returned in full, as its own layer, from the escrow
    /// it still sits in and from operating for the lessons released after it.
    @Test func aPaymentAfterTheEffectiveTimeIsReturnedInFull() async throws {
        let clock = TestClock()
        try await TestDatabase.withStore("mi_late", clock: clock) { store in
            let world = try await World.make(store, district: Self.district, mode: .escrow, pricePerLessonFen: 5_000, lessons: 20)
            try await Self.pay(store, world.enrollment, guardian: world.guardian)
            _ = try await Self.lessons(store, world.enrollment, 4)
            clock.advance(by: 3_600)
            let effective = clock.now
            clock.advance(by: 3_600)
            let late = try await world.anotherEnrollment(store, lessons: 10)
            try await Self.pay(store, late, guardian: world.guardian)
            _ = try await Self.lessons(store, late, 2)
            clock.advance(by: 3_600)
            let marked = try await Self.mark(store, world.institution.id, effectiveAt: effective)
            let finished = try await FastTrackJob(store: store).run(marked.id)
            #expect(finished.status == .completed)
            let settlements = try #require(
                try await DefunctRepository(store: store).settlements(
                    of: marked.id, scope: scopeOf(.regulator(DistrictCode(Self.district)!)), status: nil, page: PageRequest()))
            let returned = try #require(settlements.items.first { $0.enrollmentId == late.id })
            #expect(returned.entitlementFen == .zero && returned.returnDueFen == late.amountFen)
            #expect(returned.returnEscrowFen == Money(fen: 40_000) && returned.returnOperatingFen == Money(fen: 10_000))
            #expect(returned.returnUncoveredFen == .zero)
            #expect(try await Self.paidBack(store, late.id) == late.amountFen.fen)
            #expect(finished.returnDueFen == late.amountFen && finished.paidReturnFen == late.amountFen)
            #expect(finished.returnUncoveredFen == .zero)
            // The early enrollment's entitlement excludes nothing it should not: 16 lessons left.
            #expect(try await Self.paidBack(store, world.enrollment.id) == 16 * 5_000)
            #expect(try await Self.breaches(store) == [])
        }
    }

    // MARK: Finding 4

    /// A guardian's open claim on the risk policy filed before the mark no longer displaces the fast-track's: the case's
    /// referred claim is created for the whole planned layer, the earlier one closed with a pointer to it, and the case's
    /// referred figure equals what the insurer's queue holds.
    @Test func theCaseFilesItsReferredClaimWhateverTheGuardianFiledBefore() async throws {
        try await TestDatabase.withStore("mi_early") { store in
            let insured = try await Insured.make(store)
            let early = try await insured.file(store, claimed: .yuan(100))
            #expect(early.status == .referred)
            let marked = try await Self.mark(store, insured.world.institution.id)
            let finished = try await FastTrackJob(store: store).run(marked.id)
            let claims = try await insured.jobClaims(store, marked.id)
            let job = try #require(claims.first)
            #expect(claims.count == 1 && job.status == .referred && job.layer == "risk_policy")
            // 40 lessons at ¥80, 2 consumed: 304,000 owed; the risk policy covers 80 % of it, and 80 % of the 16,000 of
            // disputed lessons a person may add back: ⌊320,000 × 80 %⌋ − 243,200.
            #expect(job.approvableFen == Money(fen: 243_200) && job.contestedFen == Money(fen: 12_800))
            let closed = try #require(try await ClaimRepository(store: store).claim(early.id, scope: scopeOf(.insurer(insured.insurer))))
            #expect(closed.status == .closed && closed.supersededBy == job.id)
            #expect(closed.decisionReason?.hasPrefix("superseded_by_fast_track") == true)
            #expect(finished.referredFen == job.approvableFen)
        }
    }

    /// A referred enrollment with a risk-control and a tuition layer: a person may add the contested lessons back on
    /// both, the risk policy its 80 % share of them and the tuition policy the rest, and whichever insurer pays first the
    /// guardian ends with everything it paid back.
    @Test func bothInsuranceLayersAddBackTheirPartOfTheContestedLessonsInEitherOrder() async throws {
        try await TestDatabase.withStore("mi_layers") { store in
            for riskFirst in [true, false] {
                let insured = try await Insured.make(store)
                let tuitionProduct = try await InsuranceRepository(store: store).createProduct(
                    NewInsuranceProduct(kind: .studentTuition, premiumRateBasisPoints: 100), insurer: insured.insurer)
                let today = BusinessDate(shanghaiDateOf: store.dependencies.now())
                _ = try await store.transaction {
                    try await InsuranceRepository(store: store).buyTuitionPolicy(
                        NewTuitionPolicy(
                            productId: tuitionProduct.id, sumInsuredFen: .yuan(3_200), periodStart: today, periodEnd: today.addingMonths(3)),
                        enrollment: insured.world.enrollment.id, guardian: insured.world.guardian, key: "tuition:\(riskFirst)", on: $0)
                }
                let marked = try await Self.mark(store, insured.world.institution.id)
                _ = try await FastTrackJob(store: store).run(marked.id)
                let claims = try await insured.jobClaims(store, marked.id)
                let risk = try #require(claims.first { $0.layer == "risk_policy" })
                let tuition = try #require(claims.first { $0.layer == "tuition_policy" })
                // 304,000 owed: 243,200 on the risk policy, 60,800 on the tuition policy; 16,000 contested, of which the
                // risk policy covers ⌊320,000 × 80 %⌋ − 243,200 = 12,800 and the tuition policy 3,200.
                #expect(risk.approvableFen == Money(fen: 243_200) && risk.contestedFen == Money(fen: 12_800))
                #expect(tuition.approvableFen == Money(fen: 60_800) && tuition.contestedFen == Money(fen: 3_200))
                let repository = ClaimRepository(store: store)
                for claim in riskFirst ? [risk, tuition] : [tuition, risk] {
                    let most = Money(fen: claim.approvableFen.fen + claim.contestedFen.fen)
                    _ = try await repository.approve(claim.id, insurer: insured.insurer, amount: most, reason: "核实：两节课未上")
                    #expect(try await insured.pay(store, claim.id).paidFen == most, "risk first: \(riskFirst)")
                }
                #expect(try await Self.paidBack(store, insured.world.enrollment.id) == 320_000, "risk first: \(riskFirst)")
            }
            #expect(try await Self.breaches(store) == [])
        }
    }

    /// A rejected referral leaves its layer uncovered, in the case's figures and in the enrollment's settlement alike.
    @Test func aRejectedReferralIsUncoveredOnTheSettlementToo() async throws {
        try await TestDatabase.withStore("mi_rejectref") { store in
            let insured = try await Insured.make(store)
            let marked = try await Self.mark(store, insured.world.institution.id)
            _ = try await FastTrackJob(store: store).run(marked.id)
            let job = try #require(try await insured.jobClaims(store, marked.id).first)
            let planned = try #require(try await Self.settlement(store, marked.id))
            #expect(planned.riskPolicyFen == job.claimedFen && planned.status == .referred)
            _ = try await ClaimRepository(store: store).reject(job.id, insurer: insured.insurer, reason: "课时记录存疑")
            let after = try #require(try await Self.settlement(store, marked.id))
            #expect(after.riskPolicyFen == .zero && after.uncoveredFen.fen == planned.uncoveredFen.fen + job.claimedFen.fen)
            let figures = try #require(try await DefunctRepository(store: store).caseForOperator(marked.id))
            #expect(figures.uncoveredFen == after.uncoveredFen && figures.referredFen == .zero)
            #expect(try await Self.breaches(store) == [])
        }
    }

    /// The one settlement of a case with one enrollment, as its district's bureau reads it.
    static func settlement(_ store: Store, _ id: DefunctCase.ID) async throws -> SettlementRecord? {
        try await DefunctRepository(store: store).settlements(
            of: id, scope: Scope(.regulator(DistrictCode(district)!)), status: nil, page: PageRequest())?.items.first
    }

    /// A defunct case's referred claim approved above what its policy has left takes what is left (its guardian can file
    /// nothing more), rather than being closed with the money unreachable.
    @Test func aCaseClaimTakesWhatIsLeftOfItsPolicy() async throws {
        try await TestDatabase.withStore("mi_caseleft") { store in
            let insured = try await Insured.make(store, sum: .yuan(2_500))
            let marked = try await Self.mark(store, insured.world.institution.id)
            _ = try await FastTrackJob(store: store).run(marked.id)
            let claim = try #require(try await insured.jobClaims(store, marked.id).first)
            #expect(claim.approvableFen == Money(fen: 243_200) && claim.contestedFen == Money(fen: 12_800))
            _ = try await ClaimRepository(store: store).approve(
                claim.id, insurer: insured.insurer, amount: Money(fen: 256_000), reason: "核实")
            let paid = try await insured.pay(store, claim.id)
            #expect(paid.status == .paid && paid.paidFen == .yuan(2_500) && paid.approvedFen == .yuan(2_500))
            // The lowered approval is in the log before the payment, as any decision is.
            let decided = try await store.query(
                """
                SELECT count(*)::int FROM evidence_queue
                WHERE convert_from(entry, 'UTF8') LIKE \("%\"amountFen\":250000,%claim:\(claim.id):approved%")
                """)
            for try await count in decided.decode(Int.self) { #expect(count == 1) }
            let after = try #require(try await DefunctRepository(store: store).caseForOperator(marked.id))
            #expect(after.paidRiskPolicyFen == .yuan(2_500) && after.referredFen == .zero)
            #expect(try await Self.breaches(store) == [])
        }
    }

    /// Two guardians' referred case claims on one risk-control policy that holds their planned amounts (243,200 and
    /// 51,200) and 1,000 fen more: each enrollment has two disputed lessons.
    static func twoReferrals(_ store: Store) async throws -> (Insured, first: ClaimRecord, other: ClaimRecord) {
        let insured = try await Insured.make(store, sum: Money(fen: 243_200 + 51_200 + 1_000))
        let second = try await insured.world.anotherEnrollment(store, lessons: 10)
        try await pay(store, second, guardian: insured.world.guardian)
        let lesson = try await lessons(store, second, 2)
        _ = try await EnrollmentRepository(store: store).answerLesson(lesson.id, guardian: insured.world.guardian, dispute: "没有上课")
        let marked = try await mark(store, insured.world.institution.id)
        _ = try await FastTrackJob(store: store).run(marked.id)
        let claims = try await insured.jobClaims(store, marked.id)
        let first = try #require(claims.first { $0.enrollmentId == insured.world.enrollment.id })
        let other = try #require(claims.first { $0.enrollmentId == second.id })
        return (insured, first, other)
    }

    /// Two referred case claims share the risk-control policy, which holds their planned amounts and 1,000 fen more. A
    /// person adding back the first one's disputed lessons takes only that 1,000: the second guardian's planned share
    /// stays set aside, and both claims are then paid (before, the first took 12,800 and the second was cut to 39,400).
    @Test func anAddBackNeverTakesAnotherReferralsPlannedShare() async throws {
        try await TestDatabase.withStore("mi_reserved") { store in
            let (insured, first, other) = try await Self.twoReferrals(store)
            #expect(first.status == .referred && first.approvableFen == Money(fen: 243_200) && first.contestedFen == Money(fen: 12_800))
            #expect(other.status == .referred && other.approvableFen == Money(fen: 51_200))
            let repository = ClaimRepository(store: store)
            _ = try await repository.approve(first.id, insurer: insured.insurer, amount: Money(fen: 256_000), reason: "核实：两节课未上")
            let paidFirst = try await insured.pay(store, first.id)
            #expect(paidFirst.status == .paid && paidFirst.paidFen == Money(fen: 244_200) && paidFirst.approvedFen == Money(fen: 244_200))
            _ = try await repository.approve(other.id, insurer: insured.insurer, amount: other.approvableFen)
            let paidOther = try await insured.pay(store, other.id)
            #expect(paidOther.status == .paid && paidOther.paidFen == Money(fen: 51_200))
            let remaining = try await store.query("SELECT remaining_fen FROM policies WHERE id = \(insured.riskPolicy.id.uuid)")
            for try await fen in remaining.decode(Int64.self) { #expect(fen == 0) }
            #expect(try await Self.breaches(store) == [])
        }
    }

    /// What is set aside for another referral is its approval once approved lower than planned: a person found the
    /// other guardian's lessons given after all, and the first guardian's add-back may use what that freed.
    @Test func anAddBackMayUseWhatAnotherReferralsLowerApprovalFreed() async throws {
        try await TestDatabase.withStore("mi_freed") { store in
            let (insured, first, other) = try await Self.twoReferrals(store)
            let repository = ClaimRepository(store: store)
            _ = try await repository.approve(other.id, insurer: insured.insurer, amount: Money(fen: 41_200))
            _ = try await repository.approve(first.id, insurer: insured.insurer, amount: Money(fen: 256_000), reason: "核实：两节课未上")
            let paidFirst = try await insured.pay(store, first.id)
            #expect(paidFirst.status == .paid && paidFirst.paidFen == Money(fen: 254_200))
            #expect(try await insured.pay(store, other.id).paidFen == Money(fen: 41_200))
            #expect(try await Self.breaches(store) == [])
        }
    }

    // MARK: Finding 5

    /// A person may approve a referred claim up to the entitlement including the disputed lessons, with a reason.
    @Test func aPersonMayAddBackDisputedLessonsWithAReason() async throws {
        try await TestDatabase.withStore("mi_addback") { store in
            let insured = try await Insured.make(store)
            let marked = try await Self.mark(store, insured.world.institution.id)
            _ = try await FastTrackJob(store: store).run(marked.id)
            let job = try #require(try await insured.jobClaims(store, marked.id).first)
            let claims = ClaimRepository(store: store)
            let most = Money(fen: job.approvableFen.fen + job.contestedFen.fen)
            #expect(
                try await rejection { _ = try await claims.approve(job.id, insurer: insured.insurer, amount: most) } == .additionNeedsReason
            )
            #expect(
                try await rejection {
                    _ = try await claims.approve(job.id, insurer: insured.insurer, amount: Money(fen: most.fen + 1), reason: "核实")
                } == .approvalExceedsApprovable)
            // The bureau may decide the referral too, always with a reason; another district's bureau does not see it.
            await #expect(throws: NotFound.self) {
                _ = try await claims.approve(job.id, regulator: DistrictCode("330299")!, amount: most, reason: "x")
            }
            #expect(
                try await rejection {
                    _ = try await claims.approve(job.id, regulator: DistrictCode(Self.district)!, amount: most, reason: nil)
                }
                    == .additionNeedsReason)
            let approved = try await claims.approve(
                job.id, regulator: DistrictCode(Self.district)!, amount: most, reason: "核实：两节课未上")
            #expect(approved.status == .approved && approved.approvedFen == most)
            let paid = try await insured.pay(store, job.id)
            #expect(paid.status == .paid && paid.paidFen == most)
            // Escrow nothing (reserve mode), reserve nothing: the policy paid 243,200 and its 80 % of the 16,000 of disputed
            // lessons, 12,800.
            #expect(most == Money(fen: 256_000))
            #expect(try await Self.paidBack(store, insured.world.enrollment.id) == most.fen)
            let after = try #require(try await DefunctRepository(store: store).caseForOperator(marked.id))
            #expect(after.paidRiskPolicyFen == most && after.referredFen == .zero)
            #expect(after.entitledFen.fen == 304_000 + 12_800)
            // The enrollment's settlement follows the decision, as the case's figures do: its layer is what was paid.
            let settlement = try #require(try await Self.settlement(store, marked.id))
            #expect(settlement.riskPolicyFen == most && settlement.entitlementFen.fen == 304_000 + 12_800)
            #expect(try await Self.breaches(store) == [])
        }
    }

    // MARK: Finding 6

    /// The case's figures follow the insurers' later decisions; an approved claim on an exhausted policy is closed.
    @Test func caseFiguresFollowLaterPayoutsAndExhaustedPoliciesCloseClaims() async throws {
        try await TestDatabase.withStore("mi_live") { store in
            let insured = try await Insured.make(store)
            let second = try await insured.world.anotherEnrollment(store, lessons: 10)
            try await Self.pay(store, second, guardian: insured.world.guardian)
            let lesson = try await Self.lessons(store, second, 1)
            _ = try await EnrollmentRepository(store: store).answerLesson(lesson.id, guardian: insured.world.guardian, dispute: "没有上课")
            let marked = try await Self.mark(store, insured.world.institution.id)
            let done = try await FastTrackJob(store: store).run(marked.id)
            let jobs = try await insured.jobClaims(store, marked.id)
            #expect(jobs.count == 2 && done.referredFen.fen == jobs.reduce(0) { $0 + $1.approvableFen.fen })
            let claims = ClaimRepository(store: store)
            let (paidOne, rejectedOne) = (jobs[0], jobs[1])
            _ = try await claims.approve(paidOne.id, insurer: insured.insurer, amount: paidOne.approvableFen)
            _ = try await insured.pay(store, paidOne.id)
            _ = try await claims.reject(rejectedOne.id, insurer: insured.insurer, reason: "课时记录属实")
            let after = try #require(try await DefunctRepository(store: store).caseForOperator(marked.id))
            #expect(after.paidRiskPolicyFen == paidOne.approvableFen && after.referredFen == .zero)
            #expect(after.uncoveredFen.fen == done.uncoveredFen.fen + rejectedOne.approvableFen.fen)
            #expect(try await Self.breaches(store) == [])
        }
        try await TestDatabase.withStore("mi_exhausted") { store in
            let insured = try await Insured.make(store, disputed: 0, sum: .yuan(1_000))
            let second = try await insured.world.anotherEnrollment(store, lessons: 10)
            try await Self.pay(store, second, guardian: insured.world.guardian)
            let one = try await insured.file(store, claimed: .yuan(1_000))
            let two = try await insured.file(store, second, claimed: .yuan(500))
            let claims = ClaimRepository(store: store)
            _ = try await claims.approve(one.id, insurer: insured.insurer, amount: .yuan(1_000))
            _ = try await claims.approve(two.id, insurer: insured.insurer, amount: .yuan(500))
            #expect(try await insured.pay(store, one.id).status == .paid)
            let closed = try await insured.pay(store, two.id)
            #expect(closed.status == .closed && closed.decisionReason == "policy_exhausted")
            #expect(try await Self.paidBack(store, second.id) == 0)
        }
    }

    // MARK: Finding 7

    /// The case's claims tell their story under their own ids; the institution's funds go out as `funds_returned`;
    /// nothing referred is logged as paid.
    @Test func theLogTellsEachCaseClaimsStory() async throws {
        try await TestDatabase.withStore("mi_story") { store in
            let insured = try await Insured.make(store, mode: .escrow, disputed: 0)
            // Escrow mode pays this one in full from escrow; a second institution in reserve mode draws on insurance.
            let reserve = try await Insured.make(store)
            let clean = try await reserve.world.anotherEnrollment(store, lessons: 10)
            try await Self.pay(store, clean, guardian: reserve.world.guardian)
            var cases: [DefunctCase.ID] = []
            for world in [insured.world, reserve.world] {
                let marked = try await Self.mark(store, world.institution.id)
                cases.append(try await FastTrackJob(store: store).run(marked.id).id)
            }
            let events = try await Self.events(store)
            let escrowReturn = events.filter { $0.kind == .fundsReturned && $0.enrollmentId == insured.world.enrollment.id }
            #expect(escrowReturn.map(\.amountFen) == [insured.world.enrollment.amountFen])
            #expect(!events.contains { $0.kind == .claimPaid && $0.reference?.hasPrefix("defunct:") == true })
            let jobs = try await reserve.jobClaims(store, cases[1])
            #expect(jobs.count == 2 && Set(jobs.map(\.status)) == [.paid, .referred])
            for claim in jobs {
                let story = events.filter { $0.reference?.hasPrefix("claim:\(claim.id)") == true }.map(\.kind)
                #expect(story == (claim.status == .paid ? [.claimFiled, .claimDecided, .claimPaid] : [.claimFiled, .claimDecided]))
                let paidEvent = events.first { $0.kind == .claimPaid && $0.reference == "claim:\(claim.id)" }
                #expect(paidEvent?.amountFen == (claim.status == .paid ? claim.paidFen : nil))
            }
        }
    }

    /// The effective time a regulator gives is the one the case keeps and the log tells, to the microsecond: PostgresNIO's
    /// own encoding stored about a quarter of whole-millisecond instants 1 µs early, and the event named the millisecond
    /// given while the case held the microsecond before it.
    @Test func aMarksEffectiveTimeIsKeptAndLoggedExactly() async throws {
        try await TestDatabase.withStore("mi_effective") { store in
            let world = try await World.make(store, district: Self.district, mode: .escrow, pricePerLessonFen: 5_000, lessons: 20)
            let given = "2026-03-01T00:00:00.021Z"
            let marked = try await Self.mark(store, world.institution.id, effectiveAt: try #require(parseRFC3339(given)))
            var stored: Int64 = 0
            for try await micros in try await store.query(
                "SELECT (extract(epoch FROM effective_at) * 1000000)::bigint FROM defunct_cases WHERE id = \(marked.id.uuid)"
            ).decode(Int64.self) { stored = micros }
            #expect(stored == 1_772_323_200_021_000)
            let event = try #require(try await Self.events(store).first { $0.kind == .institutionDefunct })
            #expect(event.reference == "defunct:\(marked.id):effective:1772323200021")
        }
    }

    // MARK: No case sticks

    /// A chunk the ledger refuses blocks the case with its reason (and an evidence event) instead of retrying for ever;
    /// running it again once the cause is gone completes it.
    @Test func aChunkTheLedgerRefusesBlocksTheCaseWithItsReason() async throws {
        try await TestDatabase.withStore("mi_blocked") { store in
            let world = try await World.make(store, district: Self.district, mode: .escrow, pricePerLessonFen: 5_000, lessons: 20)
            try await Self.pay(store, world.enrollment, guardian: world.guardian)
            try await store.query(
                """
                CREATE FUNCTION refuse_chunk() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN RAISE EXCEPTION 'escrow short' USING ERRCODE = 'check_violation', CONSTRAINT = 'restricted_account_not_negative';
                END $$
                """)
            try await store.query(
                "CREATE TRIGGER refuse BEFORE UPDATE OF enrollments_done ON defunct_cases FOR EACH ROW EXECUTE FUNCTION refuse_chunk()")
            let marked = try await Self.mark(store, world.institution.id)
            let blocked = try await FastTrackJob(store: store).run(marked.id)
            #expect(blocked.status == .blocked && blocked.blockedReason == "a chunk was refused: insufficient_funds")
            #expect(try await DefunctRepository(store: store).unfinishedCases().isEmpty, "a blocked case is not retried silently")
            #expect(
                try await Self.events(store).contains {
                    $0.kind == .defunctCaseBlocked && $0.reference?.hasSuffix("insufficient_funds") == true
                })
            // The service's runs (its sweep, a mark's start) leave a blocked case blocked, with one event, even when the
            // cause is gone: only a person's run resumes it.
            try await store.query("DROP TRIGGER refuse ON defunct_cases")
            let byTheService = try await FastTrackJob(store: store).run(marked.id, resumingBlocked: false)
            #expect(byTheService.status == .blocked && byTheService.enrollmentsDone == blocked.enrollmentsDone)
            #expect(try await Self.events(store).filter { $0.kind == .defunctCaseBlocked }.count == 1)
            let finished = try await FastTrackJob(store: store).run(marked.id)
            #expect(finished.status == .completed && finished.blockedReason == nil)
            #expect(try await Self.breaches(store) == [])
        }
    }

    // MARK: One position

    /// The SQL view `enrollment_positions` and the core's `EnrollmentPosition` agree on every enrollment of random
    /// districts, before and after their fast-tracks, with claims paid on some.
    @Test func theSQLPositionAgreesWithTheCore() async throws {
        let seed = ProcessInfo.processInfo.environment["TUITIONGUARD_TEST_SEED"].flatMap { UInt64($0) } ?? .random(in: 1 ... .max)
        print("position seed: \(seed)")
        let clock = TestClock()
        try await TestDatabase.withStore("mi_position", clock: clock) { store in
            var random = SeededGenerator(state: seed)
            var compared = 0
            for index in 0..<4 {
                let scenario = try await FastTrackStoreTests.build(store, clock: clock, random: &random, index: index)
                compared += try await Self.comparePositions(store, scenario.enrollments, seed: seed)
                if index.isMultiple(of: 2) {
                    let marked = try await DefunctRepository(store: store).mark(
                        scenario.institution.id, district: "330204", effectiveAt: scenario.effectiveAt, reason: "停业")
                    compared += try await Self.comparePositions(store, scenario.enrollments, seed: seed)
                    _ = try await FastTrackJob(store: store, chunkSize: 3).run(marked.id)
                    compared += try await Self.comparePositions(store, scenario.enrollments, seed: seed)
                }
            }
            #expect(compared > 0)
            #expect(try await Self.breaches(store) == [], "seed \(seed)")
        }
    }

    static func comparePositions(_ store: Store, _ ids: [Enrollment.ID], seed: UInt64) async throws -> Int {
        let rows = try await store.query(
            """
            SELECT enrollment_id, consumed_fen, outstanding_fen, entitlement_fen, return_due_fen, escrow_held_fen
            FROM enrollment_positions WHERE enrollment_id = ANY(\(ids.map(\.uuid)))
            """)
        var compared = 0
        for try await (id, consumed, outstanding, entitled, returnDue, held) in rows.decode((UUID, Int64, Int64, Int64, Int64, Int64).self)
        {
            let position = try await Self.enrollment(store, .init(id), district: "330204").position
            let core = [position.consumedValue, position.outstanding, position.entitlement, position.returnDue, position.escrowHeld]
            #expect(core.map(\.fen) == [consumed, outstanding, entitled, returnDue, held], "seed \(seed), enrollment \(id)")
            compared += 1
        }
        return compared
    }
}
