import Foundation
import PostgresNIO
import Testing
import TuitionCore
import TuitionStore
import TuitionTestSupport
import TuitionWire

@Suite struct WarningStoreTests {
    static let day: TimeInterval = 86_400

    func unresolved(_ store: Store, _ institution: Institution.ID) async throws -> [WarningRule: WarningRecord] {
        let page = try await WarningRepository(store: store).warnings(
            scope: scopeOf(.institution(institution)), status: nil, rule: nil, page: PageRequest(limit: 200))
        return Dictionary(uniqueKeysWithValues: page.items.filter { $0.status != .resolved }.map { ($0.rule, $0) })
    }

    func all(_ store: Store, _ institution: Institution.ID, rule: WarningRule) async throws -> [WarningRecord] {
        try await WarningRepository(store: store).warnings(
            scope: scopeOf(.institution(institution)), status: nil, rule: rule, page: PageRequest(limit: 200)
        ).items
    }

    func status(_ store: Store, _ institution: Institution.ID) async throws -> InstitutionStatus? {
        try await PartyRepository(store: store).institution(institution, scope: scopeOf(.institution(institution)))?.status
    }

    /// The statuses the log tells the institution moved to, in order (queued, not yet sequenced).
    func loggedStatuses(_ store: Store, _ institution: Institution.ID) async throws -> [String] {
        try await MoneyIntegrityStoreTests.events(store)
            .filter { $0.kind == .institutionStatusChanged && $0.institutionId == institution }.map { $0.reference ?? "" }
    }

    func pay(_ store: Store, _ world: World, _ enrollment: EnrollmentRecord? = nil) async throws {
        let enrollment = enrollment ?? world.enrollment
        _ = try await store.transaction {
            try await EnrollmentRepository(store: store).pay(enrollment.id, guardian: world.guardian, amount: enrollment.amountFen, on: $0)
        }
    }

    /// Moves money into or out of an escrow account outside the enrollment flow, as a bank discrepancy would (the
    /// transfer's INSERT posts the escrow account's totals, sql/0020).
    func shiftEscrow(_ store: Store, _ institution: Institution.ID, by fen: Int64, key: String) async throws {
        try await store.transaction { connection in
            let escrowDebit = fen < 0
            let amount = abs(fen)
            try await connection.query(
                """
                WITH escrow AS (SELECT id FROM accounts WHERE institution_id = \(institution.uuid) AND kind = 'escrow'),
                bank AS (SELECT id FROM accounts WHERE institution_id = \(institution.uuid) AND kind = 'institution_bank')
                INSERT INTO transfers (idempotency_key, kind, debit_account_id, credit_account_id, amount_fen, institution_id, created_at)
                SELECT \(key), 'release',
                    CASE WHEN \(escrowDebit) THEN escrow.id ELSE bank.id END, CASE WHEN \(escrowDebit) THEN bank.id ELSE escrow.id END,
                    \(amount), \(institution.uuid), now()
                FROM escrow, bank
                """, logger: store.logger)
        }
    }

    @Test func escrowShortfallOpensAndClears() async throws {
        try await TestDatabase.withStore("wescrow") { store in
            let world = try await World.make(store)
            try await pay(store, world)
            let warnings = WarningRepository(store: store)
            #expect(try await warnings.evaluate(.institution(world.institution.id)).opened == 0)
            try await shiftEscrow(store, world.institution.id, by: -1_000, key: "leak")
            let outcome = try await warnings.evaluate(.institution(world.institution.id))
            #expect(outcome.opened == 1)
            let warning = try #require(try await unresolved(store, world.institution.id)[.escrowShortfall])
            #expect(warning.severity == .serious)
            #expect(warning.figures["shortfall_fen"] == .number(1_000))
            #expect(warning.deadline == BusinessDate(shanghaiDateOf: Date()).addingDays(15))
            #expect(try await status(store, world.institution.id) == .warned)

            try await shiftEscrow(store, world.institution.id, by: 1_000, key: "restored")
            #expect(try await warnings.evaluate(.institution(world.institution.id)).resolved == 1)
            #expect(try await unresolved(store, world.institution.id).isEmpty)
            let resolved = try await all(store, world.institution.id, rule: .escrowShortfall)
            #expect(resolved.map(\.status) == [.resolved])
            #expect(resolved.first?.resolvedBy == "cleared")
            #expect(try await status(store, world.institution.id) == .active)
            // Each move is in the log, as a sanction's is.
            #expect(try await loggedStatuses(store, world.institution.id) == ["warned", "active"])
        }
    }

