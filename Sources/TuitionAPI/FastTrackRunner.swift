import Logging
import Metrics
import Synchronization
import TuitionCore
import TuitionStore

/// Runs defunct cases' fast-track jobs beside the HTTP server, built once by `buildApplication`: a case marked through
/// the API starts at once as background work; the `fast_track` service's sweep also runs any case still unfinished (a
/// crash, an error or a shutdown mid-way), which pays nothing twice.
///
/// A case runs at most once at a time in this process: the sweep skips a case already running here (the run its mark
/// started fills the background pool with its chunk workers; a second run beside it would only wait on it). Every run
/// has a deadline, the one its mark started too: a run stuck on a query the database will never answer is abandoned
/// (its connection closed after a grace, `AbandonedConnection`) and the case left to the next sweep, which would otherwise skip it
/// for ever. A case that fails (a plan error, a statement timeout, a full disk, an overrun deadline) is logged as an
/// error, counted in `tuitionguard_fast_track_case_failures_total`, and run again only after a back-off of its own,
/// doubling per consecutive failure; one the database's absence interrupted (a lost connection, a restart:
/// `DatabaseAvailability.wasAway`, not a timeout or a deadlock) is logged and left to the next sweep with no back-off
/// of its own. A sweep in which a case failed throws, so the supervised
/// service counts a restart and backs off.
struct FastTrackRunner: Sendable {
    let unfinishedCases: @Sendable () async throws -> [DefunctCase.ID]
    let runCase: @Sendable (DefunctCase.ID) async throws -> Void
    let background: BackgroundTasks
    let cases: FastTrackCaseStates
    let caseBackoff: Backoff
    let caseDeadline: Duration
    let now: @Sendable () -> ContinuousClock.Instant
    let failures: Counter
    let logger: Logger

    /// Every 10 s sweep tries a failing case again at first, then every 20 s, 40 s … at most every 10 minutes.
    static let defaultCaseBackoff = Backoff(first: .seconds(10), maximum: .seconds(600))
    /// Shorter than the sweep's batch deadline (600 s), so that a case overrunning in a sweep fails by its own
    /// deadline (counted, backed off, the sweep going on to the next case) rather than by the sweep's, whose
    /// cancellation would read as a shutdown. A province-sized case is planned and paid well within it; a larger one
    /// keeps what each run settled and goes on at its next run.
    static let defaultCaseDeadline: Duration = .seconds(540)

    init(store: Store, background: BackgroundTasks, logger: Logger, factory: any MetricsFactory) {
        let job = FastTrackJob(store: store)
        let defunct = DefunctRepository(store: store)
        self.init(
            background: background, logger: logger, factory: factory, unfinishedCases: { try await defunct.unfinishedCases() },
            runCase: { id in
                let finished = try await job.run(id, resumingBlocked: false)
                logger.info(
                    "fast-track run ended",
                    metadata: [
                        "case": "\(id)", "status": "\(finished.status.rawValue)", "enrollments": "\(finished.enrollmentsDone)",
                        "paid_fen": "\(finished.paidFen.fen)",
                    ])
            })
    }

    /// The runner over `unfinishedCases` and `runCase` as given (tests pass their own).
    init(
        background: BackgroundTasks, logger: Logger, factory: any MetricsFactory, caseBackoff: Backoff = defaultCaseBackoff,
        caseDeadline: Duration = defaultCaseDeadline, now: @escaping @Sendable () -> ContinuousClock.Instant = { .now },
        unfinishedCases: @escaping @Sendable () async throws -> [DefunctCase.ID],
        runCase: @escaping @Sendable (DefunctCase.ID) async throws -> Void
    ) {
        self.unfinishedCases = unfinishedCases
        self.runCase = runCase
        self.background = background
        self.cases = FastTrackCaseStates()
        self.caseBackoff = caseBackoff
        self.caseDeadline = caseDeadline
        self.now = now
        self.failures = Counter(label: "tuitionguard_fast_track_case_failures_total", factory: factory)
        self.logger = logger
    }

