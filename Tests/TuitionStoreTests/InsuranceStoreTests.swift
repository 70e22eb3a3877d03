import Foundation
import PostgresNIO
import Testing
import TuitionCore
import TuitionStore
import TuitionTestSupport
import TuitionWire

@Suite struct InsuranceStoreTests {
    /// A paid world, an insurer and one product of each kind.
    struct Insured: Sendable {
        let world: World
        let insurer: Insurer.ID
        let risk: InsuranceProductRecord
        let tuition: InsuranceProductRecord
        let today: BusinessDate

        static func make(_ store: Store, district: String = "330203", mode: SupervisionMode = .escrow) async throws -> Insured {
            let world = try await World.make(store, district: district, mode: mode, pricePerLessonFen: 8_000, lessons: 40)
            _ = try await store.transaction {
                try await EnrollmentRepository(store: store).pay(
                    world.enrollment.id, guardian: world.guardian, amount: world.enrollment.amountFen, on: $0)
            }
            let insurer = try await PartyRepository(store: store).createInsurer(name: "平安产险")
            let insurance = InsuranceRepository(store: store)
            let risk = try await insurance.createProduct(
                NewInsuranceProduct(
                    kind: .institutionRisk, premiumRateBasisPoints: 150, coveredShareBasisPoints: 8_000, limitFen: .yuan(500_000)),
                insurer: insurer)
            let tuition = try await insurance.createProduct(
                NewInsuranceProduct(kind: .studentTuition, premiumRateBasisPoints: 333), insurer: insurer)
            return Insured(world: world, insurer: insurer, risk: risk, tuition: tuition, today: BusinessDate(shanghaiDateOf: Date()))
        }

        func tuitionPolicy(_ sum: Money, product: InsuranceProduct.ID? = nil) -> NewTuitionPolicy {
            NewTuitionPolicy(
                productId: product ?? tuition.id, sumInsuredFen: sum, periodStart: today, periodEnd: today.addingMonths(3))
        }

        func riskPolicy(_ sum: Money, product: InsuranceProduct.ID? = nil) -> NewRiskPolicy {
            NewRiskPolicy(
                productId: product ?? risk.id, institutionId: world.institution.id, sumInsuredFen: sum, periodStart: today,
                periodEnd: today.addingMonths(12))
        }
    }

    func premiumTransfers(_ store: Store) async throws -> [(Int64, String, String)] {
        let rows = try await store.query(
            """
            SELECT t.amount_fen, d.kind, c.kind FROM transfers t JOIN accounts d ON d.id = t.debit_account_id
                JOIN accounts c ON c.id = t.credit_account_id
            WHERE t.kind = 'premium' ORDER BY t.id
            """)
        var found: [(Int64, String, String)] = []
        for try await row in rows.decode((Int64, String, String).self) { found.append(row) }
        return found
    }

    @Test func refusesProductTermsTheCoreRefuses() async throws {
        try await TestDatabase.withStore("insproducts") { store in
            let insurer = try await PartyRepository(store: store).createInsurer(name: "太平洋产险")
            let insurance = InsuranceRepository(store: store)
            let cases: [(NewInsuranceProduct, Rejection)] = [
                (NewInsuranceProduct(kind: .studentTuition, premiumRateBasisPoints: 0), .premiumRateInvalid),
                (NewInsuranceProduct(kind: .studentTuition, premiumRateBasisPoints: 10_001), .premiumRateInvalid),
                (NewInsuranceProduct(kind: .institutionRisk, premiumRateBasisPoints: 100), .coverageTermsInvalid),
                (
                    NewInsuranceProduct(
                        kind: .institutionRisk, premiumRateBasisPoints: 100, coveredShareBasisPoints: 5_000, limitFen: Money(fen: -1)),
                    .coverageTermsInvalid
                ),
                (NewInsuranceProduct(kind: .studentTuition, premiumRateBasisPoints: 100, limitFen: .yuan(1)), .coverageTermsInvalid),
            ]
            for (product, expected) in cases {
                #expect(try await rejection { _ = try await insurance.createProduct(product, insurer: insurer) } == expected)
            }
            #expect(try await insurance.products(kind: nil, page: PageRequest()).items.isEmpty)
        }
    }

