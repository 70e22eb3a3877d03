import Foundation
import PostgresNIO
import Testing
import TuitionCore
import TuitionTestSupport
import TuitionWire

@testable import TuitionStore

/// Issue 14: an institution's figures have one home in SQL (`institution_figures`, sql/0017) mirrored by the core's
/// `institutionCover`; the warnings, the credit grade and the dashboard read them there. Varied institutions are built
/// through the store (payments, lessons, refunds, reserve top-ups, risk and tuition policies in and out of force, a
/// defunct mark) and every figure the SQL gives is checked against the core's computation from the raw rows.
@Suite struct InstitutionFiguresStoreTests {
    static let district = "330203"

    struct Products {
        var insurer: Insurer.ID
        var risk: InsuranceProductRecord
        var tuition: InsuranceProductRecord
    }

    static func products(_ store: Store) async throws -> Products {
        let insurer = try await PartyRepository(store: store).createInsurer(name: "平安产险")
        let insurance = InsuranceRepository(store: store)
        // A covered share that leaves fractions of a fen: the cover must be rounded down, as the waterfall pays it.
        let risk = try await insurance.createProduct(
            NewInsuranceProduct(
                kind: .institutionRisk, premiumRateBasisPoints: 150, coveredShareBasisPoints: 3_333, limitFen: .yuan(500_000)),
            insurer: insurer)
        let tuition = try await insurance.createProduct(
            NewInsuranceProduct(kind: .studentTuition, premiumRateBasisPoints: 200), insurer: insurer)
        return Products(insurer: insurer, risk: risk, tuition: tuition)
    }

    /// One institution with two enrollments, moved at random through the money paths; the last one is marked defunct.
    static func institution(_ store: Store, index: Int, products: Products, random: inout SeededGenerator) async throws {
        let mode: SupervisionMode = index % 2 == 0 ? .escrow : .reserve
        let world = try await World.make(
            store, district: district, mode: mode, pricePerLessonFen: Int64.random(in: 1_001...9_999, using: &random),
            lessons: Int.random(in: 10...40, using: &random))
        let second = try await world.anotherEnrollment(store, lessons: Int.random(in: 8...20, using: &random))
        let enrollments = Int.random(in: 0...2, using: &random) == 0 ? [world.enrollment] : [world.enrollment, second]
        let money = EnrollmentRepository(store: store)
        let today = BusinessDate(shanghaiDateOf: store.dependencies.now())
        for enrollment in enrollments {
            _ = try await store.transaction {
                try await money.pay(enrollment.id, guardian: world.guardian, amount: enrollment.amountFen, on: $0)
            }
            // At most 4 lessons taken and 3 refunded: never more than the 8 the smallest order buys.
            let lessons = Int.random(in: 0...4, using: &random)
            if lessons > 0 {
                _ = try await store.transaction {
                    try await money.recordLessons(
                        enrollment.id, institution: world.institution.id, lessons: lessons, takenOn: today, on: $0)
                }
            }
            if Bool.random(using: &random) {
                _ = try await store.transaction {
                    try await money.refund(
                        enrollment.id, institution: world.institution.id, lessons: Int.random(in: 1...3, using: &random), reason: "退费",
                        on: $0)
                }
            }
        }
        if mode == .reserve, Bool.random(using: &random) {
            _ = try await store.transaction {
                try await money.topUpReserve(
                    institution: world.institution.id, amount: Money(fen: Int64.random(in: 1...90_000, using: &random)),
                    key: "topup:\(index)", on: $0)
            }
        }
        try await policies(store, world, enrollments: enrollments, index: index, products: products, random: &random)
        if index == 5 {
            _ = try await DefunctRepository(store: store).mark(
                world.institution.id, district: district, effectiveAt: store.dependencies.now().addingTimeInterval(-3_600),
                reason: "负责人失联")
        }
    }

