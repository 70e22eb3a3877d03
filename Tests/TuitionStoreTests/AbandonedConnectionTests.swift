import Foundation
import PostgresNIO
import Testing
import TuitionTestSupport

@testable import TuitionStore

@Suite struct AbandonedConnectionTests {
    /// `/ready`'s log-lag poll, abandoned at its deadline on a server that does not answer it (here: a table another
    /// session holds locked), gives its pool slot back once the grace has passed: polls of a half-dead server do not
    /// use up the pool.
    @Test func anAbandonedLogLagPollGivesItsSlotBack() async throws {
        try await TestDatabase.withStore("abandonedlag", connections: 2) { store in
            let (locked, holding) = AsyncStream<Void>.makeStream()
            let (released, release) = AsyncStream<Void>.makeStream()
            let holder = Task {
                try await store.transaction { (connection: PostgresConnection) in
                    try await connection.run("LOCK TABLE evidence_queue IN ACCESS EXCLUSIVE MODE", logger: store.logger)
                    holding.yield()
                    for await _ in released { break }
                }
            }
            for await _ in locked { break }
            await #expect(throws: DeadlineExceeded.self) {
                _ = try await withDeadline(.milliseconds(300)) { try await LogLagRepository(store: store).lag() }
            }
            // The pool's other slot: held by the waiting poll (for the test sessions' 120 s lock timeout) unless its
            // connection is closed.
            let answered = await poolAnswersAgain(store)
            release.finish()
            try await holder.value
            #expect(answered)
        }
    }
}
