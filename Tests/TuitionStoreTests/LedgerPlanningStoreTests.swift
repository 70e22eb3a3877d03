import Foundation
import PostgresNIO
import Testing
import TuitionCore
import TuitionTestSupport
import TuitionWire

@testable import TuitionStore

/// Issue 15: a single-enrollment money write's statements run on generic plans (`genericPlansForTheTransaction`), so
/// the lesson write is planned once per connection instead of once per request; and the setting ends with the
/// transaction.
@Suite struct LedgerPlanningStoreTests {
    static let lessonWrite = "statement LIKE '%INSERT INTO lessons AS l%'"

    @Test func lessonWritesAreNeverReplannedAndOnlyTheirTransactionUsesGenericPlans() async throws {
        try await TestDatabase.withStore("planning") { store in
            let world = try await World.make(store, lessons: 20)
            let orders = [world.enrollment, try await world.anotherEnrollment(store), try await world.anotherEnrollment(store)]
            let repository = EnrollmentRepository(store: store)
            for order in orders {
                _ = try await store.transaction {
                    try await repository.pay(order.id, guardian: world.guardian, amount: order.amountFen, on: $0)
                }
            }
            let today = BusinessDate(shanghaiDateOf: store.dependencies.now())
            // One transaction is one connection: its prepared lesson write and that statement's plan counts are its own.
            let (before, during, custom, generic) = try await store.transaction { (connection: PostgresConnection) in
                let before = try await Self.planCacheMode(connection)
                // More than the five custom plans PostgreSQL tries before it would consider the generic one.
                for round in 0..<8 {
                    _ = try await repository.recordLessons(
                        orders[round % orders.count].id, institution: world.institution.id, lessons: 1, takenOn: today,
                        on: StoreTransaction(connection: connection))
                }
                let plans = try await connection.query(
                    """
                    SELECT coalesce(sum(custom_plans), 0)::int, coalesce(sum(generic_plans), 0)::int
                    FROM pg_prepared_statements WHERE \(unescaped: Self.lessonWrite)
                    """, logger: store.logger)
                var counts = (0, 0)
                for try await row in plans.decode((Int, Int).self) { counts = row }
                return (before, try await Self.planCacheMode(connection), counts.0, counts.1)
            }
            #expect(before == "auto")
            #expect(during == "force_generic_plan")
            #expect(custom == 0, "the lesson write was planned afresh \(custom) times")
            #expect(generic >= 8)
        }
    }

    @Test func theSettingEndsWithItsTransaction() async throws {
        try await TestDatabase.withStore("planning") { store in
            let world = try await World.make(store, lessons: 20)
            let repository = EnrollmentRepository(store: store)
            let today = BusinessDate(shanghaiDateOf: store.dependencies.now())
            let (during, after) = try await store.client.withConnection { connection in
                // Refused (nothing is paid yet), but only after the lock, which set the mode for this transaction.
                let during = try await connection.withTransaction(logger: store.logger) { connection in
                    await #expect(throws: Rejection.enrollmentNotPaid) {
                        try await repository.recordLessons(
                            world.enrollment.id, institution: world.institution.id, lessons: 1, takenOn: today,
                            on: StoreTransaction(connection: connection))
                    }
                    return try await Self.planCacheMode(connection)
                }
                return (during, try await Self.planCacheMode(connection))
            }
            #expect(during == "force_generic_plan")
            #expect(after == "auto")
        }
    }

    static func planCacheMode(_ connection: PostgresConnection) async throws -> String {
        for try await mode in try await connection.query("SHOW plan_cache_mode", logger: TestDatabase.logger).decode(String.self) {
            return mode
        }
        return ""
    }
}