    /// Risk policies in force, not yet in force, ended and cancelled; tuition policies in force and not yet.
    static func policies(
        _ store: Store, _ world: World, enrollments: [EnrollmentRecord], index: Int, products: Products, random: inout SeededGenerator
    ) async throws {
        let insurance = InsuranceRepository(store: store)
        let today = BusinessDate(shanghaiDateOf: store.dependencies.now())
        // In force now, from ten days on, and (moved back after issuing: no policy starts in the past) ended.
        let periods = [(today, today.addingDays(20)), (today.addingDays(10), today.addingMonths(6)), (today, today.addingDays(20))]
        for (number, period) in periods.enumerated() where number == 0 || Bool.random(using: &random) {
            let policy = try await store.transaction {
                try await insurance.issueRiskPolicy(
                    NewRiskPolicy(
                        productId: products.risk.id, institutionId: world.institution.id,
                        sumInsuredFen: Money(fen: Int64.random(in: 1_000...60_000, using: &random)), periodStart: period.0,
                        periodEnd: period.1),
                    insurer: products.insurer, key: "risk:\(index):\(number)", on: $0)
            }
            if number == 2 {
                try await run(
                    store,
                    """
                    UPDATE policies SET period_start = period_start - interval '40 days', period_end = period_end - interval '40 days',
                        created_at = created_at - interval '40 days'
                    WHERE id = \(policy.id.uuid)
                    """)
            }
            if Int.random(in: 0...3, using: &random) == 0 {
                let cancelled = store.dependencies.now().addingTimeInterval(-60)
                try await run(store, "UPDATE policies SET cancelled_at = \(cancelled) WHERE id = \(policy.id.uuid)")
            }
        }
        for enrollment in enrollments where Bool.random(using: &random) {
            let start = Bool.random(using: &random) ? today : today.addingDays(5)
            _ = try await store.transaction {
                try await insurance.buyTuitionPolicy(
                    NewTuitionPolicy(
                        productId: products.tuition.id,
                        sumInsuredFen: Money(fen: Int64.random(in: 1...enrollment.amountFen.fen, using: &random)), periodStart: start,
                        periodEnd: start.addingMonths(3)),
                    enrollment: enrollment.id, guardian: world.guardian, key: "tuition:\(enrollment.id)", on: $0)
            }
        }
    }

    static func run(_ store: Store, _ statement: PostgresQuery) async throws {
        for try await _ in try await store.query(statement) {}
    }

    // MARK: The core's computation from the raw rows

    static func positions(_ store: Store, _ institution: UUID) async throws -> [UUID: EnrollmentPosition] {
        let rows = try await store.query(
            """
            SELECT e.id, e.supervision_mode, e.lessons_bought, e.lessons_consumed, e.lessons_refunded, e.price_per_lesson_fen,
                e.paid_fen, e.paid_at, e.released_fen, e.refunded_fen, e.returned_fen, e.escrow_returned_fen, e.lessons_after_defunct,
                dc.effective_at, e.term_start::text AS term_start
            FROM enrollments e LEFT JOIN defunct_cases dc ON dc.institution_id = e.institution_id
            WHERE e.institution_id = \(institution)
            """)
        var positions: [UUID: EnrollmentPosition] = [:]
        for try await row in rows {
            let cells = row.makeRandomAccess()
            positions[try cells["id"].decode(UUID.self)] = EnrollmentPosition(
                mode: try decodeEnum(try cells["supervision_mode"].decode(String.self)),
                lessonsBought: try cells["lessons_bought"].decode(Int.self),
                lessonsConsumed: try cells["lessons_consumed"].decode(Int.self),
                lessonsRefunded: try cells["lessons_refunded"].decode(Int.self),
                pricePerLesson: Money(fen: try cells["price_per_lesson_fen"].decode(Int64.self)),
                paid: Money(fen: try cells["paid_fen"].decode(Int64.self)), paidAt: try cells["paid_at"].decode(Date?.self),
                released: Money(fen: try cells["released_fen"].decode(Int64.self)),
                refunded: Money(fen: try cells["refunded_fen"].decode(Int64.self)),
                returned: Money(fen: try cells["returned_fen"].decode(Int64.self)),
                escrowReturned: Money(fen: try cells["escrow_returned_fen"].decode(Int64.self)),
                lessonsAfterDefunct: try cells["lessons_after_defunct"].decode(Int.self),
                defunctEffectiveAt: try cells["effective_at"].decode(Date?.self),
                termStart: try decodeDate(try cells["term_start"].decode(String.self)))
        }
        return positions
    }

