import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Metrics
import PostgresNIO
import Synchronization
import Testing
@testable import TuitionAPI
import TuitionCore
import TuitionStore
import TuitionTestSupport

/// Never returns and ignores cancellation, like a PostgresNIO query on a connection whose server died silently.
private func hangForever() async {
    await withUnsafeContinuation { (_: UnsafeContinuation<Void, Never>) in }
}

private struct MissingDatabase: Error, CustomStringConvertible {
    var description: String { "DATABASE_URL is not set: run the tests with tools/test, which starts PostgreSQL" }
}

/// A pool on the test server with `timeouts` applied, running while `body` runs.
private func withTimedClient<T: Sendable>(
    _ timeouts: DatabaseTimeouts, url: String? = nil, _ body: @Sendable @escaping (Store) async throws -> T
) async throws -> T {
    guard let server = url ?? ProcessInfo.processInfo.environment["DATABASE_URL"] else {
        throw MissingDatabase()
    }
    var configuration = try postgresConfiguration(url: server)
    configuration.apply(timeouts)
    let client = PostgresClient(configuration: configuration, backgroundLogger: TestDatabase.logger)
    return try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask {
            await client.run()
            return nil
        }
        group.addTask { try await body(Store(client: client, logger: TestDatabase.logger)) }
        defer { group.cancelAll() }
        while let next = try await group.next() {
            if let next { return next }
        }
        throw CancellationError()
    }
}

/// A router of test routes behind the deadline responder, called through Hummingbird's router test client.
private func withDeadlineApp(
    limit: Duration, store: Store, _ body: @Sendable @escaping (any TestClientProtocol) async throws -> Void
) async throws {
    let router = Router(context: AppRequestContext.self)
    router.addMiddleware { ProblemMiddleware() }
    router.get("hang") { _, _ -> Response in
        await hangForever()
        return Response(status: .ok)
    }
    router.post("commit-then-hang") { _, _ -> Response in
        _ = try await store.transaction { connection in try await connection.query("SELECT 1", logger: store.logger) }
        await hangForever()
        return Response(status: .ok)
    }
    router.get("slow-statement") { _, _ -> Response in
        for try await _ in try await store.query("SELECT pg_sleep(5)") {}
        return Response(status: .ok)
    }
    let telemetry = Telemetry()
    let app = Application(responder: RequestDeadlineResponder(inner: router.buildResponder(), limit: limit, factory: telemetry.factory))
    try await app.test(.router) { client in try await body(client) }
}

private func problemCode(_ response: TestResponse) -> String? {
    let json = (try? JSONSerialization.jsonObject(with: Data(buffer: response.body))) as? [String: Any]
    return json?["code"] as? String
}

