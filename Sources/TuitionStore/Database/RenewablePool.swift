import Logging
import NIOCore
import PostgresNIO
import Synchronization
import _ConnectionPoolModule

/// The store's connection pool, replaced by a fresh one when the database is back but the pool still refuses.
///
/// PostgresNIO's pool spaces its connection attempts further apart each time one fails (100 ms × 1.25ⁿ, at most a
/// minute; not configurable in 1.33), and after a minute of failures it refuses every request at once
/// (`connectionCreationCircuitBreakerTripped`) until an attempt succeeds. After a five-minute outage its next attempt
/// can be a minute away: the database is back and the service still answers 503. A watchdog asks the pool for a
/// connection once a second (a lease, no query: a healthy pool hands over an idle one); when the pool refuses and a
/// connection of the watchdog's own gets through, a new pool (whose first attempt is immediate) takes over. The old
/// one, which held no connection while it refused, keeps running for `grace` in case its own retry got through
/// meanwhile and work is on it, and is then shut down (the store's first pool idles until the store stops instead).
final class RenewablePool: Sendable {
    /// How the watchdog finds the pool refusing while the database answers; nil for a pool that is never renewed (tests
    /// that run their own client).
    struct Renewal: Sendable {
        var configuration: PostgresClient.Configuration
        var interval: Duration = .seconds(1)
        /// Longer than any request's deadline, so no work that found the old pool working again is cut off.
        var grace: Duration = .seconds(30)
        var poolRefuses: @Sendable (PostgresClient) async -> Bool = { await RenewablePool.refuses($0) }
        var databaseAnswers: @Sendable (PostgresClient.Configuration) async -> Bool = { await RenewablePool.answers($0) }
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

    /// Runs the pool, and each pool that replaces it, until cancelled. (A graceful shutdown ends it through the
    /// caller: `PostgresClient.run` ends on one by itself, this loop does not know of it.) The first pool runs in the
    /// caller's own task, so that it runs before anything the caller starts beside it leases from it.
    func run() async {
        let first = client
        await withDiscardingTaskGroup { group in
            group.addTask { await self.renew(from: first) }
            await first.run()
            group.cancelAll()
        }
    }

    /// Replaces `first` and each later pool whenever it refuses while the database answers. A replaced pool keeps
    /// running for `grace` and is then shut down; the first, which runs in `run()`'s task, is left to idle until the
    /// store stops (it holds no connection while it refuses).
    private func renew(from first: PostgresClient) async {
        await withDiscardingTaskGroup { group in
            var client = first
            var retire: AsyncStream<Void>.Continuation?
            while let renewed = await replacement(for: client) {
                let retireRenewed = Self.start(renewed, in: &group)
                current.withLock { $0 = renewed }
                if let retire {
                    let grace = renewal?.grace ?? .zero
                    group.addTask {
                        try? await Task.sleep(for: grace)
                        retire.finish()
                    }
                }
                (client, retire) = (renewed, retireRenewed)
            }
        }
    }

    /// Runs `client` in `group` until the returned continuation is finished or the group is cancelled; either way the
    /// pool is shut down.
    private static func start(_ client: PostgresClient, in group: inout DiscardingTaskGroup) -> AsyncStream<Void>.Continuation {
        let (retired, retire) = AsyncStream<Void>.makeStream()
        group.addTask {
            await withTaskGroup(of: Void.self) { running in
                running.addTask { await client.run() }
                running.addTask { for await _ in retired {} }
                await running.next()
                running.cancelAll()
            }
        }
        return retire
    }

    /// A new pool once `client` refuses while the database answers, and still refuses after that; nil when cancelled
    /// (at once without `renewal`).
    private func replacement(for client: PostgresClient) async -> PostgresClient? {
        guard let renewal else {
            while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
            return nil
        }
        while true {
            do { try await Task.sleep(for: renewal.interval) } catch { return nil }
            guard await renewal.poolRefuses(client), await renewal.databaseAnswers(renewal.configuration),
                await renewal.poolRefuses(client)
            else { continue }
            logger.warning("the database answers while the connection pool still refuses after an outage: a new pool takes over")
            return PostgresClient(configuration: renewal.configuration, backgroundLogger: logger)
        }
    }

    /// The pool refuses every request at once: its circuit breaker tripped after a minute of failed connection attempts.
    /// A lease and nothing more, so a probe never holds a connection on a database that does not answer.
    static func refuses(_ client: PostgresClient, within limit: Duration = .seconds(2)) async -> Bool {
        do {
            try await withDeadline(limit) { try await client.withConnection { _ in } }
            return false
        } catch let error as ConnectionPoolError {
            return error == .connectionCreationCircuitBreakerTripped
        } catch {
            return false
        }
    }

    /// A connection of its own to the pool's database is made and closed within `limit`. The store connects without
    /// TLS (`postgresConfiguration(url:)`), and so does this.
    static func answers(_ configuration: PostgresClient.Configuration, within limit: Duration = .seconds(2)) async -> Bool {
        guard let host = configuration.host else { return false }
        var target = PostgresConnection.Configuration(
            host: host, port: configuration.port ?? 5432, username: configuration.username, password: configuration.password,
            database: configuration.database, tls: .disable)
        target.options.connectTimeout = TimeAmount(limit)
        let logger = Logger(label: "tuitionguard.pool-watchdog")
        do {
            try await withDeadline(limit) { [target] in
                let connection = try await PostgresConnection.connect(configuration: target, id: 0, logger: logger)
                try await connection.close()
            }
            return true
        } catch {
            return false
        }
    }
}