    /// An account's balance from the transfers themselves, not from any kept total.
    static func balance(_ store: Store, _ institution: UUID, kind: AccountKind) async throws -> Money {
        let rows = try await store.query(
            """
            SELECT (coalesce(sum(t.amount_fen) FILTER (WHERE t.credit_account_id = a.id), 0)
                - coalesce(sum(t.amount_fen) FILTER (WHERE t.debit_account_id = a.id), 0))::bigint
            FROM accounts a LEFT JOIN transfers t ON a.id IN (t.credit_account_id, t.debit_account_id)
            WHERE a.institution_id = \(institution) AND a.kind = \(kind.rawValue)
            """)
        for try await fen in rows.decode(Int64.self) { return Money(fen: fen) }
        return .zero
    }

    static func policies(_ store: Store, _ institution: UUID, positions: [UUID: EnrollmentPosition]) async throws -> [CoverPolicy] {
        let rows = try await store.query(
            """
            SELECT p.kind, p.period_start, p.period_end, p.cancelled_at, p.remaining_fen, coalesce(pr.covered_share_bp, 0) AS share,
                p.enrollment_id
            FROM policies p JOIN insurance_products pr ON pr.id = p.product_id WHERE p.institution_id = \(institution)
            """)
        var policies: [CoverPolicy] = []
        for try await row in rows {
            let cells = row.makeRandomAccess()
            policies.append(
                CoverPolicy(
                    kind: try decodeEnum(try cells["kind"].decode(String.self)), periodStart: try cells["period_start"].decode(Date.self),
                    periodEnd: try cells["period_end"].decode(Date.self), cancelledAt: try cells["cancelled_at"].decode(Date?.self),
                    remaining: Money(fen: try cells["remaining_fen"].decode(Int64.self)),
                    coveredShareBasisPoints: try cells["share"].decode(Int.self),
                    insured: try cells["enrollment_id"].decode(UUID?.self).flatMap { positions[$0] }))
        }
        return policies
    }

    static func coreCover(_ store: Store, _ figures: InstitutionFiguresRow, at now: Date) async throws -> InstitutionCover {
        let positions = try await positions(store, figures.institution)
        return institutionCover(
            positions: Array(positions.values), escrowHeld: try await balance(store, figures.institution, kind: .escrow),
            reserveHeld: try await balance(store, figures.institution, kind: .reserve),
            reserveRatioBasisPoints: figures.reserveRatioBasisPoints,
            policies: try await policies(store, figures.institution, positions: positions), at: now)
    }

    static func sqlFigures(_ store: Store, at now: Date) async throws -> [InstitutionFiguresRow] {
        let rows = try await store.query(
            """
            SELECT \(unescaped: InstitutionFiguresRow.columns)
            FROM institution_figures(\(district)::text, NULL::uuid[], \(now)::timestamptz) f ORDER BY f.institution_id
            """)
        var figures: [InstitutionFiguresRow] = []
        for try await row in rows { figures.append(try InstitutionFiguresRow(row.makeRandomAccess())) }
        return figures
    }

    // MARK: Tests

    /// A fresh store with six varied institutions of the district (the last one defunct), built from a random seed
    /// that is printed.
    static func withVariedInstitutions(_ name: String, _ body: @escaping @Sendable (Store, UInt64) async throws -> Void) async throws {
        let seed = UInt64.random(in: .min ... .max)
        print("InstitutionFiguresStoreTests \(name) seed \(seed)")
        try await TestDatabase.withStore(name) { store in
            var random = SeededGenerator(state: seed)
            let products = try await Self.products(store)
            for index in 0..<6 { try await Self.institution(store, index: index, products: products, random: &random) }
            try await body(store, seed)
        }
    }

