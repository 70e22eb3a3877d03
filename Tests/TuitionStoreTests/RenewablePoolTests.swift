import Foundation
import Logging
import PostgresNIO
import Synchronization
import Testing
import TuitionTestSupport

@testable import TuitionStore

/// The store's pool is replaced when it still refuses after the database came back (PostgresNIO backs off its connection
/// attempts up to a minute apart). A real outage long enough to trip the pool's breaker takes over a minute: `tools/faults`
/// measures that (phase `pg_outage`); these tests drive the replacement itself and check the watchdog's two probes.
@Suite struct RenewablePoolTests {
    final class Refusals: Sendable {
        let left = Mutex(0)
        init(_ count: Int) { left.withLock { $0 = count } }
        func next() -> Bool {
            left.withLock { left in
                defer { left -= 1 }
                return left > 0
            }
        }
    }

    static var configuration: PostgresClient.Configuration {
        get throws { try postgresConfiguration(url: try #require(ProcessInfo.processInfo.environment["DATABASE_URL"])) }
    }

    /// A pool found refusing while the database answers is replaced: queries go through the new one, and the whole
    /// runs to its end once cancelled (the old pool was shut down, not left running).
    @Test func aRefusingPoolIsReplacedAndTheOldOneShutDown() async throws {
        let configuration = try Self.configuration
        let refusals = Refusals(2)  // refused, the database answers, refused still: renewed
        var renewal = RenewablePool.Renewal(configuration: configuration, interval: .milliseconds(20))
        renewal.poolRefuses = { _ in refusals.next() }
        let first = PostgresClient(configuration: configuration, backgroundLogger: TestDatabase.logger)
        let pool = RenewablePool(client: first, renewal: renewal, logger: TestDatabase.logger)
        let running = Task { await pool.run() }
        try await withDeadline(.seconds(120)) {
            while pool.client === first { try await Task.sleep(for: .milliseconds(10)) }
        }
        for try await value in try await pool.client.query("SELECT 41 + 1", logger: TestDatabase.logger).decode(Int.self) {
            #expect(value == 42)
        }
        // Renewed once only: the new pool answers, so the watchdog leaves it be.
        let second = pool.client
        try await Task.sleep(for: .milliseconds(200))
        #expect(pool.client === second)
        running.cancel()
        try await withDeadline(.seconds(120)) { await running.value }
    }

    /// The probes: a running pool with its database up does not refuse; the database answers a connection of the
    /// watchdog's own, and nothing answers on a port where no server listens.
    @Test func theWatchdogsProbes() async throws {
        let configuration = try Self.configuration
        // Generous limits: the suite's CPU-bound tests can hold every thread of the cooperative pool for a minute.
        #expect(await RenewablePool.answers(configuration, within: .seconds(120)))
        let closed = PostgresClient.Configuration(
            host: "127.0.0.1", port: 1, username: configuration.username, password: nil, database: configuration.database,
            tls: .disable)
        #expect(await RenewablePool.answers(closed, within: .seconds(120)) == false)
        let client = PostgresClient(configuration: configuration, backgroundLogger: TestDatabase.logger)
        let running = Task { await client.run() }
        #expect(await RenewablePool.refuses(client, within: .seconds(120)) == false)
        running.cancel()
        await running.value
    }
}