    @Test func tuitionPolicyPremiumMovesExactlyOncePerIdempotencyKey() async throws {
        try await TestDatabase.withStore("instuition") { store in
            let insured = try await Insured.make(store)
            let insurance = InsuranceRepository(store: store)
            let sum = insured.world.enrollment.amountFen
            let buy: @Sendable () async throws -> PolicyRecord = {
                try await store.transaction {
                    try await insurance.buyTuitionPolicy(
                        insured.tuitionPolicy(sum), enrollment: insured.world.enrollment.id, guardian: insured.world.guardian,
                        key: "premium:test:1", on: $0)
                }
            }
            let first = try await buy()
            let again = try await buy()
            #expect(again == first)
            // 320,000 × 333 / 10,000 = 10,656 exactly; the core rounds up only a fraction of a fen.
            #expect(first.premiumFen == Money(fen: 10_656) && first.sumInsuredFen == sum && first.remainingFen == sum)
            #expect(first.status == .active && first.kind == .studentTuition && first.enrollmentId == insured.world.enrollment.id)
            #expect(first.guardianId == insured.world.guardian && first.institutionId == insured.world.institution.id)
            #expect(first.number.hasPrefix("TGP"))
            let premiums = try await premiumTransfers(store)
            #expect(premiums.count == 1)
            #expect(premiums.first.map { $0 == (10_656, "guardian_bank", "insurer_claims") } == true)
            // A second policy on the same enrollment, under a new key, is refused and moves nothing.
            #expect(
                try await rejection {
                    _ = try await store.transaction {
                        try await insurance.buyTuitionPolicy(
                            insured.tuitionPolicy(Money(fen: 100)), enrollment: insured.world.enrollment.id,
                            guardian: insured.world.guardian, key: "premium:test:2", on: $0)
                    }
                } == .enrollmentAlreadyInsured)
            #expect(try await premiumTransfers(store).count == 1)
            #expect(try await InvariantAudit(store: store).breaches() == [])
        }
    }

    /// One tuition policy at a time: a policy overlapping the enrollment's uncancelled one is refused, one starting when
    /// it ends renews it (a guardian whose cover ran out may insure the rest of the term).
    @Test func aTuitionPolicyIsRenewedFromTheDayTheLastOneEnds() async throws {
        try await TestDatabase.withStore("instuitionrenew") { store in
            let insured = try await Insured.make(store)
            let insurance = InsuranceRepository(store: store)
            func buy(_ start: BusinessDate, _ end: BusinessDate, _ key: String) async throws -> PolicyRecord {
                try await store.transaction {
                    try await insurance.buyTuitionPolicy(
                        NewTuitionPolicy(productId: insured.tuition.id, sumInsuredFen: .yuan(1_000), periodStart: start, periodEnd: end),
                        enrollment: insured.world.enrollment.id, guardian: insured.world.guardian, key: key, on: $0)
                }
            }
            let today = insured.today
            _ = try await buy(today, today.addingMonths(1), "premium:renew:1")
            for (start, end) in [(today.addingDays(10), today.addingMonths(2)), (today, today.addingDays(1))] {
                #expect(try await rejection { _ = try await buy(start, end, "premium:renew:\(start)") } == .enrollmentAlreadyInsured)
            }
            let renewal = try await buy(today.addingMonths(1), today.addingMonths(3), "premium:renew:2")
            #expect(BusinessDate(shanghaiDateOf: renewal.periodStart) == today.addingMonths(1))
            #expect(try await premiumTransfers(store).count == 2)
            // Each issue logs its cover and the premium that moved, under the policy's reference.
            let logged = try await store.query(
                """
                SELECT convert_from(entry, 'UTF8')::jsonb ->> 'kind', (convert_from(entry, 'UTF8')::jsonb ->> 'amountFen')::bigint
                FROM evidence_queue WHERE convert_from(entry, 'UTF8')::jsonb ->> 'reference' = \("policy:\(renewal.id)")
                ORDER BY id
                """)
            var events: [(String, Int64)] = []
            for try await event in logged.decode((String, Int64).self) { events.append(event) }
            #expect(events.map(\.0) == ["policy_issued", "premium_paid"])
            #expect(events.map(\.1) == [renewal.sumInsuredFen.fen, renewal.premiumFen.fen])
            #expect(try await InvariantAudit(store: store).breaches() == [])
        }
    }

    /// Cover of an enrollment owed nothing could never pay: no tuition policy can be bought once every lesson is given
    /// or refunded; one bought while something is owed may still insure what was paid.
    @Test func anEnrollmentOwedNothingIsInsuredByNoPolicy() async throws {
        try await TestDatabase.withStore("instuitionowed") { store in
            let insured = try await Insured.make(store)
            let world = insured.world
            let enrollments = EnrollmentRepository(store: store)
            func buy(_ sum: Money) async throws -> Rejection? {
                try await rejection {
                    _ = try await store.transaction {
                        try await InsuranceRepository(store: store).buyTuitionPolicy(
                            insured.tuitionPolicy(sum), enrollment: world.enrollment.id, guardian: world.guardian,
                            key: "premium:\(UUID())", on: $0)
                    }
                }
            }
            _ = try await store.transaction {
                try await enrollments.recordLessons(
                    world.enrollment.id, institution: world.institution.id, lessons: 10, takenOn: insured.today, on: $0)
            }
            _ = try await store.transaction {
                try await enrollments.refund(world.enrollment.id, institution: world.institution.id, lessons: nil, reason: "退费", on: $0)
            }
            #expect(try await buy(Money(fen: 100)) == .sumInsuredExceedsCover)
            let premiums = try await store.query("SELECT count(*)::int FROM transfers WHERE kind = 'premium'")
            for try await count in premiums.decode(Int.self) { #expect(count == 0) }
            #expect(try await InvariantAudit(store: store).breaches() == [])
        }
    }

    @Test func refusesTuitionCoverAbovePaidWrongProductUnpaidAndBackdated() async throws {
        try await TestDatabase.withStore("instuitionrefusals") { store in
            let insured = try await Insured.make(store)
            let insurance = InsuranceRepository(store: store)
            let world = insured.world
            func buy(_ new: NewTuitionPolicy, enrollment: Enrollment.ID? = nil) async throws -> Rejection? {
                try await rejection {
                    _ = try await store.transaction {
                        try await insurance.buyTuitionPolicy(
                            new, enrollment: enrollment ?? world.enrollment.id, guardian: world.guardian, key: "premium:\(UUID())", on: $0)
                    }
                }
            }
            let paid = world.enrollment.amountFen
            #expect(try await buy(insured.tuitionPolicy(Money(fen: paid.fen + 1))) == .sumInsuredExceedsCover)
            #expect(try await buy(insured.tuitionPolicy(paid, product: insured.risk.id)) == .insuredDoesNotMatchProduct)
            #expect(try await buy(insured.tuitionPolicy(.zero)) == .amountMustBePositive)
            var backwards = insured.tuitionPolicy(paid)
            backwards.periodEnd = backwards.periodStart
            #expect(try await buy(backwards) == .policyPeriodInvalid)
            var backdated = insured.tuitionPolicy(paid)
            backdated.periodStart = insured.today.addingDays(-1)
            #expect(try await buy(backdated) == .policyStartsInThePast)
            let unpaid = try await world.anotherEnrollment(store)
            #expect(try await buy(insured.tuitionPolicy(Money(fen: 100)), enrollment: unpaid.id) == .enrollmentNotPaid)
            // Someone else's enrollment is not found.
            let stranger = try await PartyRepository(store: store).createGuardian(name: "李四")
            await #expect(throws: NotFound.self) {
                _ = try await store.transaction {
                    try await insurance.buyTuitionPolicy(
                        insured.tuitionPolicy(Money(fen: 100)), enrollment: world.enrollment.id, guardian: stranger, key: "premium:x",
                        on: $0)
                }
            }
            #expect(try await premiumTransfers(store).isEmpty)
            #expect(try await InvariantAudit(store: store).breaches() == [])
        }
    }

    /// Cover starting today starts when the policy is bought, not at the day's midnight: it cannot insure a collapse
    /// earlier that day (issue: a policy bought at 14:00 after the owner ran away at 09:00 was in force at 09:00).
    @Test func coverStartingTodayStartsWhenItIsBought() async throws {
        try await TestDatabase.withStore("inscoverstart") { store in
            let insured = try await Insured.make(store)
            let earlierToday = Date()
            try await Task.sleep(for: .milliseconds(20))
            let policy = try await store.transaction {
                try await InsuranceRepository(store: store).buyTuitionPolicy(
                    insured.tuitionPolicy(insured.world.enrollment.amountFen), enrollment: insured.world.enrollment.id,
                    guardian: insured.world.guardian, key: "premium:coverstart", on: $0)
            }
            #expect(policy.periodStart == policy.createdAt && policy.periodStart > earlierToday)
            let rows = try await store.query(
                """
                SELECT policy_in_force(period_start, period_end, cancelled_at, \(earlierToday)),
                    policy_in_force(period_start, period_end, cancelled_at, created_at)
                FROM policies WHERE id = \(policy.id.uuid)
                """)
            for try await (before, bought) in rows.decode((Bool, Bool).self) { #expect(!before && bought) }
            let backdating = await #expect(throws: PSQLError.self) {
                try await store.query("UPDATE policies SET period_start = period_start - interval '1 hour' WHERE id = \(policy.id.uuid)")
            }
            #expect(backdating?.serverInfo?[.constraintName] == "cover_not_backdated")
        }
    }

    @Test func riskPolicyPremiumMovesFromTheInstitutionsBankOnce() async throws {
        try await TestDatabase.withStore("insrisk") { store in
            let insured = try await Insured.make(store)
            let insurance = InsuranceRepository(store: store)
            let issue: @Sendable (NewRiskPolicy, Insurer.ID, String) async throws -> PolicyRecord = { new, insurer, key in
                try await store.transaction { try await insurance.issueRiskPolicy(new, insurer: insurer, key: key, on: $0) }
            }
            // 100,001 fen at 150 bp is 1,500.015 fen: rounded up to 1,501.
            let policy = try await issue(insured.riskPolicy(Money(fen: 100_001)), insured.insurer, "premium:risk:1")
            #expect(try await issue(insured.riskPolicy(Money(fen: 100_001)), insured.insurer, "premium:risk:1") == policy)
            #expect(policy.premiumFen == Money(fen: 1_501) && policy.kind == .institutionRisk && policy.enrollmentId == nil)
            let premiums = try await premiumTransfers(store)
            #expect(premiums.count == 1 && premiums.first.map { $0 == (1_501, "institution_bank", "insurer_claims") } == true)

            #expect(
                try await rejection { _ = try await issue(insured.riskPolicy(Money(fen: 50_000_001)), insured.insurer, "k2") }
                    == .sumInsuredExceedsCover)
            #expect(
                try await rejection {
                    _ = try await issue(insured.riskPolicy(.yuan(1), product: insured.tuition.id), insured.insurer, "k3")
                }
                    == .insuredDoesNotMatchProduct)
            // Another insurer cannot issue on this insurer's product.
            let other = try await PartyRepository(store: store).createInsurer(name: "其他保险")
            await #expect(throws: NotFound.self) { _ = try await issue(insured.riskPolicy(.yuan(1)), other, "k4") }
            // A suspended institution is not insured.
            try await PartyRepository(store: store).setInstitutionStatus(insured.world.institution.id, status: .suspended)
            #expect(
                try await rejection { _ = try await issue(insured.riskPolicy(.yuan(1)), insured.insurer, "k5") } == .institutionNotOperating
            )
            #expect(try await premiumTransfers(store).count == 1)
            #expect(try await InvariantAudit(store: store).breaches() == [])
        }
    }

    @Test func policiesAreSeenOnlyByTheirInsurerInsuredGuardianAndDistrictRegulator() async throws {
        try await TestDatabase.withStore("insscope") { store in
            let mine = try await Insured.make(store, district: "330203")
            let theirs = try await Insured.make(store, district: "330205")
            let insurance = InsuranceRepository(store: store)
            func issueBoth(_ insured: Insured) async throws -> (risk: PolicyRecord, tuition: PolicyRecord) {
                let risk = try await store.transaction {
                    try await insurance.issueRiskPolicy(
                        insured.riskPolicy(.yuan(10_000)), insurer: insured.insurer, key: "premium:risk:\(insured.insurer)", on: $0)
                }
                let tuition = try await store.transaction {
                    try await insurance.buyTuitionPolicy(
                        insured.tuitionPolicy(Money(fen: 100_000)), enrollment: insured.world.enrollment.id,
                        guardian: insured.world.guardian, key: "premium:tuition:\(insured.insurer)", on: $0)
                }
                return (risk, tuition)
            }
            let (risk, tuition) = try await issueBoth(mine)
            let (otherRisk, otherTuition) = try await issueBoth(theirs)
            func seen(_ entity: PrincipalEntity) async throws -> Set<Policy.ID> {
                Set(try await insurance.policies(scope: scopeOf(entity), page: PageRequest()).items.map(\.id))
            }
            #expect(try await seen(.insurer(mine.insurer)) == [risk.id, tuition.id])
            #expect(try await seen(.institution(mine.world.institution.id)) == [risk.id])
            // The guardian: its tuition policy, and the risk-control policy of the institution its paid enrollment is at.
            // Anyone may place an order; until it is paid it shows its guardian none of the institution's policies.
            #expect(try await seen(.guardian(mine.world.guardian)) == [tuition.id, risk.id])
            let parties = PartyRepository(store: store)
            let orderer = try await parties.createGuardian(name: "李四", phone: "13900000000")
            let child = try await parties.createStudent(
                NewStudent(name: "李小红", relationship: "父女", school: "海曙中心小学", grade: "二年级"), guardian: orderer)
            _ = try await EnrollmentRepository(store: store).create(
                NewEnrollment(
                    studentId: child.id, courseId: mine.world.course.id, lessons: 10, termStart: mine.today,
                    termEnd: mine.today.addingMonths(2)),
                institution: mine.world.institution.id, guardian: orderer)
            #expect(try await seen(.guardian(orderer)).isEmpty)
            #expect(try await seen(.regulator(mine.world.district)) == [risk.id, tuition.id])
            #expect(try await seen(.regulator(theirs.world.district)) == [otherRisk.id, otherTuition.id])
            for entity: PrincipalEntity in [
                .insurer(mine.insurer), .institution(mine.world.institution.id), .guardian(mine.world.guardian),
                .regulator(mine.world.district),
            ] {
                #expect(try await insurance.policy(otherRisk.id, scope: scopeOf(entity)) == nil)
                #expect(try await insurance.policy(otherTuition.id, scope: scopeOf(entity)) == nil)
            }
            #expect(try await insurance.policy(tuition.id, scope: scopeOf(.institution(mine.world.institution.id))) == nil)
            #expect(try await insurance.policy(tuition.id, scope: scopeOf(.guardian(mine.world.guardian))) == tuition)
            // Products are offers: everyone reads them all.
            #expect(try await insurance.products(kind: nil, page: PageRequest()).items.count == 4)
            #expect(try await insurance.products(kind: .studentTuition, page: PageRequest()).items.count == 2)
            #expect(try await InvariantAudit(store: store).breaches() == [])
        }
    }
}