    @Test func theSQLFiguresAgreeWithTheCoreAndEveryReaderReadsThem() async throws {
        try await Self.withVariedInstitutions("figures") { store, seed in
            let now = store.dependencies.now()
            let figures = try await Self.sqlFigures(store, at: now)
            #expect(figures.count == 6)
            var cores: [UUID: InstitutionCover] = [:]
            for row in figures {
                let core = try await Self.coreCover(store, row, at: now)
                #expect(row.cover == core, "institution \(row.institution) (seed \(seed))")
                cores[row.institution] = core
            }
            #expect(figures.contains { $0.status == .defunct })
            try await Self.expectTheDashboardReads(store, cores)
            try await Self.expectTheWarningsRead(store, cores, at: now)
            try await Self.expectTheStatementsRead(store, cores)
        }
    }

    /// Each institution's statement shows the core's unconsumed tuition and balances, and its unconsumed tuition is
    /// still what its own parts add up to (paid − consumed − refunded − paid back).
    static func expectTheStatementsRead(_ store: Store, _ cores: [UUID: InstitutionCover]) async throws {
        let statements = StatementRepository(store: store)
        for (institution, core) in cores {
            let statement = try #require(
                try await statements.institutionStatement(.init(institution), scope: scopeOf(.regulator(DistrictCode(district)!))))
            #expect(statement.unconsumedFen == core.unconsumed, "statement of \(institution)")
            #expect(statement.escrowFen == core.escrowHeld && statement.reserveFen == core.reserveHeld)
            let parts = statement.paidFen.fen - statement.consumedFen.fen - statement.refundedFen.fen - statement.returnedFen.fen
            #expect(statement.unconsumedFen.fen == parts)
        }
    }

    /// The dashboard's list shows each institution's cover as the core computes it (a defunct one none), and its
    /// overview sums the same.
    static func expectTheDashboardReads(_ store: Store, _ cores: [UUID: InstitutionCover]) async throws {
        let dashboard = DashboardRepository(store: store)
        let page = try await dashboard.institutions(
            district: DistrictCode(district)!, filter: DashboardInstitutionFilter(), after: nil, limit: 50)
        #expect(page.items.count == cores.count)
        var active: [TuitionCoverage] = []
        for row in page.items {
            let core = try #require(cores[row.id.uuid])
            if row.status == .defunct {
                #expect(row.coverage == nil)
            } else {
                #expect(row.coverage == core.coverage, "dashboard row of \(row.id)")
                active.append(core.coverage)
            }
        }
        let overview = try await dashboard.overview(district: DistrictCode(district)!)
        #expect(overview.coverage.unconsumed == Money(fen: active.map(\.unconsumed.fen).reduce(0, +)))
        #expect(overview.coverage.insurance == Money(fen: active.map(\.insuranceApplied.fen).reduce(0, +)))
        #expect(overview.escrowHeld == Money(fen: active.map(\.escrow.fen).reduce(0, +)))
        #expect(overview.reserveHeld == Money(fen: active.map(\.reserve.fen).reduce(0, +)))
        let short = try await dashboard.institutions(
            district: DistrictCode(district)!, filter: DashboardInstitutionFilter(shortfallOnly: true), after: nil, limit: 50)
        #expect(Set(short.items.map(\.id.uuid)) == Set(page.items.filter { $0.coverage?.uncovered.isPositive == true }.map(\.id.uuid)))
    }

    /// The warning rules read the same figures for every institution they cover.
    static func expectTheWarningsRead(_ store: Store, _ cores: [UUID: InstitutionCover], at now: Date) async throws {
        let warnings = WarningRepository(store: store)
        let evaluated = try await store.transaction { (connection: PostgresConnection) in
            try await warnings.figures(
                district: district, institutions: nil, now: now, today: BusinessDate(shanghaiDateOf: now), on: connection)
        }
        #expect(evaluated.count == cores.count - 1, "a defunct institution is not evaluated")
        for institution in evaluated {
            let core = try #require(cores[institution.figures.institution.uuid])
            #expect(institution.figures.unconsumed == core.unconsumed)
            #expect(institution.figures.escrowHeld == core.escrowHeld)
            #expect(institution.figures.reserveHeld == core.reserveHeld)
            #expect(institution.figures.riskPolicyInForce == core.riskPolicyExcusesReserve)
            #expect(institution.figures.riskPolicyEnds == core.riskPolicyEnds)
            #expect(institution.thresholds == .defaults)
        }
    }

    // MARK: The kept unconsumed tuition (issue 15, sql/0023)

    /// Per institution of the district: the unconsumed tuition readers get (`institution_figures`, which reads the kept
    /// totals and the moves not folded yet), and the sum of its enrollments' positions computed from scratch.
    static func keptAndFromScratch(_ store: Store) async throws -> [UUID: (kept: Int64, scratch: Int64)] {
        let rows = try await store.query(
            """
            SELECT f.institution_id, f.unconsumed_fen,
                coalesce((SELECT sum(p.outstanding_fen) FROM enrollment_positions p WHERE p.institution_id = f.institution_id), 0)::bigint
            FROM institution_figures(\(district)::text, NULL::uuid[], \(store.dependencies.now())::timestamptz) f
            """)
        var figures: [UUID: (kept: Int64, scratch: Int64)] = [:]
        for try await (institution, kept, scratch) in rows.decode((UUID, Int64, Int64).self) { figures[institution] = (kept, scratch) }
        return figures
    }

    static func expectKeptEqualsScratch(_ store: Store, _ moment: String, seed: UInt64) async throws {
        let figures = try await keptAndFromScratch(store)
        #expect(!figures.isEmpty)
        for (institution, figure) in figures {
            #expect(figure.kept == figure.scratch, "\(moment): institution \(institution) (seed \(seed))")
        }
    }

    static func fold(_ store: Store) async throws {
        for try await _ in try await store.query("SELECT fold_institution_unconsumed()") {}
    }

    static func unfoldedMoves(_ store: Store) async throws -> Int {
        for try await count in try await store.query("SELECT count(*)::int FROM institution_unconsumed_moves").decode(Int.self) {
            return count
        }
        return 0
    }

    struct RolledBack: Error {}

    /// The kept total equals the sum of the positions after every kind of write that moves an enrollment's outstanding
    /// tuition (payments, lessons, refunds, a defunct mark and its fast-track's claims, settlements and returns, policy
    /// changes beside them), before and after folding; writers racing each other and the folds lose nothing; a fold
    /// between a write and its commit neither counts it early nor drops it; a rolled-back write leaves no move.
    @Test func theKeptUnconsumedTuitionIsTheSumOfThePositionsWhateverTheWritesAndTheirOrder() async throws {
        try await Self.withVariedInstitutions("kept") { store, seed in
            try await Self.expectKeptEqualsScratch(store, "after payments, lessons, refunds, policies and a defunct mark", seed: seed)
            try await Self.fold(store)
            #expect(try await Self.unfoldedMoves(store) == 0)
            try await Self.expectKeptEqualsScratch(store, "folded", seed: seed)

            // The defunct institution's fast-track: claims, settlements, payouts and returns move its enrollments.
            var cases: [UUID] = []
            for try await id in try await store.query("SELECT id FROM defunct_cases").decode(UUID.self) { cases.append(id) }
            for id in cases { _ = try await FastTrackJob(store: store, chunkSize: 1).run(.init(id)) }
            #expect(try await Self.unfoldedMoves(store) > 0, "the fast-track moved the defunct institution's figures")
            try await Self.expectKeptEqualsScratch(store, "after the fast-track", seed: seed)

            // Writers on one institution racing each other and a run of folds.
            let world = try await World.make(store, district: Self.district, mode: .escrow, pricePerLessonFen: 3_001, lessons: 20)
            var enrollments = [world.enrollment]
            for _ in 0..<5 { enrollments.append(try await world.anotherEnrollment(store, lessons: 20)) }
            let money = EnrollmentRepository(store: store)
            let today = BusinessDate(shanghaiDateOf: store.dependencies.now())
            try await withThrowingTaskGroup(of: Void.self) { group in
                for enrollment in enrollments {
                    group.addTask {
                        _ = try await store.transaction {
                            try await money.pay(enrollment.id, guardian: world.guardian, amount: enrollment.amountFen, on: $0)
                        }
                        for _ in 0..<3 {
                            _ = try await store.transaction {
                                try await money.recordLessons(
                                    enrollment.id, institution: world.institution.id, lessons: 2, takenOn: today, on: $0)
                            }
                        }
                        _ = try await store.transaction {
                            try await money.refund(enrollment.id, institution: world.institution.id, lessons: 4, reason: "退费", on: $0)
                        }
                    }
                }
                group.addTask { for _ in 0..<20 { try await Self.fold(store) } }
                try await group.waitForAll()
            }
            try await Self.expectKeptEqualsScratch(store, "after concurrent writers and folds", seed: seed)

            // A fold between a write and its commit: the write is not counted before it commits, nor lost after.
            let late = try await world.anotherEnrollment(store, lessons: 10)
            let before = try #require(try await Self.keptAndFromScratch(store)[world.institution.id.uuid])
            _ = try await store.transaction { transaction in
                let paid = try await money.pay(late.id, guardian: world.guardian, amount: late.amountFen, on: transaction)
                // Seen from another connection, as another session would: this task holds one.
                try await Task.detached { try await Self.fold(store) }.value
                let seen = try await Task.detached { try await Self.keptAndFromScratch(store) }.value
                let outside = try #require(seen[world.institution.id.uuid])
                #expect(outside.kept == before.kept && outside.scratch == before.scratch, "the uncommitted payment is not seen")
                return paid
            }
            let after = try #require(try await Self.keptAndFromScratch(store)[world.institution.id.uuid])
            #expect(after.kept == before.kept + late.amountFen.fen)
            try await Self.expectKeptEqualsScratch(store, "after a payment committed around a fold", seed: seed)

            // A rolled-back payment leaves no move behind.
            let abandoned = try await world.anotherEnrollment(store, lessons: 10)
            try await Self.fold(store)
            await #expect(throws: RolledBack.self) {
                _ = try await store.transaction { transaction in
                    _ = try await money.pay(abandoned.id, guardian: world.guardian, amount: abandoned.amountFen, on: transaction)
                    throw RolledBack()
                }
            }
            #expect(try await Self.unfoldedMoves(store) == 0)
            try await Self.fold(store)
            try await Self.expectKeptEqualsScratch(store, "folded at the end", seed: seed)
        }
    }

    @Test func theThresholdsViewIsTheDefaultsUntilADistrictSetsItsOwn() async throws {
        try await TestDatabase.withStore("thresholds") { store in
            let code = DistrictCode(Self.district)!
            try await PartyRepository(store: store).ensureDistrict(code)
            let warnings = WarningRepository(store: store)
            #expect(try await warnings.thresholds(code) == .defaults)
            let own = WarningThresholds(
                escrowCoverageMinBasisPoints: 9_000, salesSpikeRatioBasisPoints: 20_000, salesSpikeMinimum: .yuan(5_000),
                lessonsOverScheduleRatioBasisPoints: 12_000, lessonsOverScheduleMinimum: 4, refundGraceDays: 10, expiryNoticeDays: 60,
                deadlineDays: 7)
            try await warnings.setThresholds(own, district: code)
            #expect(try await warnings.thresholds(code) == own)
        }
    }
}
