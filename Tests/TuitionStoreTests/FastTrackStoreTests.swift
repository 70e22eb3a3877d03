import Foundation
import PostgresNIO
import Testing
import TuitionCore
import TuitionTestSupport
import TuitionWire

@testable import TuitionStore

/// The defunct fast-track against a real database: random districts settled by the set-based SQL job, compared to the fen
/// with the core's pure functions run on the same ledger facts.
@Suite struct FastTrackStoreTests {
    static let day: TimeInterval = 86_400

    /// One random institution's history, built through the repositories with the clock moving forward.
    struct Scenario {
        let institution: InstitutionRecord
        let enrollments: [Enrollment.ID]
        let effectiveAt: Date
    }

    /// What the core says one case should pay, from the facts as they stood at the mark.
    struct Expectation {
        var payouts: [Enrollment.ID: WaterfallPayout] = [:]
        var assessments: [Enrollment.ID: ClaimAssessment] = [:]
        var entitlements: [Enrollment.ID: Money] = [:]
        /// What guardians' own claims paid back before the mark.
        var paidBefore: [Enrollment.ID: Money] = [:]
    }

    static func build(_ store: Store, clock: TestClock, random: inout SeededGenerator, index: Int) async throws -> Scenario {
        let parties = PartyRepository(store: store)
        let enrollments = EnrollmentRepository(store: store)
        let insurance = InsuranceRepository(store: store)
        let district = DistrictCode("330204")!
        try await parties.ensureDistrict(district)
        let mode: SupervisionMode = index.isMultiple(of: 2) ? .escrow : .reserve
        let institution = try await parties.registerInstitution(
            NewInstitution(
                licenceNumber: "FT-\(index)-\(UInt32.random(in: .min ... .max))", name: "机构\(index)", address: "宁波市鄞州区",
                creditCode: "52330204MJ000000\(index)X", licenceValidUntil: BusinessDate(shanghaiDateOf: clock.now).addingMonths(24),
                supervisionMode: mode, reserveRatioBasisPoints: mode == .reserve ? 2_000 : 0),
            district: district)
        let course = try await parties.createCourse(
            NewCourse(
                title: "课程", category: .academic, pricePerLessonFen: Money(fen: Int64.random(in: 1...8_000, using: &random)),
                lessonMinutes: 45, lessonsPerWeek: Int.random(in: 1...3, using: &random)),
            institution: institution.id)
        let insurer = try await parties.createInsurer(name: "保险\(index)")
        let tuitionProduct = try await insurance.createProduct(
            NewInsuranceProduct(kind: .studentTuition, premiumRateBasisPoints: 200), insurer: insurer)
        let today = BusinessDate(shanghaiDateOf: clock.now)
        if Int.random(in: 0..<3, using: &random) > 0 {
            let riskProduct = try await insurance.createProduct(
                NewInsuranceProduct(
                    kind: .institutionRisk, premiumRateBasisPoints: 100,
                    coveredShareBasisPoints: Int.random(in: 1...10_000, using: &random),
                    limitFen: .yuan(1_000_000)),
                insurer: insurer)
            _ = try await store.transaction {
                try await insurance.issueRiskPolicy(
                    NewRiskPolicy(
                        productId: riskProduct.id, institutionId: institution.id,
                        sumInsuredFen: Money(fen: Int64.random(in: 1...3_000_000, using: &random)), periodStart: today,
                        periodEnd: today.addingMonths(12)),
                    insurer: insurer, key: "risk:\(institution.id)", on: $0)
            }
        }
        if Bool.random(using: &random) {
            _ = try await store.transaction {
                try await enrollments.topUpReserve(
                    institution: institution.id, amount: Money(fen: Int64.random(in: 1...2_000_000, using: &random)),
                    key: "reserve:\(institution.id)", on: $0)
            }
        }

        var guardians: [(Guardian.ID, StudentRecord)] = []
        for family in 0..<Int.random(in: 2...5, using: &random) {
            let guardian = try await parties.createGuardian(name: "家长\(family)")
            let student = try await parties.createStudent(NewStudent(name: "学生\(family)"), guardian: guardian)
            guardians.append((guardian, student))
        }
        var made: [EnrollmentRecord] = []
        for _ in 0..<Int.random(in: 4...14, using: &random) {
            let (guardian, student) = guardians.randomElement(using: &random)!
            let enrollment = try await enrollments.create(
                NewEnrollment(
                    studentId: student.id, courseId: course.id, lessons: Int.random(in: 1...60, using: &random),
                    termStart: today, termEnd: today.addingMonths(3)),
                institution: institution.id, guardian: guardian)
            made.append(enrollment)
            guard Int.random(in: 0..<10, using: &random) > 0 else { continue }
            try await TestContracts.sign(store, enrollment)
            _ = try await store.transaction {
                try await enrollments.pay(enrollment.id, guardian: guardian, amount: enrollment.amountFen, on: $0)
            }
            if Int.random(in: 0..<5, using: &random) < 2 {
                let sum = Money(fen: Int64.random(in: 1...enrollment.amountFen.fen, using: &random))
                _ = try await store.transaction {
                    try await insurance.buyTuitionPolicy(
                        NewTuitionPolicy(
                            productId: tuitionProduct.id, sumInsuredFen: sum, periodStart: today, periodEnd: today.addingMonths(3)),
                        enrollment: enrollment.id, guardian: guardian, key: "tuition:\(enrollment.id)", on: $0)
                }
            }
        }

        // Forty days of teaching, refunds and disputes; then the effective time; then a day of lessons the institution
        // records after it but before the bureau's mark, which must not count.
        for _ in 0..<Int.random(in: 5...30, using: &random) {
            clock.advance(by: Double.random(in: 0.1...3, using: &random) * day)
            try await randomOperation(store, made, guardians: guardians, clock: clock, random: &random)
        }
        let effectiveAt = clock.now
        clock.advance(by: 0.5 * day)
        for _ in 0..<Int.random(in: 0...4, using: &random) {
            try await randomOperation(store, made, guardians: guardians, clock: clock, random: &random)
        }
        clock.advance(by: 0.5 * day)
        return Scenario(institution: institution, enrollments: made.map(\.id), effectiveAt: effectiveAt)
    }

