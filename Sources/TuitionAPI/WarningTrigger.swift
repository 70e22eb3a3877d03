import Logging
import TuitionCore
import TuitionStore

/// Re-evaluates the warnings of institutions whose figures just changed (a payment, lessons, a refund, a reserve
/// top-up, a risk-control policy), at most once per `minimumGap` under load, so the money path does not pay one
/// evaluation per request.
///
/// A change that finds no evaluation under way evaluates its institution inline, so on a quiet service the warning is
/// there when the request answers. Changes that arrive in the next `minimumGap` only add their institution to the
/// pending set; background work (`BackgroundTasks`) evaluates the set as one batch after the gap, and again after each further gap
/// while changes keep coming. A change therefore shows in its institution's warnings within about `minimumGap`.
/// (Evaluating back to back instead halved the money path's throughput: 493 against 910 requests/s.)
actor WarningTrigger {
    let warnings: WarningRepository
    let background: BackgroundTasks
    let logger: Logger
    let minimumGap: Duration
    private var pending: Set<Institution.ID> = []
    private var busy = false

    init(warnings: WarningRepository, background: BackgroundTasks, logger: Logger, minimumGap: Duration = .seconds(1)) {
        self.warnings = warnings
        self.background = background
        self.logger = logger
        self.minimumGap = minimumGap
    }

    func changed(_ institution: Institution.ID) async {
        pending.insert(institution)
        guard !busy else { return }
        busy = true
        await evaluatePending()
        background.submit("warning_trigger") { await self.drainInBackground() }
    }

    /// After each gap, the batch that gathered meanwhile; done after a gap with nothing pending.
    private func drainInBackground() async {
        repeat {
            try? await Task.sleep(for: minimumGap)
        } while await evaluatePending()
        busy = false
    }

    /// Evaluates the pending institutions as one batch; false when there were none.
    @discardableResult
    private func evaluatePending() async -> Bool {
        guard !pending.isEmpty else { return false }
        let batch = Array(pending)
        pending.removeAll()
        do {
            // Bounded: a request that already committed must not hang here on a database that went away.
            let warnings = warnings
            _ = try await withDeadline(.seconds(3)) { try await warnings.evaluate(.institutions(batch)) }
        } catch {
            // The scheduled evaluation catches up; a failure here never fails the request that moved money.
            logger.error("warning evaluation after a change failed", metadata: ["error": "\(String(reflecting: error))"])
        }
        return true
    }
}