@Suite struct FaultToleranceTests {
    @Test func deadlineAnswersEvenWhenTheWorkIgnoresCancellation() async throws {
        // The work never ends, so any answer at all is the deadline's.
        await #expect(throws: DeadlineExceeded.self) {
            try await withDeadline(.milliseconds(200)) {
                await hangForever()
                return 1
            }
        }
        #expect(try await withDeadline(.seconds(5)) { 42 } == 42)
    }

    @Test func requestStuckBeforeAnyCommitIsAnswered503WithRetryAfter() async throws {
        try await withTimedClient(DatabaseTimeouts()) { store in
            try await withDeadlineApp(limit: .milliseconds(300), store: store) { client in
                let response = try await client.executeRequest(uri: "/hang", method: .get, headers: [:], body: nil)
                #expect(response.status == .serviceUnavailable)
                #expect(problemCode(response) == "service_unavailable")
                #expect(response.headers[.retryAfter] == "1")
            }
        }
    }

    @Test func requestStuckAfterItsCommitIsAnswered504RetryWithSameKey() async throws {
        try await withTimedClient(DatabaseTimeouts()) { store in
            // Generous: the commit must happen before the deadline, even with the whole suite running beside it.
            try await withDeadlineApp(limit: .seconds(10), store: store) { client in
                let response = try await client.executeRequest(uri: "/commit-then-hang", method: .post, headers: [:], body: nil)
                #expect(response.status == .gatewayTimeout)
                #expect(problemCode(response) == "retry_with_same_idempotency_key")
                #expect(response.headers[.retryAfter] != nil)
            }
        }
    }

    @Test func statementTimeoutFromTheSessionSettingsIsAnswered503NotA500() async throws {
        var timeouts = DatabaseTimeouts()
        timeouts.statement = .milliseconds(200)
        try await withTimedClient(timeouts) { store in
            try await withDeadlineApp(limit: .seconds(10), store: store) { client in
                // pg_sleep(5) finishes well inside the 10 s deadline: a 503 can only be the server's statement_timeout.
                let response = try await client.executeRequest(uri: "/slow-statement", method: .get, headers: [:], body: nil)
                #expect(response.status == .serviceUnavailable)
                #expect(problemCode(response) == "service_unavailable")
                #expect(response.headers[.retryAfter] != nil)
            }
        }
    }

    @Test func lockTimeoutFromTheSessionSettingsIsTransient() async throws {
        var timeouts = DatabaseTimeouts()
        timeouts.lock = .milliseconds(200)
        try await withTimedClient(timeouts) { store in
            try await store.query("CREATE TEMP TABLE IF NOT EXISTS held (id int)")
            let table = "lock_probe_\(UInt32.random(in: 0 ... .max))"
            try await store.query("CREATE TABLE \(unescaped: table) (id int)")
            defer { Task { try? await store.query("DROP TABLE IF EXISTS \(unescaped: table)") } }
            let locked = AsyncStream<Void>.makeStream()
            let release = AsyncStream<Void>.makeStream()
            async let holder: Void = store.transaction { connection in
                try await connection.query("LOCK TABLE \(unescaped: table) IN ACCESS EXCLUSIVE MODE", logger: store.logger)
                locked.continuation.yield()
                for await _ in release.stream { break }
            }
            for await _ in locked.stream { break }
            let error = await #expect(throws: PSQLError.self) { try await store.query("SELECT * FROM \(unescaped: table)") }
            #expect(error?.serverInfo?[.sqlState] == "55P03")
            #expect(error.map(DatabaseAvailability.isTransient) == true)
            release.continuation.yield()
            try await holder
        }
    }

    @Test func unreachableDatabaseIsAnswered503WithinTheDeadline() async throws {
        // Nothing listens on port 1: the pool keeps failing to connect (its circuit breaker trips only after 15 s).
        try await withTimedClient(DatabaseTimeouts(), url: "postgres://postgres@127.0.0.1:1/none") { store in
            try await withDeadlineApp(limit: .seconds(1), store: store) { client in
                let response = try await client.executeRequest(uri: "/slow-statement", method: .get, headers: [:], body: nil)
                #expect(response.status == .serviceUnavailable)
                #expect(problemCode(response) == "service_unavailable")
            }
        }
    }

    @Test func connectionFailuresMapTo503AndOtherErrorsStay500() {
        let logger = TestDatabase.logger
        #expect(ProblemMiddleware<AppRequestContext>.problem(for: DeadlineExceeded(limit: .seconds(1)), logger: logger).code == "service_unavailable")
        #expect(ProblemMiddleware<AppRequestContext>.problem(for: CancellationError(), logger: logger).status == .serviceUnavailable)
        #expect(
            ProblemMiddleware<AppRequestContext>.problem(for: CommitOutcomeUnknown(cause: CancellationError()), logger: logger).code
                == "retry_with_same_idempotency_key")
        struct Unexpected: Error {}
        #expect(ProblemMiddleware<AppRequestContext>.problem(for: Unexpected(), logger: logger).status == .internalServerError)
        for state in ["08006", "57P01", "57P03", "57014", "55P03", "25006", "40001", "40P01", "53300"] {
            #expect(DatabaseAvailability.isTransientSQLState(state), "\(state)")
        }
        for state in ["23505", "23514", "22003", "42P01"] { #expect(!DatabaseAvailability.isTransientSQLState(state), "\(state)") }
    }

    @Test func supervisorRestartsAStuckBatchWithBackoffAndCountsIt() async throws {
        /// The first batch hangs for ever; later ones succeed and report each run.
        final class Runs: Sendable {
            let count = Mutex(0)
        }
        struct StuckOnce: BackgroundWork {
            let runs = Runs()
            let succeeded: AsyncStream<Void>.Continuation
            func runBatch() async throws -> Bool {
                let run = runs.count.withLock { runs in
                    runs += 1
                    return runs
                }
                if run == 1 { await hangForever() }
                succeeded.yield()
                return false
            }
        }
        let (stream, continuation) = AsyncStream<Void>.makeStream()
        let health = ServiceHealth()
        let service = SupervisedService(
            name: "stuck", work: StuckOnce(succeeded: continuation), interval: .seconds(60), batchDeadline: .milliseconds(200),
            backoff: Backoff(first: .milliseconds(50), maximum: .seconds(1)), health: health, logger: TestDatabase.logger)
        let running = Task { try await service.run() }
        for await _ in stream { break }
        // The first batch never ends: a second one ran only because the watchdog gave up on the first.
        #expect(health.snapshot["stuck"]?.restarts == 1)
        #expect(health.stalled.isEmpty)
        running.cancel()
        try await running.value
    }

    @Test func backoffDoublesUpToItsMaximum() {
        let backoff = Backoff(first: .milliseconds(250), maximum: .seconds(2))
        #expect((1...6).map(backoff.delay(afterFailures:)) == [
            .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2), .seconds(2), .seconds(2),
        ])
    }

    @Test func readyNeedsTheDatabaseAndALogThatKeepsUp() async throws {
        let clock = TestClock()
        try await API.run("ready", clock: clock) { api, _ in
            #expect(try await api.call(.get, "/ready").status == .ok)
            _ = try await KnownDistrict.make(api.store)  // queues evidence events; no sequencer runs in tests
            clock.advance(by: 31)
            let behind = try await api.call(.get, "/ready")
            #expect(behind.status == .serviceUnavailable, "\(behind.body)")
            #expect(behind.json["database"] as? String == "ok")
            #expect((behind.json["oldestQueuedAgeSeconds"] as? Double ?? 0) >= 31)
            let metrics = try await api.call(.get, "/metrics", token: API.metricsToken).body
            #expect(metrics.contains("# TYPE tuitionguard_evidence_queue_depth gauge"), "\(metrics)")
            #expect(metrics.contains("tuitionguard_evidence_queue_head_age_seconds"))
            try await Sequencer(store: api.store, signer: testLogSigner).drain()
            let caughtUp = try await api.call(.get, "/ready")
            #expect(caughtUp.status == .ok, "\(caughtUp.body)")
            #expect(caughtUp.json["queueDepth"] as? Int == 0)
            #expect(try await api.call(.get, "/health").status == .ok)
        }
    }

    @Test func readyIs503WhenTheDatabaseIsUnreachable() async throws {
        try await withTimedClient(DatabaseTimeouts(), url: "postgres://postgres@127.0.0.1:1/none") { store in
            var policy = ReadinessPolicy()
            policy.databaseCheckDeadline = .milliseconds(300)
            let app = API.application(store) { configuration, _ in configuration.readiness = policy }
            try await app.test(.router) { client in
                let ready = try await client.executeRequest(uri: "/ready", method: .get, headers: [:], body: nil)
                #expect(ready.status == .serviceUnavailable)
                #expect(String(buffer: ready.body).contains(#""database":"unreachable""#))
                let health = try await client.executeRequest(uri: "/health", method: .get, headers: [:], body: nil)
                #expect(health.status == .ok)
            }
        }
    }
}