    /// Lessons (sometimes a burst), a dispute, a refund, or a guardian's claim paid by an insurer on a random enrollment;
    /// refusals are part of the game.
    static func randomOperation(
        _ store: Store, _ made: [EnrollmentRecord], guardians: [(Guardian.ID, StudentRecord)], clock: TestClock,
        random: inout SeededGenerator
    ) async throws {
        let enrollments = EnrollmentRepository(store: store)
        let enrollment = made.randomElement(using: &random)!
        let today = BusinessDate(shanghaiDateOf: clock.now)
        switch Int.random(in: 0..<10, using: &random) {
        case 0..<6:
            let lessons = Int.random(in: 1...12, using: &random)
            let recorded = try? await store.transaction {
                try await enrollments.recordLessons(
                    enrollment.id, institution: enrollment.institutionId, lessons: lessons, takenOn: today, on: $0)
            }
            if let recorded, Int.random(in: 0..<4, using: &random) == 0 {
                _ = try? await enrollments.answerLesson(recorded.id, guardian: enrollment.guardianId, dispute: "没有上课")
            }
        case 6..<8:
            _ = try? await store.transaction {
                try await enrollments.refund(
                    enrollment.id, institution: enrollment.institutionId, lessons: Int.random(in: 1...5, using: &random), reason: "退课",
                    on: $0)
            }
        default:
            // One in five: paid claims before the mark, on either policy, are what the risk layer's cap turns on.
            try await claimAndPay(store, enrollment, random: &random)
        }
    }

    /// A guardian's `refund_refused` claim on a policy covering the enrollment (its tuition policy or the institution's
    /// risk-control policy), approved as the checks found it and paid: what the plan must count as already paid back,
    /// and, on the risk policy, against its share.
    static func claimAndPay(_ store: Store, _ enrollment: EnrollmentRecord, random: inout SeededGenerator) async throws {
        let rows = try await store.query(
            """
            SELECT id, insurer_id FROM policies
            WHERE enrollment_id = \(enrollment.id.uuid) OR (institution_id = \(enrollment.institutionId.uuid) AND kind = 'institution_risk')
            ORDER BY id
            """)
        var covering: [(UUID, UUID)] = []
        for try await row in rows.decode((UUID, UUID).self) { covering.append(row) }
        guard let (policy, insurer) = covering.randomElement(using: &random) else { return }
        let claims = ClaimRepository(store: store)
        let claimed = Money(fen: Int64.random(in: 1...enrollment.amountFen.fen, using: &random))
        let filed = try? await store.transaction {
            try await claims.file(
                NewClaim(enrollmentId: enrollment.id, policyId: .init(policy), reason: .refundRefused, claimedFen: claimed),
                guardian: enrollment.guardianId, on: $0)
        }
        guard let filed, filed.status == .verified else { return }
        _ = try await claims.approve(filed.id, insurer: .init(insurer), amount: filed.approvableFen)
        _ = try await store.transaction { try await claims.pay(filed.id, insurer: .init(insurer), on: $0) }
    }

