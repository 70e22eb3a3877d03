import Foundation
import PostgresNIO
import Testing
import TuitionCore
import TuitionStore
import TuitionTestSupport
import TuitionWire

/// Issue 14: escalation and the hold-back after a regulator's resolution each have one home in SQL
/// (`warning_escalates`, `resolution_holds_off`, sql/0021), which the evaluation applies set-based, mirrored by the
/// core's `warningEscalates` and `resolutionHoldsOff`. Random cases packed around each boundary get the same answer
/// from both copies; a copy with its boundary moved (`<=` for `<`, a day more, the other resolver) answers differently
/// on at least one case, so the cases would catch that change in either copy; and an evaluation over warnings written
/// at the boundaries escalates and reopens exactly what the core says.
@Suite struct WarningLifecycleStoreTests {
    static let day: TimeInterval = 86_400

    static func seeded(_ name: String) -> SeededGenerator {
        let seed = UInt64.random(in: .min ... .max)
        print("WarningLifecycleStoreTests \(name) seed \(seed)")
        return SeededGenerator(state: seed)
    }

    /// One statement's answers in the order of the cases, on a fresh database: the column `real` (the migration's
    /// function) and each copy with its boundary moved, by column name.
    static func answers(_ suite: String, _ query: PostgresQuery, moved names: [String]) async throws -> (real: [Bool], moved: [[Bool]]) {
        try await TestDatabase.withStore(suite) { store in
            var real: [Bool] = []
            var moved: [[Bool]] = names.map { _ in [] }
            for try await row in try await store.query(query) {
                let cells = row.makeRandomAccess()
                real.append(try cells["real"].decode(Bool.self))
                for (index, name) in names.enumerated() { moved[index].append(try cells[name].decode(Bool.self)) }
            }
            return (real, moved)
        }
    }