    /// Starts a newly marked case as background work, unless it already runs in this process.
    func start(_ id: DefunctCase.ID) {
        guard cases.begin(id, at: now(), ignoringBackoff: true) else { return }
        background.submit("fast_track \(id)") { _ = await runBegun(id) }
    }

    /// Runs every unfinished case that is neither running in this process nor waiting out its back-off, one after
    /// another; throws `FastTrackCasesFailed` naming those that failed.
    func sweep() async throws {
        var failed: [DefunctCase.ID] = []
        for id in try await unfinishedCases() where cases.begin(id, at: now(), ignoringBackoff: false) {
            if await !runBegun(id) { failed.append(id) }
        }
        if !failed.isEmpty { throw FastTrackCasesFailed(cases: failed) }
    }

    /// Runs a case `cases.begin` let through; false when it failed. A run cut short by shutdown is no failure: the next
    /// start resumes it.
    private func runBegun(_ id: DefunctCase.ID) async -> Bool {
        do {
            let runCase = runCase
            try await withDeadline(caseDeadline) { try await runCase(id) }
            cases.end(id)
            return true
        } catch {
            if Task.isCancelled {
                cases.end(id)
                return true
            }
            if DatabaseAvailability.wasAway(error) {
                cases.end(id)
                logger.warning(
                    "fast-track case interrupted by the database; the next sweep resumes it",
                    metadata: ["case": "\(id)", "error": "\(String(reflecting: error))"])
                return false
            }
            let (consecutive, retryAfter) = cases.endFailed(id, at: now(), backoff: caseBackoff)
            failures.increment()
            logger.error(
                "fast-track case failed; it runs again after its back-off",
                metadata: [
                    "case": "\(id)", "error": "\(String(reflecting: error))", "consecutive_failures": "\(consecutive)",
                    "retry_after": "\(retryAfter)",
                ])
            return false
        }
    }
}

/// Fast-track cases that failed in one sweep.
struct FastTrackCasesFailed: Error, CustomStringConvertible {
    let cases: [DefunctCase.ID]

    var description: String { "fast-track failed for case(s) \(cases.map(\.description).joined(separator: ", "))" }
}

/// Which cases run in this process now, and when each failing case may run again.
final class FastTrackCaseStates: Sendable {
    private struct Failing {
        var consecutive: Int
        var retryAt: ContinuousClock.Instant
    }

    private struct State {
        var running: Set<DefunctCase.ID> = []
        var failing: [DefunctCase.ID: Failing] = [:]
    }

    private let state = Mutex(State())

    /// Marks `id` running and returns true, unless it runs already or (short of `ignoringBackoff`) is waiting out its
    /// back-off.
    func begin(_ id: DefunctCase.ID, at now: ContinuousClock.Instant, ignoringBackoff: Bool) -> Bool {
        state.withLock { state in
            if state.running.contains(id) { return false }
            if !ignoringBackoff, let failing = state.failing[id], now < failing.retryAt { return false }
            state.running.insert(id)
            return true
        }
    }

    /// The run of `id` ended without failing: its back-off is forgotten.
    func end(_ id: DefunctCase.ID) {
        state.withLock { state in
            state.running.remove(id)
            state.failing[id] = nil
        }
    }

    /// The run of `id` failed: returns its consecutive failures and how long it now waits.
    func endFailed(_ id: DefunctCase.ID, at now: ContinuousClock.Instant, backoff: Backoff) -> (Int, Duration) {
        state.withLock { state in
            state.running.remove(id)
            let consecutive = (state.failing[id]?.consecutive ?? 0) + 1
            let delay = backoff.delay(afterFailures: consecutive)
            state.failing[id] = Failing(consecutive: consecutive, retryAt: now + delay)
            return (consecutive, delay)
        }
    }
}
