import Foundation
import PostgresNIO
import Testing
import TuitionCore
import TuitionStore
import TuitionTestSupport

/// Issue 14: "policy in force" has one definition in SQL (`policy_in_force`, sql/0017) and one in the core
/// (`policyInForce`); they must agree at every boundary instant: the period's start and end, the cancellation, and a
/// millisecond either side of each.
@Suite struct PolicyInForceStoreTests {
    struct Case {
        var start: Date
        var end: Date
        var cancelled: Date?
        var at: Date
    }

    static func cases() -> [Case] {
        let start = Date(timeIntervalSince1970: 1_790_000_000)
        let end = start.addingTimeInterval(86_400)
        let tick = 0.001
        let marks = [start, end]
        var instants = marks.flatMap { [$0.addingTimeInterval(-tick), $0, $0.addingTimeInterval(tick)] }
        instants.append(start.addingTimeInterval(43_200))
        let cancellations: [Date?] = [nil] + instants
        var cases: [Case] = []
        for cancelled in cancellations {
            var probes = instants
            if let cancelled { probes += [cancelled.addingTimeInterval(-tick), cancelled, cancelled.addingTimeInterval(tick)] }
            for at in probes { cases.append(Case(start: start, end: end, cancelled: cancelled, at: at)) }
        }
        return cases
    }

    @Test func theSQLDefinitionAgreesWithTheCoreAtEveryBoundary() async throws {
        try await TestDatabase.withStore("inforce") { store in
            let cases = Self.cases()
            // A policy never cancelled is passed as NULL, as the table keeps it.
            let rows = try await store.query(
                """
                SELECT n, policy_in_force(s, e, CASE WHEN open_ended THEN NULL ELSE c END, a) AS in_force
                FROM unnest(\(cases.map(\.start))::timestamptz[], \(cases.map(\.end))::timestamptz[],
                    \(cases.map { $0.cancelled ?? $0.start })::timestamptz[], \(cases.map { $0.cancelled == nil })::bool[],
                    \(cases.map(\.at))::timestamptz[]) WITH ORDINALITY AS x(s, e, c, open_ended, a, n)
                ORDER BY n
                """)
            var answers: [Bool] = []
            for try await (_, inForce) in rows.decode((Int, Bool).self) { answers.append(inForce) }
            #expect(answers.count == cases.count)
            var inForce = 0
            for (item, sql) in zip(cases, answers) {
                let core = policyInForce(periodStart: item.start, periodEnd: item.end, cancelledAt: item.cancelled, at: item.at)
                #expect(sql == core, "start \(item.start) end \(item.end) cancelled \(String(describing: item.cancelled)) at \(item.at)")
                if core { inForce += 1 }
            }
            #expect(inForce > 0 && inForce < cases.count, "the cases reach both answers")
        }
    }
}