    @Test func reserveShortfallOpensAndClearsWithATopUpOrARiskPolicy() async throws {
        try await TestDatabase.withStore("wreserve") { store in
            let world = try await World.make(store, mode: .reserve, pricePerLessonFen: 8_000, lessons: 40)
            try await pay(store, world)
            let warnings = WarningRepository(store: store)
            _ = try await warnings.evaluate(.district(world.district))
            let warning = try #require(try await unresolved(store, world.institution.id)[.reserveShortfall])
            // 20 % of ¥3,200 unconsumed is ¥640, and nothing is held: below half, critical.
            #expect(warning.figures["required_fen"] == .number(64_000))
            #expect(warning.severity == .critical)

            _ = try await store.transaction {
                try await EnrollmentRepository(store: store).topUpReserve(
                    institution: world.institution.id, amount: Money(fen: 40_000), key: "topup-1", on: $0)
            }
            _ = try await warnings.evaluate(.district(world.district))
            let refreshed = try #require(try await unresolved(store, world.institution.id)[.reserveShortfall])
            #expect(refreshed.severity == .serious)
            #expect(refreshed.latestFigures["shortfall_fen"] == .number(24_000))
            #expect(refreshed.figures["shortfall_fen"] == .number(64_000), "the opening figures are kept")

            _ = try await store.transaction {
                try await EnrollmentRepository(store: store).topUpReserve(
                    institution: world.institution.id, amount: Money(fen: 24_000), key: "topup-2", on: $0)
            }
            #expect(try await warnings.evaluate(.district(world.district)).resolved == 1)
            #expect(try await unresolved(store, world.institution.id).isEmpty)
        }
    }

    @Test func riskPolicyStandsInForTheReserveAndWarnsBeforeItEnds() async throws {
        try await TestDatabase.withStore("wrisk") { store in
            let world = try await World.make(store, mode: .reserve)
            try await pay(store, world)
            let insurer = try await PartyRepository(store: store).createInsurer(name: "平安产险")
            let insurance = InsuranceRepository(store: store)
            let product = try await insurance.createProduct(
                NewInsuranceProduct(
                    kind: .institutionRisk, premiumRateBasisPoints: 150, coveredShareBasisPoints: 8_000, limitFen: .yuan(500_000)),
                insurer: insurer)
            let today = BusinessDate(shanghaiDateOf: Date())
            _ = try await store.transaction {
                try await insurance.issueRiskPolicy(
                    NewRiskPolicy(
                        productId: product.id, institutionId: world.institution.id, sumInsuredFen: .yuan(10_000), periodStart: today,
                        periodEnd: today.addingDays(20)),
                    insurer: insurer, key: "risk-short", on: $0)
            }
            let warnings = WarningRepository(store: store)
            _ = try await warnings.evaluate(.all)
            var open = try await unresolved(store, world.institution.id)
            #expect(open[.reserveShortfall] == nil, "a policy in force stands in for the reserve")
            #expect(open[.riskPolicyExpiring]?.severity == .notice)
            #expect(open[.riskPolicyExpiring]?.figures["days_left"] == .number(20))

            _ = try await store.transaction {
                try await insurance.issueRiskPolicy(
                    NewRiskPolicy(
                        productId: product.id, institutionId: world.institution.id, sumInsuredFen: .yuan(10_000), periodStart: today,
                        periodEnd: today.addingMonths(12)),
                    insurer: insurer, key: "risk-long", on: $0)
            }
            _ = try await warnings.evaluate(.all)
            open = try await unresolved(store, world.institution.id)
            #expect(open.isEmpty)
        }
    }

