import Logging
import ServiceLifecycle
import Synchronization
import TuitionStore

/// One kind of background work, done in batches by a `SupervisedService`.
protocol BackgroundWork: Sendable {
    /// Does one batch; true when more is waiting, so the next batch starts at once instead of after the interval.
    func runBatch() async throws -> Bool
}

/// Exponential back-off between restarts after failures: `first`, doubled per consecutive failure, at most `maximum`;
/// at most `whileDatabaseAway` when the database could not be reached at all (`DatabaseAvailability.wasUnreachable`), so
/// that work resumes within a second of its return rather than up to `maximum` later. Trying again costs one refused
/// connection; the back-off is for failures the work may cause itself.
struct Backoff: Sendable {
    var first: Duration = .milliseconds(250)
    var maximum: Duration = .seconds(15)
    var whileDatabaseAway: Duration = .seconds(1)

    func delay(afterFailures failures: Int, databaseAway: Bool = false) -> Duration {
        var delay = first
        for _ in 1..<max(failures, 1) where delay < maximum { delay *= 2 }
        return min(delay, databaseAway ? whileDatabaseAway : maximum)
    }

    /// The delay after `failures` consecutive failures, the last of them `error`.
    func delay(afterFailures failures: Int, lastError error: any Error) -> Duration {
        delay(afterFailures: failures, databaseAway: DatabaseAvailability.wasUnreachable(error))
    }
}

/// Runs a `BackgroundWork` beside the HTTP server: a batch, then the next at once if more is waiting, else after
/// `interval`. Each batch has a deadline; one that fails or overruns it (a query stuck on a connection the database
/// dropped) is abandoned, logged once with its cause, counted as a restart, and tried again after a back-off. A
/// graceful shutdown ends the wait and abandons the batch in flight at once (each batch is one transaction, so an
/// abandoned one is rolled back and done again by the next start).
struct SupervisedService<Work: BackgroundWork>: Service {
    let name: String
    let work: Work
    var interval: Duration
    var batchDeadline: Duration
    var backoff = Backoff()
    let health: ServiceHealth
    let logger: Logger

    func run() async throws {
        health.register(name, stalledAfter: batchDeadline + interval)
        var failures = 0
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let pause: Duration
            do {
                let work = work
                let more = try await cancelWhenGracefulShutdown {
                    try await withDeadline(batchDeadline) { try await work.runBatch() }
                }
                health.succeeded(name)
                failures = 0
                pause = more ? .zero : interval
            } catch {
                if Task.isShuttingDownGracefully || Task.isCancelled { break }
                failures += 1
                pause = backoff.delay(afterFailures: failures, lastError: error)
                health.restarted(name)
                logger.error(
                    "background batch failed; restarting after back-off",
                    metadata: [
                        "service": "\(name)", "cause": "\(String(reflecting: error))", "consecutive_failures": "\(failures)",
                        "backoff": "\(pause)",
                    ])
            }
            if pause > .zero { try? await cancelWhenGracefulShutdown { try await Task.sleep(for: pause) } }
        }
    }
}

/// What the supervised services last did, for `/ready` and `/metrics`.
public final class ServiceHealth: Sendable {
    struct Record: Sendable {
        var stalledAfter: Duration
        var lastSuccess: ContinuousClock.Instant
        var restarts: Int = 0
    }

    private let records = Mutex<[String: Record]>([:])

    public init() {}

    func register(_ name: String, stalledAfter: Duration) {
        records.withLock { $0[name] = Record(stalledAfter: stalledAfter, lastSuccess: .now) }
    }

    func succeeded(_ name: String) { records.withLock { $0[name]?.lastSuccess = .now } }

    func restarted(_ name: String) { records.withLock { $0[name]?.restarts += 1 } }

    var snapshot: [String: Record] { records.withLock { $0 } }

    /// Services whose last successful batch is older than their deadline plus interval: stuck or failing.
    var stalled: [String] {
        snapshot.filter { ContinuousClock.now - $0.value.lastSuccess > $0.value.stalledAfter }.map(\.key).sorted()
    }
}

/// The evidence log's sequencer: one batch of queued events per run, in one transaction.
struct SequencerWork: BackgroundWork {
    let sequencer: Sequencer

    func runBatch() async throws -> Bool { try await sequencer.sequenceBatch(waitingForOthers: false) > 0 }
}

/// The log cache's refresh: the nodes of the latest signed head, checked against its signed root.
struct LogCacheWork: BackgroundWork {
    let cache: LogNodeCache
    let store: Store

    func runBatch() async throws -> Bool {
        try await cache.refresh(from: store)
        return false
    }
}

/// The fast-track runner's sweep over defunct cases left unfinished. A sweep in which a case failed throws (the runner
/// logs and counts each failure and backs the case off), so the service counts a restart.
struct FastTrackSweepWork: BackgroundWork {
    let runner: FastTrackRunner

    func runBatch() async throws -> Bool {
        try await runner.sweep()
        return false
    }
}