    /// The migration's function and the core agree on every case, the cases reach both answers, and every copy with
    /// its boundary moved, in SQL or in Swift, disagrees on at least one case.
    static func expectAgreement<Case: CustomStringConvertible>(
        _ cases: [Case], sql: [Bool], movedSQL: [[Bool]], core rule: (Case) -> Bool, movedCore: [(String, (Case) -> Bool)]
    ) {
        #expect(sql.count == cases.count, "one answer per case")
        let core = cases.map(rule)
        for (index, item) in cases.enumerated() where index < sql.count { #expect(sql[index] == core[index], "\(item)") }
        #expect(core.contains(true) && core.contains(false), "the cases reach both answers")
        for (index, answers) in movedSQL.enumerated() {
            #expect(zip(answers, core).contains { $0 != $1 }, "SQL copy \(index) with its boundary moved is caught")
        }
        for (name, moved) in movedCore { #expect(zip(cases, sql).contains { moved($0) != $1 }, "core copy \(name) is caught") }
    }

    // MARK: Escalation

    struct Escalation: CustomStringConvertible {
        var status: WarningStatus
        var deadline: BusinessDate
        var today: BusinessDate
        var description: String { "\(status) deadline \(deadline) today \(today)" }
    }

    /// Every status with deadlines the day before, of and after `today`, and a few days either side, on random days.
    static func escalations() -> [Escalation] {
        var random = seeded("escalation")
        var cases: [Escalation] = []
        for _ in 0..<40 {
            let today = BusinessDate(daysSinceEpoch: Int.random(in: 10_957...47_482, using: &random))  // 2000 … 2099
            let offsets = [-1, 0, 1, Int.random(in: -400 ... -2, using: &random), Int.random(in: 2...400, using: &random)]
            for status in WarningStatus.allCases {
                for offset in offsets { cases.append(Escalation(status: status, deadline: today.addingDays(offset), today: today)) }
            }
        }
        return cases
    }

    @Test func escalationInSQLAgreesWithTheCoreAtTheDeadline() async throws {
        let cases = Self.escalations()
        // Beside the real function, two copies with a boundary moved: `<=` for `<`, and escalated ones again.
        let (sql, movedSQL) = try await Self.answers(
            "wlescalate",
            """
            SELECT warning_escalates(s, d::date, t::date) AS real, s = 'open' AND d::date <= t::date AS on_the_day,
                s <> 'resolved' AND d::date < t::date AS again
            FROM unnest(\(cases.map(\.status.rawValue))::text[], \(cases.map(\.deadline.description))::text[],
                \(cases.map(\.today.description))::text[]) WITH ORDINALITY AS x(s, d, t, n)
            ORDER BY n
            """, moved: ["on_the_day", "again"])
        Self.expectAgreement(
            cases, sql: sql, movedSQL: movedSQL, core: { warningEscalates(status: $0.status, deadline: $0.deadline, today: $0.today) },
            movedCore: [
                ("<= for <", { $0.status == .open && $0.deadline <= $0.today }),
                ("a day late", { $0.status == .open && $0.deadline.addingDays(1) < $0.today }),
                ("escalated again", { $0.status != .resolved && $0.deadline < $0.today }),
            ])
    }

    // MARK: Hold-back after a resolution

    struct HoldOff: CustomStringConvertible {
        var resolvedBy: WarningResolver?
        var resolvedAt: Date?
        var deadlineDays: Int
        var at: Date
        var description: String {
            "by \(resolvedBy?.rawValue ?? "nobody") at \(resolvedAt.map { "\($0.timeIntervalSince1970)" } ?? "never") "
                + "days \(deadlineDays) evaluated \(at.timeIntervalSince1970)"
        }
    }

    /// Resolutions by either resolver (and none) exactly `deadlineDays` ago, a millisecond and a day either side, at the
    /// evaluation itself and at random within the period. Evaluations are at random whole seconds, so "exactly" is the
    /// same instant in both copies (the database keeps microseconds, a `Date` binary fractions of a second).
    static func holdOffs() -> [HoldOff] {
        var random = seeded("hold-off")
        var cases: [HoldOff] = []
        for _ in 0..<30 {
            let at = Date(timeIntervalSince1970: Double(Int64.random(in: 946_684_800...4_102_444_799, using: &random)))
            let days = [1, 15, 365, Int.random(in: 1...365, using: &random)][Int.random(in: 0...3, using: &random)]
            let boundary = at.addingTimeInterval(-Double(days) * day)
            let within = Double(Int.random(in: 1...(days * 86_400 - 1), using: &random))
            let instants = [
                boundary.addingTimeInterval(-day), boundary.addingTimeInterval(-0.001), boundary, boundary.addingTimeInterval(0.001),
                boundary.addingTimeInterval(day), boundary.addingTimeInterval(within), at,
            ]
            let resolvers: [WarningResolver?] = [nil, .cleared, .regulator]
            for resolver in resolvers {
                for instant in instants { cases.append(HoldOff(resolvedBy: resolver, resolvedAt: instant, deadlineDays: days, at: at)) }
                cases.append(HoldOff(resolvedBy: resolver, resolvedAt: nil, deadlineDays: days, at: at))
            }
        }
        return cases
    }

    @Test func theHoldBackInSQLAgreesWithTheCoreAtTheDeadlineDays() async throws {
        let cases = Self.holdOffs()
        // NULLs are passed as flags beside placeholder values, as the table keeps a warning not resolved. Beside the
        // real function, two copies with a boundary moved: `>=` for `>`, and any resolver holding off.
        let (sql, movedSQL) = try await Self.answers(
            "wlholdoff",
            """
            WITH c AS (
                SELECT n, d, a, CASE WHEN has_by THEN b END AS b, CASE WHEN has_at THEN r END AS r
                FROM unnest(\(cases.map { $0.resolvedBy?.rawValue ?? "" })::text[], \(cases.map { $0.resolvedBy != nil })::bool[],
                    \(cases.map { $0.resolvedAt ?? $0.at })::timestamptz[], \(cases.map { $0.resolvedAt != nil })::bool[],
                    \(cases.map(\.deadlineDays))::int[], \(cases.map(\.at))::timestamptz[])
                    WITH ORDINALITY AS x(b, has_by, r, has_at, d, a, n))
            SELECT resolution_holds_off(b, r, d, a) AS real,
                coalesce(b = 'regulator' AND r >= a - make_interval(hours => 24 * d), false) AS on_the_boundary,
                coalesce(b IS NOT NULL AND r > a - make_interval(hours => 24 * d), false) AS any_resolver
            FROM c ORDER BY n
            """, moved: ["on_the_boundary", "any_resolver"])
        func heldSince(_ item: HoldOff, days: Int, inclusive: Bool, anyResolver: Bool) -> Bool {
            guard let at = item.resolvedAt, anyResolver ? item.resolvedBy != nil : item.resolvedBy == .regulator else { return false }
            let start = item.at.addingTimeInterval(-Double(days) * Self.day)
            return inclusive ? at >= start : at > start
        }
        Self.expectAgreement(
            cases, sql: sql, movedSQL: movedSQL,
            core: { resolutionHoldsOff(resolvedBy: $0.resolvedBy, resolvedAt: $0.resolvedAt, deadlineDays: $0.deadlineDays, at: $0.at) },
            movedCore: [
                (">= for >", { heldSince($0, days: $0.deadlineDays, inclusive: true, anyResolver: false) }),
                ("a day more", { heldSince($0, days: $0.deadlineDays + 1, inclusive: false, anyResolver: false) }),
                ("a day less", { heldSince($0, days: $0.deadlineDays - 1, inclusive: false, anyResolver: false) }),
                ("a cleared warning holds off too", { heldSince($0, days: $0.deadlineDays, inclusive: false, anyResolver: true) }),
            ])
    }

    // MARK: The evaluation applies them

    /// A warning written before the evaluation, for an institution whose licence expires in 5 days (so
    /// `licence_expiring` fires again).
    struct Earlier {
        var institution: Institution.ID
        var status: WarningStatus
        var deadline: BusinessDate
        var resolvedBy: WarningResolver?
        var resolvedAt: Date?
    }

    static func write(_ store: Store, _ earlier: Earlier, district: String, now: Date) async throws {
        let opened = now.addingTimeInterval(-40 * day)
        try await store.query(
            """
            INSERT INTO warnings (id, institution_id, district_code, rule, severity, status, figures, latest_figures, deadline,
                opened_at, evaluated_at, resolved_at, resolved_by, escalated_at)
            VALUES (\(UUID()), \(earlier.institution.uuid), \(district), 'licence_expiring', 'notice', \(earlier.status.rawValue),
                '{}'::jsonb, '{}'::jsonb, \(earlier.deadline.description)::date, \(opened), \(opened), \(earlier.resolvedAt),
                \(earlier.resolvedBy?.rawValue), \(earlier.status == .escalated ? opened : nil))
            """)
    }

    @Test func anEvaluationEscalatesAndHoldsOffExactlyWhatTheCoreSays() async throws {
        var random = Self.seeded("evaluation")
        let now = Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down))
        let clock = TestClock(now)
        let days = Int.random(in: 1...30, using: &random)
        let within = Double(Int.random(in: 1..<(days * 86_400), using: &random))
        try await TestDatabase.withStore("wlevaluate", clock: clock) { store in
            let district = DistrictCode("330203")!
            let parties = PartyRepository(store: store)
            try await parties.ensureDistrict(district)
            let warnings = WarningRepository(store: store)
            try await warnings.setThresholds(WarningThresholds(deadlineDays: days), district: district)
            let today = BusinessDate(shanghaiDateOf: now)
            let boundary = now.addingTimeInterval(-Double(days) * Self.day)
            var earlier: [Earlier] = []
            for status in [WarningStatus.open, .escalated] {
                for offset in [-2, -1, 0, 1, 2] {
                    earlier.append(Earlier(institution: Institution.ID(UUID()), status: status, deadline: today.addingDays(offset)))
                }
            }
            for resolver in [WarningResolver.cleared, .regulator] {
                for offset in [-Self.day, -1, 0, 1, Self.day, within] {
                    earlier.append(
                        Earlier(
                            institution: Institution.ID(UUID()), status: .resolved, deadline: today.addingDays(-days),
                            resolvedBy: resolver, resolvedAt: boundary.addingTimeInterval(offset)))
                }
            }
            for index in earlier.indices {
                let registered = try await parties.registerInstitution(
                    NewInstitution(
                        licenceNumber: "教民\(index)-\(UInt32.random(in: .min ... .max))", name: "星火教育培训学校", address: "宁波市海曙区",
                        creditCode: "52330203MJ0000000X", licenceValidUntil: today.addingDays(5), supervisionMode: .escrow,
                        reserveRatioBasisPoints: 0, supervisedBank: "宁波银行", supervisedAccountNumber: "8601 0000 0000"),
                    district: district)
                earlier[index].institution = registered.id
                try await Self.write(store, earlier[index], district: district.value, now: now)
            }

            let outcome = try await warnings.evaluate(.district(district))
            var escalations = 0
            var openings = 0
            for item in earlier {
                let page = try await warnings.warnings(
                    scope: scopeOf(.regulator(district)), status: nil, rule: .licenceExpiring, institution: item.institution,
                    page: PageRequest(limit: 10))
                let unresolved = page.items.filter { $0.status != .resolved }
                if item.status == .resolved {
                    let heldOff = resolutionHoldsOff(
                        resolvedBy: item.resolvedBy, resolvedAt: item.resolvedAt, deadlineDays: days, at: now)
                    #expect(
                        unresolved.count == (heldOff ? 0 : 1),
                        "resolved by \(String(describing: item.resolvedBy)) at \(String(describing: item.resolvedAt))")
                    if !heldOff { openings += 1 }
                } else {
                    let escalates = warningEscalates(status: item.status, deadline: item.deadline, today: today)
                    #expect(unresolved.map(\.status) == [escalates ? .escalated : item.status], "\(item.status) due \(item.deadline)")
                    if escalates { escalations += 1 }
                }
            }
            #expect(outcome.escalated == escalations && outcome.opened == openings)
            #expect(escalations > 0 && escalations < 10, "some escalate, some do not")
            #expect(openings > 0 && openings < 12, "some are held off, some reopen")
        }
    }

    /// A defunct institution's rules are no longer evaluated, but its warnings stay on the record: one left unresolved
    /// past its deadline escalates as any other (it stayed open for ever). Its grade is D from the mark on.
    @Test func aDefunctInstitutionsWarningEscalatesAndItIsGradedD() async throws {
        let now = Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down))
        try await TestDatabase.withStore("wldefunct", clock: TestClock(now)) { store in
            let world = try await World.make(store)
            let district = world.district
            let today = BusinessDate(shanghaiDateOf: now)
            try await Self.write(
                store, Earlier(institution: world.institution.id, status: .open, deadline: today.addingDays(-1)),
                district: district.value, now: now)
            _ = try await DefunctRepository(store: store).mark(
                world.institution.id, district: district.value, effectiveAt: nil, reason: "负责人失联")
            let supervision = SupervisionRepository(store: store)
            #expect(try await supervision.credit(world.institution.id, scope: scopeOf(.regulator(district)))?.grade == .d)
            // Final, as the status it comes from: an evaluation that read the institution as operating before the mark
            // committed leaves it alone (sql/0038).
            for try await final in try await store.query(
                "SELECT final FROM credit_grades WHERE institution_id = \(world.institution.id.uuid)"
            ).decode(Bool.self) { #expect(final) }
            // A final grade gives way to another final one: a blacklisted institution later marked defunct is graded D
            // as defunct, not left "blacklisted".
            let other = try await World.make(store, district: "330213")
            _ = try await supervision.sanction(
                other.institution.id, action: .blacklist, note: "卷款风险", district: other.district)
            _ = try await DefunctRepository(store: store).mark(
                other.institution.id, district: other.district.value, effectiveAt: nil, reason: "负责人失联")
            let regraded = try await supervision.credit(other.institution.id, scope: scopeOf(.regulator(other.district)))
            #expect(regraded?.grade == .d && regraded?.components.contains { $0.detail == "defunct: graded D" } == true)
            let outcome = try await WarningRepository(store: store).evaluate(.district(district))
            #expect(outcome.escalated == 1)
            let page = try await WarningRepository(store: store).warnings(
                scope: scopeOf(.regulator(district)), status: nil, rule: .licenceExpiring, institution: world.institution.id,
                page: PageRequest(limit: 10))
            #expect(page.items.map(\.status) == [.escalated])
        }
    }
}