    @Test func salesSpikeOpensOnABurstAndClearsAWeekLater() async throws {
        let clock = TestClock(Date().addingTimeInterval(-30 * Self.day))
        try await TestDatabase.withStore("wsales", clock: clock) { store in
            let world = try await World.make(store, pricePerLessonFen: 8_000, lessons: 40)
            try await WarningRepository(store: store).setThresholds(
                WarningThresholds(salesSpikeMinimum: .yuan(1_000)), district: world.district)
            try await pay(store, world)  // ¥3,200 thirty days ago: a weekly average of ¥400.
            clock.advance(by: 30 * Self.day)
            let warnings = WarningRepository(store: store)
            _ = try await warnings.evaluate(.institution(world.institution.id))
            #expect(try await unresolved(store, world.institution.id).isEmpty)

            let second = try await world.anotherEnrollment(store, lessons: 20)  // ¥1,600 today: 4× the average.
            try await pay(store, world, second)
            _ = try await warnings.evaluate(.institution(world.institution.id))
            let spike = try #require(try await unresolved(store, world.institution.id)[.salesSpike])
            #expect(spike.figures["sales_last_7_days_fen"] == .number(160_000))
            #expect(spike.figures["weekly_average_fen"] == .number(40_000))
            #expect(spike.figures["multiple_bp"] == .number(40_000))
            #expect(spike.severity == .serious)

            clock.advance(by: 8 * Self.day)
            _ = try await warnings.evaluate(.institution(world.institution.id))
            #expect(try await unresolved(store, world.institution.id)[.salesSpike] == nil)
        }
    }

    @Test func lessonsFarAboveTheScheduleOpenAndClear() async throws {
        let clock = TestClock()
        try await TestDatabase.withStore("wlessons", clock: clock) { store in
            let world = try await World.make(store)  // 2 lessons a week
            try await pay(store, world)
            let today = BusinessDate(shanghaiDateOf: clock.now)
            _ = try await store.transaction {
                try await EnrollmentRepository(store: store).recordLessons(
                    world.enrollment.id, institution: world.institution.id, lessons: 13, takenOn: today, on: $0)
            }
            let warnings = WarningRepository(store: store)
            _ = try await warnings.evaluate(.institution(world.institution.id))
            let over = try #require(try await unresolved(store, world.institution.id)[.lessonsOverSchedule])
            #expect(over.figures == ["lessons_last_7_days": .number(13), "lessons_scheduled": .number(2)])
            #expect(over.severity == .critical)
            clock.advance(by: 8 * Self.day)
            _ = try await warnings.evaluate(.institution(world.institution.id))
            #expect(try await unresolved(store, world.institution.id)[.lessonsOverSchedule] == nil)
        }
    }

    @Test func refundsOverdueAfterTheTermOpenAndClearWithTheRefund() async throws {
        let clock = TestClock()
        try await TestDatabase.withStore("wrefunds", clock: clock) { store in
            let world = try await World.make(store)  // term ends in about two months
            try await pay(store, world)
            let warnings = WarningRepository(store: store)
            clock.advance(by: 100 * Self.day)
            _ = try await warnings.evaluate(.institution(world.institution.id))
            let overdue = try #require(try await unresolved(store, world.institution.id)[.refundsOverdue])
            #expect(overdue.figures["enrollments"] == .number(1))
            #expect(overdue.figures["amount_fen"] == .number(world.enrollment.amountFen.fen))
            #expect(overdue.figures["oldest_term_end"] == .date(world.enrollment.termEnd))

            _ = try await store.transaction {
                try await EnrollmentRepository(store: store).refund(
                    world.enrollment.id, institution: world.institution.id, lessons: nil, reason: "学期结束", on: $0)
            }
            _ = try await warnings.evaluate(.institution(world.institution.id))
            #expect(try await unresolved(store, world.institution.id)[.refundsOverdue] == nil)
        }
    }

