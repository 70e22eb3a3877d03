import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization
import _ConnectionPoolModule

/// The store's connection pool, replaced by a fresh one when the database is back but the pool still refuses.
///
/// PostgresNIO's pool spaces its connection attempts further apart each time one fails (100 ms × 1.25ⁿ, at most a
/// minute; not configurable in 1.33), and after a minute of failures it refuses every request at once
/// (`connectionCreationCircuitBreakerTripped`) until an attempt succeeds. After a five-minute outage its next attempt
/// can be a minute away: the database is back and the service still answers 503. A watchdog asks the pool once a
/// second; when it refuses and a connection of the watchdog's own gets through, a new pool (whose first attempt is
/// immediate) takes over and the old one, which holds no connection while it refuses, is shut down.
final class RenewablePool: Sendable {
    /// How the watchdog finds the pool refusing while the database answers; nil for a pool that is never renewed (tests
    /// that run their own client).
    struct Renewal: Sendable {
        var configuration: PostgresClient.Configuration
        var interval: Duration = .seconds(1)
        var poolRefuses: @Sendable (PostgresClient) async -> Bool = RenewablePool.tripped
        var databaseAnswers: @Sendable (PostgresClient.Configuration) async -> Bool = RenewablePool.answers
    }

    private let current: Mutex<PostgresClient>
    private let renewal: Renewal?
    private let logger: Logger

    init(client: PostgresClient, renewal: Renewal?, logger: Logger) {
        current = Mutex(client)
        self.renewal = renewal
        self.logger = logger
    }

    var client: PostgresClient { current.withLock { $0 } }

    /// Runs the pool, and each pool that replaces it, until cancelled or a graceful shutdown begins (as
    /// `PostgresClient.run` itself does).
    func run() async {
        await cancelWhenGracefulShutdown { await self.runRenewing() }
    }

    private func runRenewing() async {
        await withDiscardingTaskGroup { group in
            var client = self.client
            while !Task.isCancelled {
                let (stopped, stop) = AsyncStream<Void>.makeStream()
                group.addTask { [client] in await Self.run(client, until: stopped) }
                guard let renewed = await replacement(for: client) else {
                    stop.finish()
                    return
                }
                current.withLock { $0 = renewed }
                stop.finish()
                client = renewed
            }
        }
    }

    /// Runs `client` until `stopped` ends or the task is cancelled; either way the pool is shut down.
    private static func run(_ client: PostgresClient, until stopped: AsyncStream<Void>) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            group.addTask { for await _ in stopped {} }
            await group.next()
            group.cancelAll()
        }
    }

    /// A new pool once `client` refuses while the database answers; nil when cancelled (or never, without `renewal`).
    private func replacement(for client: PostgresClient) async -> PostgresClient? {
        guard let renewal else {
            while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
            return nil
        }
        while true {
            do { try await Task.sleep(for: renewal.interval) } catch { return nil }
            guard await renewal.poolRefuses(client), await renewal.databaseAnswers(renewal.configuration) else { continue }
            logger.warning("the database answers while the connection pool still refuses after an outage: a new pool takes over")
            return PostgresClient(configuration: renewal.configuration, backgroundLogger: logger)
        }
    }

    /// The pool refuses every request at once: its circuit breaker tripped after a minute of failed connection attempts.
    @Sendable static func tripped(_ client: PostgresClient) async -> Bool {
        do {
            try await withDeadline(.seconds(2)) {
                for try await _ in try await client.query("SELECT 1", logger: Logger(label: "tuitionguard.pool-watchdog")) {}
            }
            return false
        } catch let error as ConnectionPoolError {
            return error == .connectionCreationCircuitBreakerTripped
        } catch {
            return false
        }
    }

    /// A connection of its own to the pool's database is made and closed within two seconds.
    @Sendable static func answers(_ configuration: PostgresClient.Configuration) async -> Bool {
        guard let host = configuration.host else { return false }
        let target = PostgresConnection.Configuration(
            host: host, port: configuration.port ?? 5432, username: configuration.username, password: configuration.password,
            database: configuration.database, tls: .disable)
        let logger = Logger(label: "tuitionguard.pool-watchdog")
        do {
            try await withDeadline(.seconds(2)) {
                let connection = try await PostgresConnection.connect(configuration: target, id: 0, logger: logger)
                try await connection.close()
            }
            return true
        } catch {
            return false
        }
    }
}