    /// The core's answer for the case, from the same facts the job reads (taken after the mark, before the job).
    static func expect(_ store: Store, _ scenario: Scenario) async throws -> Expectation {
        let claims = ClaimRepository(store: store)
        let institutionScope = scopeOf(.institution(scenario.institution.id))
        var policies: [Policy] = []
        var shares: [Policy.ID: Int] = [:]
        let rows = try await store.query(
            """
            SELECT \(unescaped: PolicyRecord.columns), ip.covered_share_bp FROM policies p
            JOIN insurance_products ip ON ip.id = p.product_id WHERE p.institution_id = \(scenario.institution.id.uuid)
            """)
        for try await row in rows {
            let record = try PolicyRecord(row: row, now: Date())
            policies.append(try record.policy)
            shares[record.id] = try row.makeRandomAccess()[15].decode(Int?.self)
        }
        let risk = riskPolicyInForce(policies, institution: scenario.institution.id, at: scenario.effectiveAt)
        var expectation = Expectation()
        var inputs: [WaterfallEnrollment] = []
        // Read before the transaction below: a task holding a connection never leases another (`NestedLease`).
        var enrollments: [Enrollment.ID: EnrollmentRecord] = [:]
        var riskPaid: [Enrollment.ID: Money] = [:]
        for id in scenario.enrollments {
            enrollments[id] = try #require(try await EnrollmentRepository(store: store).enrollment(id, scope: institutionScope))
            riskPaid[id] = try await paid(store, on: risk?.id, for: id)
        }
        try await store.transaction { connection in
            for id in scenario.enrollments {
                let enrollment = try #require(enrollments[id])
                let facts = try await claims.ledgerFacts(of: enrollment, on: connection)
                expectation.entitlements[id] = entitlement(of: facts, asOf: scenario.effectiveAt)
                expectation.paidBefore[id] = facts.claimPayouts
                guard let assessment = assessSettlement(facts, effectiveAt: scenario.effectiveAt) else { continue }
                expectation.assessments[id] = assessment
                // What the escrow holds: paid, less what it released, refunded and paid back on claims before the mark
                // (a guardian's claim is paid from the escrow first).
                let escrowHeld =
                    enrollment.supervisionMode == .escrow
                    ? enrollment.paidFen.fen - enrollment.releasedFen.fen - enrollment.refundedFen.fen
                        - enrollment.position.escrowReturned.fen : 0
                let tuition = policies.first { $0.insured == .enrollment(id, guardian: enrollment.guardianId) }
                inputs.append(
                    WaterfallEnrollment(
                        id: id, entitlement: assessment.entitlement, escrowHeld: Money(fen: escrowHeld),
                        tuitionPolicyRemaining: tuitionPolicyCover(tuition, at: scenario.effectiveAt),
                        unconsumed: Money(fen: unconsumedTuition(of: facts, asOf: scenario.effectiveAt).fen + facts.addedBack.fen),
                        riskPolicyPaid: try #require(riskPaid[id])))
            }
        }
        let reserveRows = try await store.query(
            "SELECT credits_fen - debits_fen FROM accounts WHERE institution_id = \(scenario.institution.id.uuid) AND kind = 'reserve'")
        var reserve: Int64 = 0
        for try await balance in reserveRows.decode(Int64.self) { reserve = balance }
        let cover = risk.map { RiskPolicyCover(coveredShareBasisPoints: shares[$0.id]!, remaining: $0.remaining) }
        for payout in waterfall(WaterfallInput(enrollments: inputs, reserveBalance: Money(fen: reserve), riskPolicy: cover)) {
            expectation.payouts[payout.enrollment] = payout
        }
        return expectation
    }

    /// What `policy` paid on the enrollment through guardians' claims (zero without a policy).
    static func paid(_ store: Store, on policy: Policy.ID?, for enrollment: Enrollment.ID) async throws -> Money {
        guard let policy else { return .zero }
        let rows = try await store.query(
            """
            SELECT coalesce(sum(insurer_paid_fen), 0)::bigint FROM claims
            WHERE policy_id = \(policy.uuid) AND enrollment_id = \(enrollment.uuid) AND status = 'paid'
            """)
        for try await sum in rows.decode(Int64.self) { return Money(fen: sum) }
        return .zero
    }

    static func settlements(_ store: Store, case id: DefunctCase.ID) async throws -> [SettlementRecord] {
        let rows = try await store.query(
            "SELECT \(unescaped: SettlementRecord.columns) FROM defunct_settlements s WHERE s.case_id = \(id.uuid) ORDER BY s.enrollment_id"
        )
        var found: [SettlementRecord] = []
        for try await row in rows { found.append(try SettlementRecord(row: row)) }
        return found
    }

    static func paidBack(_ store: Store, _ enrollment: Enrollment.ID) async throws -> Int64 {
        let rows = try await store.query(
            "SELECT coalesce(sum(amount_fen), 0)::bigint FROM transfers WHERE enrollment_id = \(enrollment.uuid) AND kind = 'payout'")
        for try await sum in rows.decode(Int64.self) { return sum }
        return 0
    }

    static func referredClaims(_ store: Store, institution: Institution.ID) async throws -> [(Claim.ID, Insurer.ID, Money)] {
        let rows = try await store.query(
            "SELECT id, insurer_id, approvable_fen FROM claims WHERE institution_id = \(institution.uuid) AND status = 'referred' ORDER BY id"
        )
        var found: [(Claim.ID, Insurer.ID, Money)] = []
        for try await (id, insurer, approvable) in rows.decode((UUID, UUID, Int64).self) {
            found.append((Claim.ID(id), Insurer.ID(insurer), Money(fen: approvable)))
        }
        return found
    }

    static func transferCount(_ store: Store) async throws -> Int {
        for try await count in try await store.query("SELECT count(*)::int FROM transfers").decode(Int.self) { return count }
        return 0
    }

    @Test func theSQLJobPaysWhatTheCoreComputesToTheFen() async throws {
        let seed = ProcessInfo.processInfo.environment["TUITIONGUARD_TEST_SEED"].flatMap { UInt64($0) } ?? .random(in: 1 ... .max)
        print("fast-track seed: \(seed)")
        let clock = TestClock()
        try await TestDatabase.withStore("fasttrack", clock: clock) { store in
            var random = SeededGenerator(state: seed)
            var everyPayout: [WaterfallPayout] = []
            var referred = 0
            for index in 0..<8 {
                let scenario = try await Self.build(store, clock: clock, random: &random, index: index)
                let marked = try await DefunctRepository(store: store).mark(
                    scenario.institution.id, district: "330204", effectiveAt: scenario.effectiveAt, reason: "负责人失联")
                // The effective time as stored (to the microsecond), as the job reads it.
                let stored = Scenario(institution: scenario.institution, enrollments: scenario.enrollments, effectiveAt: marked.effectiveAt)
                let expected = try await Self.expect(store, stored)
                let job = FastTrackJob(store: store, chunkSize: Int.random(in: 1...5, using: &random))
                let finished = try await job.run(marked.id)

                let settled = try await Self.settlements(store, case: marked.id)
                #expect(Set(settled.map(\.enrollmentId)) == Set(expected.payouts.keys), "seed \(seed): the same enrollments are owed")
                for settlement in settled {
                    let payout = try #require(expected.payouts[settlement.enrollmentId])
                    let assessment = try #require(expected.assessments[settlement.enrollmentId])
                    let layers = [
                        settlement.entitlementFen, settlement.escrowFen, settlement.reserveFen, settlement.riskPolicyFen,
                        settlement.tuitionPolicyFen, settlement.uncoveredFen,
                    ]
                    let core = [
                        payout.entitlement, payout.escrow, payout.reserve, payout.riskPolicy, payout.tuitionPolicy, payout.uncovered,
                    ]
                    #expect(layers == core, "seed \(seed), enrollment \(settlement.enrollmentId)")
                    #expect(settlement.checks == assessment.checks.map(ClaimCheckRecord.init), "seed \(seed)")
                    let referred = if case .refer = assessment.decision { true } else { false }
                    #expect(settlement.status == (referred ? .referred : .paid), "seed \(seed)")
                    let expectedBack =
                        payout.escrow.fen + payout.reserve.fen + (referred ? 0 : payout.riskPolicy.fen + payout.tuitionPolicy.fen)
                    let back = try await Self.paidBack(store, settlement.enrollmentId)
                    let before = expected.entitlements[settlement.enrollmentId]!
                    let paidBefore = expected.paidBefore[settlement.enrollmentId]?.fen ?? 0
                    #expect(back == expectedBack + paidBefore, "seed \(seed), enrollment \(settlement.enrollmentId)")
                    #expect(expectedBack <= before.fen, "seed \(seed): never more than the entitlement")
                }
                let totals = WaterfallTotals(Array(expected.payouts.values))
                everyPayout += expected.payouts.values
                referred += finished.referredCount
                #expect(finished.status == .completed && finished.enrollmentsDone == expected.payouts.count)
                #expect(finished.entitledFen == totals.entitlement && finished.uncoveredFen == totals.uncovered)
                #expect(finished.paidEscrowFen == totals.escrow && finished.paidReserveFen == totals.reserve)
                let referredInsurance = settled.filter { $0.status == .referred }.reduce(Int64(0)) {
                    $0 + $1.riskPolicyFen.fen + $1.tuitionPolicyFen.fen
                }
                #expect(finished.referredFen.fen == referredInsurance)
                #expect(
                    finished.paidRiskPolicyFen.fen + finished.paidTuitionPolicyFen.fen + referredInsurance
                        == totals.riskPolicy.fen + totals.tuitionPolicy.fen)

                // Running it again pays nothing twice.
                let transfers = try await Self.transferCount(store)
                let again = try await job.run(marked.id)
                #expect(try await Self.transferCount(store) == transfers && again == finished)

                // A person decides the referred claims: the insurer approves and pays each planned layer in full, and no
                // guardian ends up with more than the entitlement (the audit below re-derives it).
                let referred = try await Self.referredClaims(store, institution: scenario.institution.id)
                for (claim, insurer, approvable) in referred {
                    _ = try await ClaimRepository(store: store).approve(claim, insurer: insurer, amount: approvable)
                    let paid = try await store.transaction { try await ClaimRepository(store: store).pay(claim, insurer: insurer, on: $0) }
                    #expect(paid.status == .paid && paid.paidFen == approvable, "seed \(seed)")
                }
                #expect(referred.count <= settled.filter { $0.status == .referred }.count * 2)
            }
            #expect(try await auditBreaches(store) == [], "seed \(seed)")
            #expect(try await LedgerLogReconciliation(store: store).breaches() == [], "seed \(seed)")
            let seen = WaterfallTotals(everyPayout)
            print("fast-track layers exercised: \(seen), referred \(referred)")
        }
    }

    /// Issue #15: the bulk inserts skip the per-row foreign-key triggers; `assert_references` must then refuse any
    /// row whose reference is missing, for every foreign key of the table (the catalog's, not a hand-kept list), and
    /// let rows whose references hold (or are null) pass.
    @Test func theOncePerChunkReferenceCheckRefusesWhatTheTriggersWould() async throws {
        try await TestDatabase.withStore("fasttrackrefs") { store in
            let world = try await World.make(store)
            // Escrow holds the payment the test's payouts come from (their INSERT posts its totals, sql/0020).
            _ = try await store.transaction {
                try await EnrollmentRepository(store: store).pay(
                    world.enrollment.id, guardian: world.guardian, amount: world.enrollment.amountFen, on: $0)
            }
            let checked = ReferenceCheckedInserts(logger: store.logger)
            func insertTransfer(debit: String, enrollment: UUID?) async throws {
                _ = try await store.transaction { connection in
                    try await checked.run(into: "transfers", keyColumn: "id", on: connection) {
                        let rows = try await connection.query(
                            """
                            WITH written AS (
                                INSERT INTO transfers (idempotency_key, kind, debit_account_id, credit_account_id, amount_fen,
                                    institution_id, enrollment_id, created_at)
                                SELECT 'refcheck:' || gen_random_uuid(), 'payout', \(unescaped: debit),
                                    (SELECT id FROM accounts WHERE guardian_id = \(world.guardian.uuid)), 1, \(world.institution.id.uuid),
                                    \(enrollment), now()
                                RETURNING id)
                            SELECT min(id) AS low, max(id) AS high FROM written
                            """, logger: store.logger)
                        return try await KeyRange<Int64>.read(rows)
                    }
                }
            }
            let escrow = "(SELECT id FROM accounts WHERE institution_id = '\(world.institution.id.uuid)' AND kind = 'escrow')"
            try await insertTransfer(debit: escrow, enrollment: world.enrollment.id.uuid)
            try await insertTransfer(debit: escrow, enrollment: nil)
            for (debit, enrollment) in [("-42", world.enrollment.id.uuid), (escrow, UUID())] {
                await #expect {
                    try await insertTransfer(debit: debit, enrollment: enrollment)
                } throws: { error in
                    (error as? PSQLError)?.serverInfo?[.sqlState] == "23503"
                }
            }
            let written = try await store.query("SELECT count(*)::int FROM transfers WHERE idempotency_key LIKE 'refcheck:%'")
            for try await count in written.decode(Int.self) { #expect(count == 2) }
        }
    }

    /// A chunk that fails after writing its transfers rolls back whole; a rerun, and two runners racing, finish the case
    /// with every layer paid exactly once.
    @Test func aFailedChunkRollsBackAndRerunsPayEachLayerOnce() async throws {
        let clock = TestClock()
        try await TestDatabase.withStore("fasttrackcrash", clock: clock) { store in
            var random = SeededGenerator(state: 20_261_123)
            var scenario = try await Self.build(store, clock: clock, random: &random, index: 0)
            while scenario.enrollments.count < 6 {
                scenario = try await Self.build(store, clock: clock, random: &random, index: 0)
            }
            let marked = try await DefunctRepository(store: store).mark(
                scenario.institution.id, district: "330204", effectiveAt: scenario.effectiveAt, reason: "停业")
            let job = FastTrackJob(store: store, chunkSize: 2)
            try await job.plan(marked.id)
            #expect(try await job.settleChunk(marked.id) > 0)
            // The second chunk dies at its last statement, after its transfers and claims were written.
            try await store.query(
                """
                CREATE FUNCTION fail_second_chunk() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN RAISE EXCEPTION 'simulated crash'; END $$
                """)
            try await store.query(
                """
                CREATE TRIGGER crash BEFORE UPDATE OF enrollments_done ON defunct_cases FOR EACH ROW
                WHEN (OLD.enrollments_done > 0) EXECUTE FUNCTION fail_second_chunk()
                """)
            let transfersBefore = try await Self.transferCount(store)
            await #expect(throws: (any Error).self) { try await job.settleChunk(marked.id) }
            #expect(try await Self.transferCount(store) == transfersBefore, "the failed chunk left nothing behind")
            let stalled = try #require(
                try await DefunctRepository(store: store).defunctCase(marked.id, scope: scopeOf(.regulator(DistrictCode("330204")!))))
            #expect(stalled.status == .running && stalled.enrollmentsDone > 0 && stalled.enrollmentsDone < stalled.enrollmentsTotal)
            try await store.query("DROP TRIGGER crash ON defunct_cases")

            async let first = job.run(marked.id)
            async let second = FastTrackJob(store: store, chunkSize: 1).run(marked.id)
            let (one, two) = try await (first, second)
            #expect(one.status == .completed && two.status == .completed && one.enrollmentsDone == one.enrollmentsTotal)
            let settled = try await Self.settlements(store, case: marked.id)
            var legs = 0
            for settlement in settled {
                let insurance = settlement.status == .paid ? [settlement.riskPolicyFen, settlement.tuitionPolicyFen] : []
                legs += ([settlement.escrowFen, settlement.reserveFen] + insurance).filter(\.isPositive).count
            }
            let rows = try await store.query(
                "SELECT count(*)::int FROM transfers WHERE idempotency_key LIKE \("defunct:\(marked.id):%")")
            for try await count in rows.decode(Int.self) { #expect(count == legs) }
            #expect(try await auditBreaches(store) == [])
        }
    }
}