    /// What is overdue is money still owed: an insurer's payout on the refused refund counts like a refund.
    @Test func refundsOverdueCountWhatAnInsurerAlreadyRepaid() async throws {
        let clock = TestClock()
        try await TestDatabase.withStore("wrefundsrepaid", clock: clock) { store in
            let insured = try await InsuranceStoreTests.Insured.make(store)  // ¥3,200 paid, term ends in about two months
            let policy = try await store.transaction {
                try await InsuranceRepository(store: store).buyTuitionPolicy(
                    insured.tuitionPolicy(.yuan(3_200)), enrollment: insured.world.enrollment.id, guardian: insured.world.guardian,
                    key: "premium:overdue", on: $0)
            }
            let claims = ClaimRepository(store: store)
            // The clock stands still: filed at the payment's own instant, the claim's "paid before the event" check could
            // go either way as PostgreSQL rounds the stored payment time to the microsecond.
            clock.advance(by: 60)
            let claim = try await store.transaction {
                try await claims.file(
                    NewClaim(
                        enrollmentId: insured.world.enrollment.id, policyId: policy.id, reason: .refundRefused, claimedFen: .yuan(1_000)),
                    guardian: insured.world.guardian, on: $0)
            }
            try #require(claim.status == .verified, "filed \(claim.status): \(claim.checks)")
            _ = try await claims.approve(claim.id, insurer: insured.insurer, amount: .yuan(1_000))
            _ = try await store.transaction { try await claims.pay(claim.id, insurer: insured.insurer, on: $0) }
            clock.advance(by: 100 * Self.day)
            _ = try await WarningRepository(store: store).evaluate(.institution(insured.world.institution.id))
            let overdue = try #require(try await unresolved(store, insured.world.institution.id)[.refundsOverdue])
            #expect(overdue.figures["amount_fen"] == .number(Money.yuan(2_200).fen))
        }
    }

    @Test func licenceExpiryWarnsRaisesSeverityAndClearsOnRenewal() async throws {
        try await TestDatabase.withStore("wlicence") { store in
            let world = try await World.make(store)
            let today = BusinessDate(shanghaiDateOf: Date())
            func setLicence(_ date: BusinessDate) async throws {
                try await store.query(
                    "UPDATE institutions SET licence_valid_until = \(date.description)::date WHERE id = \(world.institution.id.uuid)")
            }
            let warnings = WarningRepository(store: store)
            try await setLicence(today.addingDays(10))
            _ = try await warnings.evaluate(.all)
            #expect(try await unresolved(store, world.institution.id)[.licenceExpiring]?.severity == .notice)
            try await setLicence(today.addingDays(-1))
            let outcome = try await warnings.evaluate(.all)
            #expect(outcome.opened == 0 && outcome.stillOpen == 1)
            let expired = try #require(try await unresolved(store, world.institution.id)[.licenceExpiring])
            #expect(expired.severity == .critical)
            #expect(expired.latestFigures["days_left"] == .number(-1))
            try await setLicence(today.addingMonths(36))
            _ = try await warnings.evaluate(.all)
            #expect(try await unresolved(store, world.institution.id).isEmpty)
            #expect(try await all(store, world.institution.id, rule: .licenceExpiring).count == 1)
        }
    }

