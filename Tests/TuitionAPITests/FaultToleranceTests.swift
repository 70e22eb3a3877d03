import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Metrics
import PostgresNIO
import Synchronization
import Testing
import TuitionCore
import TuitionStore
import TuitionTestSupport
import _ConnectionPoolModule

@testable import TuitionAPI

/// Never returns and ignores cancellation, like a PostgresNIO query on a connection whose server died silently.
private func hangForever() async {
    await withUnsafeContinuation { (_: UnsafeContinuation<Void, Never>) in }
}

private struct MissingDatabase: Error, CustomStringConvertible {
    var description: String { "DATABASE_URL is not set: run the tests with tools/test, which starts PostgreSQL" }
}

/// A pool on the test server with `timeouts` applied, running while `body` runs.
private func withTimedClient<T: Sendable>(
    _ timeouts: DatabaseTimeouts, url: String? = nil, maximumConnections: Int? = nil,
    _ body: @Sendable @escaping (Store) async throws -> T
) async throws -> T {
    guard let server = url ?? ProcessInfo.processInfo.environment["DATABASE_URL"] else {
        throw MissingDatabase()
    }
    var configuration = try postgresConfiguration(url: server)
    configuration.apply(timeouts)
    if let maximumConnections { configuration.options.maximumConnections = maximumConnections }
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

/// A router of test routes (and those `routes` adds) behind the deadline responder, called through Hummingbird's router
/// test client.
private func withDeadlineApp<T: Sendable>(
    limit: Duration, store: Store, routes: (Router<AppRequestContext>) -> Void = { _ in },
    _ body: @Sendable @escaping (any TestClientProtocol) async throws -> T
) async throws -> T {
    let router = Router(context: AppRequestContext.self)
    router.addMiddleware { ProblemMiddleware() }
    routes(router)
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
    return try await app.test(.router) { client in try await body(client) }
}

/// A table whose every insert waits at COMMIT, in a deferred trigger, for advisory lock `key` (free unless a test holds
/// it), then records the `statement_timeout` in force there.
private struct CommitProbe: Sendable {
    let table: String
    let key: Int64

    static func create(on store: Store) async throws -> CommitProbe {
        let suffix = UInt32.random(in: 0 ... .max)
        let probe = CommitProbe(table: "commit_probe_\(suffix)", key: Int64(suffix))
        try await store.query("CREATE TABLE \(unescaped: probe.table) (id int PRIMARY KEY, timeout_at_commit text)")
        try await store.query(
            """
            CREATE FUNCTION \(unescaped: probe.table)_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                PERFORM pg_advisory_xact_lock(\(unescaped: String(probe.key)));
                UPDATE \(unescaped: probe.table) SET timeout_at_commit = current_setting('statement_timeout') WHERE id = NEW.id;
                RETURN NULL;
            END $$
            """)
        try await store.query(
            """
            CREATE CONSTRAINT TRIGGER at_commit AFTER INSERT ON \(unescaped: probe.table) DEFERRABLE INITIALLY DEFERRED
            FOR EACH ROW EXECUTE FUNCTION \(unescaped: probe.table)_at_commit()
            """)
        return probe
    }

    /// The committed rows: id and the `statement_timeout` their COMMIT ran under.
    func rows(on store: Store) async throws -> [Int: String] {
        var rows: [Int: String] = [:]
        let found = try await store.query("SELECT id, timeout_at_commit FROM \(unescaped: table)")
        for try await (id, timeout) in found.decode((Int, String?).self) { rows[id] = timeout ?? "not recorded" }
        return rows
    }

    func drop(on store: Store) async throws {
        try await store.query("DROP TABLE \(unescaped: table)")
        try await store.query("DROP FUNCTION \(unescaped: table)_at_commit()")
    }
}

/// Runs `body` while another connection holds advisory lock `key`; the lock is released when `body` returns.
private func holdingAdvisoryLock<T: Sendable>(_ key: Int64, store: Store, _ body: () async throws -> T) async throws -> T {
    let locked = AsyncStream<Void>.makeStream()
    let release = AsyncStream<Void>.makeStream()
    async let holder: Void = store.transaction { connection in
        for try await _ in try await connection.query("SELECT pg_advisory_xact_lock(\(key))", logger: store.logger) {}
        locked.continuation.yield()
        for await _ in release.stream { break }
    }
    for await _ in locked.stream { break }
    let result: Result<T, any Error>
    do { result = .success(try await body()) } catch { result = .failure(error) }
    release.continuation.yield()
    try await holder
    return try result.get()
}

/// Answers a request whose transaction inserts row 1 into a `CommitProbe` while another connection holds the probe's
/// lock: the transaction stalls before COMMIT (`stallBeforeCommit`: in a statement taking the lock) or during it (in the
/// probe's trigger) until the deadline has answered. Returns that answer and, once the lock was released and the
/// handler ran to its end, the rows committed.
private func answerToAStalledWrite(deadline: Duration, stallBeforeCommit: Bool) async throws -> (TestResponse, [Int: String]) {
    var timeouts = DatabaseTimeouts()
    timeouts.lock = .seconds(60)
    return try await withTimedClient(timeouts) { store in
        let probe = try await CommitProbe.create(on: store)
        let (ended, handlerEnded) = AsyncStream<Void>.makeStream()
        let routes: (Router<AppRequestContext>) -> Void = { router in
            router.post("write") { _, _ -> Response in
                defer { handlerEnded.yield() }
                try await store.transaction { connection in
                    try await connection.query("INSERT INTO \(unescaped: probe.table) (id) VALUES (1)", logger: store.logger)
                    guard stallBeforeCommit else { return }
                    for try await _ in try await connection.query("SELECT pg_advisory_xact_lock(\(probe.key))", logger: store.logger) {}
                }
                return Response(status: .ok)
            }
        }
        let response = try await withDeadlineApp(limit: deadline, store: store, routes: routes) { client in
            let response = try await holdingAdvisoryLock(probe.key, store: store) {
                try await client.executeRequest(uri: "/write", method: .post, headers: [:], body: nil)
            }
            // The lock is free: the stalled statement or COMMIT completes and the handler runs to its end.
            for await _ in ended { break }
            return response
        }
        let committed = try await probe.rows(on: store)
        try await probe.drop(on: store)
        return (response, committed)
    }
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
                #expect(response.headers[.cacheControl] == "no-store" && response.headers[.xContentTypeOptions] == "nosniff")
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

    /// The deadline passes while a statement before COMMIT is stalled (it waits on a lock another connection holds):
    /// the client is told nothing was written, so when the statement resumes the transaction must roll back, not commit.
    @Test func requestAnswered503WhileAStatementStalledCommitsNothing() async throws {
        let (response, committed) = try await answerToAStalledWrite(deadline: .milliseconds(300), stallBeforeCommit: true)
        #expect(response.status == .serviceUnavailable)
        #expect(problemCode(response) == "service_unavailable")
        #expect(committed.isEmpty, "a request answered 'nothing was written' committed")
    }

    /// The deadline passes while COMMIT is under way (a deferred trigger waits on a lock): the answer is 504, outcome
    /// unknown, and the write stands once the COMMIT completes.
    @Test func requestWhoseCommitWasUnderWayIsAnswered504AndTheWriteStands() async throws {
        // Generous: the body must reach COMMIT before the deadline, even with the whole suite running beside it.
        let (response, committed) = try await answerToAStalledWrite(deadline: .seconds(3), stallBeforeCommit: false)
        #expect(response.status == .gatewayTimeout)
        #expect(problemCode(response) == "retry_with_same_idempotency_key")
        #expect(committed == [1: "0"])
    }

    /// Work abandoned at its deadline on a statement that does not end (to the client, a server that died without closing
    /// the connection looks the same) gives its pool slot back once the grace has passed: its connection is closed,
    /// and the next lease does not wait for the statement.
    @Test func aConnectionAbandonedAtItsDeadlineIsClosedAndItsSlotGivenBack() async throws {
        var timeouts = DatabaseTimeouts()
        timeouts.statement = .seconds(300)
        try await withTimedClient(timeouts, maximumConnections: 1) { store in
            for attempt in 1...2 {
                await #expect(throws: DeadlineExceeded.self) {
                    try await withDeadline(.milliseconds(300)) {
                        try await store.transaction { _ = try await $0.query("SELECT pg_sleep(200)", logger: store.logger) }
                    }
                }
                // The pool's one slot: held for the 200 s sleep unless the abandoned connection is closed.
                #expect(await poolAnswersAgain(store), "attempt \(attempt)")
            }
        }
    }

    /// Under synchronous replication a statement timeout during COMMIT's wait for the standby would acknowledge a write a
    /// failover may lose (PostgreSQL cancels the wait with a WARNING and reports success), so COMMIT runs without one.
    @Test func commitRunsWithoutTheSessionsStatementTimeout() async throws {
        try await withTimedClient(DatabaseTimeouts()) { store in
            let probe = try await CommitProbe.create(on: store)
            try await store.transaction { connection in
                try await connection.query("INSERT INTO \(unescaped: probe.table) (id) VALUES (7)", logger: store.logger)
                // The statements before COMMIT keep the session's bound.
                for try await timeout in try await connection.query("SHOW statement_timeout", logger: store.logger).decode(String.self) {
                    #expect(timeout == "10s")
                }
            }
            #expect(try await probe.rows(on: store) == [7: "0"])
            for try await timeout in try await store.query("SHOW statement_timeout").decode(String.self) { #expect(timeout == "10s") }
            // A session whose client died mid-statement ends within seconds instead of running on with its locks.
            for try await interval in try await store.query("SHOW client_connection_check_interval").decode(String.self) {
                #expect(interval == "2s")
            }
            try await probe.drop(on: store)
        }
    }

    /// The money writes lift the timeout in their own write statement, which saves the commit path its round trip:
    /// their COMMIT runs without the session's bound all the same (the test database's is 300 s).
    @Test func aMoneyWritesCommitRunsWithoutTheTimeoutItsOwnStatementLifted() async throws {
        try await TestDatabase.withStore("commitlift") { store in
            let world = try await World.make(store)
            let probe = try await CommitProbe.create(on: store)
            let enrollments = EnrollmentRepository(store: store)
            _ = try await store.transaction { transaction in
                try await transaction.connection.query("INSERT INTO \(unescaped: probe.table) (id) VALUES (1)", logger: store.logger)
                return try await enrollments.pay(
                    world.enrollment.id, guardian: world.guardian, amount: world.enrollment.amountFen, on: transaction)
            }
            _ = try await store.transaction { transaction in
                try await transaction.connection.query("INSERT INTO \(unescaped: probe.table) (id) VALUES (2)", logger: store.logger)
                return try await enrollments.recordLessons(
                    world.enrollment.id, institution: world.institution.id, lessons: 1, takenOn: BusinessDate(shanghaiDateOf: Date()),
                    on: transaction)
            }
            #expect(try await probe.rows(on: store) == [1: "0", 2: "0"])
        }
    }

    /// A route that committed one transaction and then failed on a transient error may have written: 504, not 503
    /// "nothing was written", which would invite a retry that writes twice.
    @Test func transientFailureAfterACommitIsAnswered504() async throws {
        var timeouts = DatabaseTimeouts()
        timeouts.statement = .milliseconds(200)
        try await withTimedClient(timeouts) { store in
            let routes: (Router<AppRequestContext>) -> Void = { router in
                router.post("commit-then-fail") { _, _ -> Response in
                    _ = try await store.transaction { connection in try await connection.query("SELECT 1", logger: store.logger) }
                    for try await _ in try await store.query("SELECT pg_sleep(5)") {}
                    return Response(status: .ok)
                }
            }
            try await withDeadlineApp(limit: .seconds(10), store: store, routes: routes) { client in
                let response = try await client.executeRequest(uri: "/commit-then-fail", method: .post, headers: [:], body: nil)
                #expect(response.status == .gatewayTimeout)
                #expect(problemCode(response) == "retry_with_same_idempotency_key")
                let before = try await client.executeRequest(uri: "/slow-statement", method: .get, headers: [:], body: nil)
                #expect(before.status == .serviceUnavailable, "no commit happened: nothing was written")
            }
        }
    }

    /// A parent's sign-up is one transaction: when issuing the token fails, no guardian is left behind for the retry to
    /// duplicate.
    @Test func signUpThatFailsLeavesNoGuardian() async throws {
        try await API.run("signup_fault") { api, _ in
            try await api.store.query(
                """
                CREATE FUNCTION refuse_tokens() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN RAISE EXCEPTION 'tokens refused by the test' USING ERRCODE = '40001'; END $$
                """)
            try await api.store.query(
                "CREATE TRIGGER refuse_tokens BEFORE INSERT ON principals FOR EACH ROW EXECUTE FUNCTION refuse_tokens()")
            let reply = try await api.call(.post, "/v1/guardians", json: #"{"name":"王小明"}"#)
            #expect(reply.status == .serviceUnavailable, "\(reply.body)")
            #expect(reply.code == "service_unavailable")
            for try await count in try await api.store.query("SELECT count(*) FROM guardians").decode(Int64.self) { #expect(count == 0) }
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
        #expect(
            ProblemMiddleware<AppRequestContext>.problem(for: DeadlineExceeded(limit: .seconds(1)), logger: logger).code
                == "service_unavailable")
        #expect(ProblemMiddleware<AppRequestContext>.problem(for: CancellationError(), logger: logger).status == .serviceUnavailable)
        #expect(
            ProblemMiddleware<AppRequestContext>.problem(for: CommitOutcomeUnknown(cause: CancellationError()), logger: logger).code
                == "retry_with_same_idempotency_key")
        struct Unexpected: Error {}
        #expect(ProblemMiddleware<AppRequestContext>.problem(for: Unexpected(), logger: logger).status == .internalServerError)
        for state in ["08006", "57P01", "57P03", "57014", "55P03", "25006", "40001", "40P01", "53300", "53100", "53200", "58030"] {
            #expect(DatabaseAvailability.isTransientSQLState(state), "\(state)")
        }
        for state in ["23505", "23514", "22003", "42P01", "XX000", "58P01"] {
            #expect(!DatabaseAvailability.isTransientSQLState(state), "\(state)")
        }
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
        #expect(
            (1...6).map { backoff.delay(afterFailures: $0) } == [
                .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2), .seconds(2), .seconds(2),
            ])
        // While the database is away, at most a second between tries, however many failed.
        #expect(
            (1...6).map { backoff.delay(afterFailures: $0, databaseAway: true) } == [
                .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(1), .seconds(1), .seconds(1),
            ])
    }

    /// Work that failed because the database could not be reached runs again within a second of its return, not after
    /// the long back-off its failures would otherwise have earned (after a long outage the sequencer waited up to 15 s,
    /// and `/ready` said not ready all that time); a failure the work may cause itself keeps the long one.
    @Test func workFailingBecauseTheDatabaseIsUnreachableIsRetriedWithinASecond() {
        let backoff = Backoff()
        #expect(backoff.delay(afterFailures: 8, lastError: ConnectionPoolError.connectionCreationCircuitBreakerTripped) == .seconds(1))
        #expect(backoff.delay(afterFailures: 8, lastError: DeadlineExceeded(limit: .seconds(1))) == .seconds(15))
        #expect(backoff.delay(afterFailures: 8, lastError: CancellationError()) == .seconds(15))
    }

    /// The evidence queue is shared by every instance: a backlog (a province's fast-track) must not take them all out of
    /// service at once. `/ready` reports the lag; `/metrics` carries it for alerting.
    @Test func readyReportsTheLogsLagButDoesNotDependOnIt() async throws {
        let clock = TestClock()
        try await API.run("ready", clock: clock) { api, _ in
            #expect(try await api.call(.get, "/ready").status == .ok)
            _ = try await KnownDistrict.make(api.store)  // queues evidence events; no sequencer runs in tests
            clock.advance(by: 31)
            let behind = try await api.call(.get, "/ready")
            #expect(behind.status == .ok, "\(behind.body)")
            #expect(behind.json["database"] as? String == "ok")
            // 31 s to within the microsecond PostgreSQL keeps `queued_at` in (a Date read back may be a hair later).
            #expect((behind.json["oldestQueuedAgeSeconds"] as? Double ?? 0) >= 31 - 1e-6)
            let queued = behind.int("queueDepth")
            #expect(queued > 2)
            // The depth is counted only up to a bound, so a probe never counts a province's backlog row by row.
            #expect(try await LogLagRepository(store: api.store, depthCountLimit: 2).lag().queueDepth == 2)
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

    /// A scrape while the database is away still answers with what the process knows itself (restart counters, request
    /// metrics), saying it could not read the database's figures: an operator is not blind when it matters most.
    @Test func metricsAnswerWithoutTheDatabaseAndSaySo() async throws {
        try await withTimedClient(DatabaseTimeouts(), url: "postgres://postgres@127.0.0.1:1/none") { store in
            let app = API.application(store) { configuration, _ in configuration.web = WebSettings(metricsToken: API.metricsToken) }
            try await app.test(.router) { client in
                var headers = HTTPFields()
                headers[.authorization] = "Bearer \(API.metricsToken)"
                let metrics = try await client.executeRequest(uri: "/metrics", method: .get, headers: headers, body: nil)
                #expect(metrics.status == .ok)
                let text = String(buffer: metrics.body)
                #expect(text.contains("tuitionguard_database_figures_up 0"), "\(text)")
                #expect(!text.contains("tuitionguard_ledger_transfers_total"))
            }
        }
    }
}
