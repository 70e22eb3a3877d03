import Foundation
import PostgresNIO
import Testing
import TuitionCore
import TuitionTestSupport
import TuitionWire

@testable import TuitionStore

/// Issue #15: a class session writes its lessons and release transfers with the per-row foreign-key triggers off and
/// checks their references once for the session (`ReferenceCheckedInserts`, `EnrollmentRepository.referenceChecks`).
@Suite struct ClassSessionStoreTests {
    enum BrokenReference: CaseIterable { case none, lessonEnrollment, releaseAccount }

    /// The session's checks refuse a dangling reference in either table, as the triggers would (23503), and pass rows
    /// whose references hold.
    @Test func theSessionsReferenceChecksRefuseWhatTheTriggersWould() async throws {
        try await TestDatabase.withStore("sessionrefs") { store in
            let world = try await TransferPostingStoreTests.paidWorld(store)
            let institution = world.institution.id.uuid
            func writeAndCheck(_ broken: BrokenReference) async throws {
                try await store.transaction { (connection: PostgresConnection) in
                    try await connection.run("SELECT set_config('session_replication_role', 'replica', true)", logger: store.logger)
                    let lesson = UUID()
                    let key = "sessionrefs:\(UUID())"
                    let enrollment = broken == .lessonEnrollment ? UUID() : world.enrollment.id.uuid
                    try await connection.run(
                        """
                        INSERT INTO lessons (id, enrollment_id, institution_id, lessons, taken_on, value_fen, recorded_at)
                        VALUES (\(lesson), \(enrollment), \(institution), 1, current_date, 8000, now())
                        """, logger: store.logger)
                    let operating =
                        broken == .releaseAccount
                        ? "-42" : "(SELECT id FROM accounts WHERE institution_id = '\(institution)' AND kind = 'operating')"
                    try await connection.run(
                        """
                        INSERT INTO transfers (idempotency_key, kind, debit_account_id, credit_account_id, amount_fen, institution_id,
                            enrollment_id, created_at)
                        SELECT \(key), 'release', e.id, \(unescaped: operating), 8000, \(institution), \(world.enrollment.id.uuid), now()
                        FROM accounts e WHERE e.institution_id = \(institution) AND e.kind = 'escrow'
                        """, logger: store.logger)
                    try await connection.run("SELECT set_config('session_replication_role', 'origin', true)", logger: store.logger)
                    for check in EnrollmentRepository.referenceChecks(lessons: [lesson], releaseKeys: [key]) {
                        try await connection.run(check, logger: store.logger)
                    }
                }
            }
            try await writeAndCheck(.none)
            for broken in BrokenReference.allCases where broken != .none {
                await #expect("\(broken)") {
                    try await writeAndCheck(broken)
                } throws: { error in
                    (error as? PSQLError)?.serverInfo?[.sqlState] == "23503"
                }
            }
        }
    }

    /// A session turns the triggers back on for the rest of its transaction (the idempotency row, the response), and
    /// its rows are whole: one lesson and one release per enrollment, every total posted.
    @Test func aSessionTurnsTheTriggersBackOnForTheRestOfItsTransaction() async throws {
        try await TestDatabase.withStore("sessionroles") { store in
            let world = try await World.make(store, lessons: 10)
            var enrollments = [world.enrollment]
            for _ in 0..<4 { enrollments.append(try await world.anotherEnrollment(store, lessons: 10)) }
            let repository = EnrollmentRepository(store: store)
            for enrollment in enrollments {
                _ = try await store.transaction {
                    try await repository.pay(enrollment.id, guardian: world.guardian, amount: enrollment.amountFen, on: $0)
                }
            }
            let today = BusinessDate(shanghaiDateOf: Date())
            let session = NewClassSession(courseId: world.course.id, takenOn: today, enrollmentIds: enrollments.map(\.id))
            let (record, role) = try await store.transaction { (connection: PostgresConnection) in
                let record = try await repository.recordClassSession(
                    session, institution: world.institution.id, releaseKeyPrefix: "sessionroles", on: connection)
                var role = ""
                for try await value in try await connection.query(
                    "SELECT current_setting('session_replication_role')", logger: store.logger
                ).decode(String.self) {
                    role = value
                }
                return (record, role)
            }
            #expect(role == "origin")
            #expect(record.recorded == enrollments.count && record.refused == 0)
            let rows = try await store.query(
                """
                SELECT (SELECT count(*) FROM lessons WHERE enrollment_id = ANY(\(enrollments.map(\.id.uuid))))::int,
                    (SELECT count(*) FROM transfers WHERE idempotency_key LIKE 'sessionroles:%')::int
                """)
            for try await (lessons, releases) in rows.decode((Int, Int).self) {
                #expect(lessons == enrollments.count && releases == enrollments.count)
            }
            #expect(try await TransferPostingStoreTests.unposted(store) == [])
        }
    }

    /// A session's lessons are recorded at the instant their events carry, to the millisecond, whatever the clock reads:
    /// PostgresNIO truncates a `Date` to the microsecond and an event rounds it, so a clock a few tenths of a
    /// microsecond before a millisecond put the event in the next one and every lesson of the session in the audit.
    @Test func aSessionsLessonsAreLoggedAtTheMillisecondTheyAreRecorded() async throws {
        let clock = TestClock(Date(timeIntervalSince1970: 1_800_000_000.1239996))
        try await TestDatabase.withStore("sessioninstant", clock: clock) { store in
            let world = try await World.make(store, lessons: 10)
            let repository = EnrollmentRepository(store: store)
            _ = try await store.transaction {
                try await repository.pay(world.enrollment.id, guardian: world.guardian, amount: world.enrollment.amountFen, on: $0)
            }
            let session = NewClassSession(
                courseId: world.course.id, takenOn: BusinessDate(shanghaiDateOf: clock.now), enrollmentIds: [world.enrollment.id])
            let record = try await store.transaction { (connection: PostgresConnection) in
                try await repository.recordClassSession(
                    session, institution: world.institution.id, releaseKeyPrefix: "sessioninstant", on: connection)
            }
            #expect(record.recorded == 1)
            #expect(try await auditBreaches(store) == [])
        }
    }
}