    @Test func evaluatingTwiceChangesNothingTheSecondTime() async throws {
        try await TestDatabase.withStore("widempotent") { store in
            let world = try await World.make(store, mode: .reserve)
            try await pay(store, world)
            try await store.query(
                "UPDATE institutions SET licence_valid_until = current_date + 5 WHERE id = \(world.institution.id.uuid)")
            let warnings = WarningRepository(store: store)
            let first = try await warnings.evaluate(.all)
            #expect(first.opened == 2)
            #expect(first.statusChanges == 1)
            let before = try await unresolved(store, world.institution.id)
            let second = try await warnings.evaluate(.all)
            #expect(second.opened == 0 && second.resolved == 0 && second.escalated == 0 && second.statusChanges == 0)
            #expect(second.stillOpen == 2)
            let after = try await unresolved(store, world.institution.id)
            #expect(Set(after.values.map(\.id)) == Set(before.values.map(\.id)))
            // Two evaluations at once: still one unresolved warning per rule.
            async let a = warnings.evaluate(.all)
            async let b = warnings.evaluate(.institution(world.institution.id))
            _ = try await (a, b)
            let rows = try await store.query(
                "SELECT count(*)::int FROM warnings WHERE institution_id = \(world.institution.id.uuid)")
            for try await count in rows.decode(Int.self) { #expect(count == 2) }
        }
    }

    @Test func pastItsDeadlineAWarningEscalatesThenResolvesWhenCleared() async throws {
        let clock = TestClock()
        try await TestDatabase.withStore("wescalate", clock: clock) { store in
            let world = try await World.make(store, mode: .reserve)
            try await pay(store, world)
            let warnings = WarningRepository(store: store)
            try await warnings.setThresholds(WarningThresholds(deadlineDays: 3), district: world.district)
            _ = try await warnings.evaluate(.all)
            let opened = try #require(try await unresolved(store, world.institution.id)[.reserveShortfall])
            #expect(opened.deadline == BusinessDate(shanghaiDateOf: clock.now).addingDays(3))
            clock.advance(by: 3 * Self.day)
            #expect(try await warnings.evaluate(.all).escalated == 0, "not on the deadline day itself")
            clock.advance(by: 1 * Self.day)
            #expect(try await warnings.evaluate(.all).escalated == 1)
            #expect(try await warnings.evaluate(.all).escalated == 0, "escalates once")
            let escalated = try #require(try await unresolved(store, world.institution.id)[.reserveShortfall])
            #expect(escalated.status == .escalated)
            #expect(escalated.id == opened.id)
            #expect(try await status(store, world.institution.id) == .warned)

            _ = try await store.transaction {
                try await EnrollmentRepository(store: store).topUpReserve(
                    institution: world.institution.id, amount: .yuan(1_000), key: "late-topup", on: $0)
            }
            #expect(try await warnings.evaluate(.all).resolved == 1)
            #expect(try await status(store, world.institution.id) == .active)
        }
    }

    @Test func theRegulatorResolvesWithANoteAndTheRuleWaitsItsDeadlineDays() async throws {
        let clock = TestClock()
        try await TestDatabase.withStore("wresolve", clock: clock) { store in
            let world = try await World.make(store, mode: .reserve)
            try await pay(store, world)
            let warnings = WarningRepository(store: store)
            _ = try await warnings.evaluate(.all)
            let open = try #require(try await unresolved(store, world.institution.id)[.reserveShortfall])
            // Another district's regulator cannot.
            await #expect(throws: NotFound.self) {
                _ = try await warnings.resolve(open.id, district: DistrictCode("330205")!, note: "不是我的")
            }
            let resolved = try await warnings.resolve(open.id, district: world.district, note: "机构已说明，限期整改")
            #expect(resolved.status == .resolved && resolved.resolvedBy == "regulator")
            #expect(resolved.resolutionNote == "机构已说明，限期整改")
            #expect(try await status(store, world.institution.id) == .active)
            #expect(try await loggedStatuses(store, world.institution.id) == ["warned", "active"])
            #expect(
                try await rejection { _ = try await warnings.resolve(open.id, district: world.district, note: "again") }
                    == .warningAlreadyResolved)

            _ = try await warnings.evaluate(.all)
            #expect(try await unresolved(store, world.institution.id).isEmpty, "held off for the deadline days")
            clock.advance(by: 16 * Self.day)
            _ = try await warnings.evaluate(.all)
            #expect(try await unresolved(store, world.institution.id)[.reserveShortfall] != nil, "the condition persists: it reopens")
        }
    }

    @Test func suspendedAndBlacklistedInstitutionsKeepTheirStatusAndBlacklistingIsFinal() async throws {
        try await TestDatabase.withStore("wsanction") { store in
            let world = try await World.make(store, mode: .reserve)
            let supervision = SupervisionRepository(store: store)
            let suspended = try await supervision.sanction(world.institution.id, action: .suspend, note: "逾期未整改", district: world.district)
            #expect(suspended.status == .suspended)
            #expect(
                try await rejection {
                    try await pay(store, world)
                } == .institutionNotOperating)
            // Evaluation does not move a suspended institution to warned or active.
            try await store.query("UPDATE institutions SET licence_valid_until = current_date - 1 WHERE id = \(world.institution.id.uuid)")
            _ = try await WarningRepository(store: store).evaluate(.all)
            #expect(try await status(store, world.institution.id) == .suspended)
            #expect(try await unresolved(store, world.institution.id)[.licenceExpiring] != nil)
            // Reinstated with a warning unresolved, it is warned.
            let reinstated = try await supervision.sanction(world.institution.id, action: .reinstate, note: "已整改", district: world.district)
            #expect(reinstated.status == .warned)
            #expect(
                try await rejection {
                    _ = try await supervision.sanction(world.institution.id, action: .reinstate, note: "again", district: world.district)
                } == .institutionNotSuspended)
            _ = try await supervision.sanction(world.institution.id, action: .blacklist, note: "严重违规", district: world.district)
            #expect(try await status(store, world.institution.id) == .blacklisted)
            for action in SanctionAction.allCases {
                #expect(
                    try await rejection {
                        _ = try await supervision.sanction(world.institution.id, action: action, note: "x", district: world.district)
                    } == .institutionIsBlacklisted)
            }
            #expect(try await supervision.credit(world.institution.id, scope: scopeOf(.regulator(world.district)))?.grade == .d)
            let kinds = try await store.query(
                "SELECT action FROM institution_sanctions WHERE institution_id = \(world.institution.id.uuid) ORDER BY created_at")
            var actions: [String] = []
            for try await action in kinds.decode(String.self) { actions.append(action) }
            #expect(actions == ["suspend", "reinstate", "blacklist"])
            let events = try await store.query("SELECT count(*)::int FROM evidence_queue")
            for try await count in events.decode(Int.self) { #expect(count >= 4) }
        }
    }

    /// Every sanction or mark that commits while an evaluation waits on the institution's row survives it: the
    /// evaluation moves only institutions still active or warned when it gets the row.
    @Test func anEvaluationWaitingOnTheRowLeavesAMarkOrASanctionThatCommittedFirst() async throws {
        try await TestDatabase.withStore("wrace") { store in
            for final in [InstitutionStatus.defunct, .blacklisted, .suspended] {
                let world = try await World.make(store)
                try await pay(store, world)
                try await shiftEscrow(store, world.institution.id, by: -1_000, key: "leak-\(final)")
                let locked = AsyncStream<Void>.makeStream()
                let release = AsyncStream<Void>.makeStream()
                async let holder: Void = store.transaction { connection in
                    try await connection.query(
                        "UPDATE institutions SET status = \(final.rawValue) WHERE id = \(world.institution.id.uuid)", logger: store.logger)
                    locked.continuation.yield()
                    for await _ in release.stream { break }
                }
                for await _ in locked.stream { break }
                async let evaluation = WarningRepository(store: store).evaluate(.institution(world.institution.id))
                try await waitUntilABackendWaitsOnALock(store)
                release.continuation.yield()
                try await holder
                _ = try await evaluation
                #expect(try await status(store, world.institution.id) == final, "\(final)")
            }
        }
    }

    @Test func noStatementMovesAnInstitutionOutOfDefunctAndOnlyAMarkFollowsABlacklisting() async throws {
        try await TestDatabase.withStore("wfinal") { store in
            let parties = PartyRepository(store: store)
            let world = try await World.make(store)
            try await parties.setInstitutionStatus(world.institution.id, status: .blacklisted)
            for next in [InstitutionStatus.active, .warned, .suspended] {
                #expect(
                    try await rejection { try await parties.setInstitutionStatus(world.institution.id, status: next) }
                        == .institutionIsBlacklisted)
            }
            _ = try await DefunctRepository(store: store).mark(
                world.institution.id, district: world.district.value, effectiveAt: nil, reason: "跑路")
            for next in [InstitutionStatus.active, .warned, .suspended, .blacklisted] {
                #expect(
                    try await rejection { try await parties.setInstitutionStatus(world.institution.id, status: next) }
                        == .institutionDefunct)
            }
            #expect(try await status(store, world.institution.id) == .defunct)
        }
    }

    /// The owner of a blacklisted institution can still run away: the mark makes it defunct, and the public record keeps
    /// it on the black list the regulator put it on.
    @Test func aBlacklistedInstitutionMarkedDefunctStaysOnThePublicBlackList() async throws {
        try await TestDatabase.withStore("wblackdefunct") { store in
            let world = try await World.make(store)
            let lookup = { try await PublicRepository(store: store).institution(licenceNumber: world.institution.licenceNumber)?.list }
            _ = try await SupervisionRepository(store: store).sanction(
                world.institution.id, action: .blacklist, note: "多次违规收费", district: world.district)
            #expect(try await lookup() == .black)
            _ = try await DefunctRepository(store: store).mark(
                world.institution.id, district: world.district.value, effectiveAt: nil, reason: "跑路")
            #expect(try await status(store, world.institution.id) == .defunct)
            #expect(try await lookup() == .black)
        }
    }

    /// Returns once some session of the store's database waits on a lock.
    func waitUntilABackendWaitsOnALock(_ store: Store) async throws {
        for _ in 0..<500 {
            let rows = try await store.query(
                "SELECT count(*)::int FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'")
            for try await waiting in rows.decode(Int.self) where waiting > 0 { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        Issue.record("no session waited on a lock within 5 s")
    }
}
