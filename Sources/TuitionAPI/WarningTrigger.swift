import Logging
import TuitionCore
import TuitionStore

/// Re-evaluates the warnings of institutions whose figures just changed (a payment, lessons, a refund, a reserve
/// top-up, a risk-control policy), coalescing concurrent requests so the money path does not pay one evaluation each.
///
/// The first request to find no evaluation running evaluates its own institution inline, so on a quiet service the
/// warning is there when the request answers. Requests that arrive while one runs only add their institution to the
/// pending set and return; the running evaluation takes the whole set as its next batch (one set-based evaluation),
/// after their money committed, so nothing is missed. The inline caller does at most `inlineRounds` batches, then a
/// background task drains the rest. At most one evaluation of this process runs at a time.
actor WarningTrigger {
    let warnings: WarningRepository
    let logger: Logger
    let inlineRounds = 2
    private var pending: Set<Institution.ID> = []
    private var busy = false

    init(warnings: WarningRepository, logger: Logger) {
        self.warnings = warnings
        self.logger = logger
    }

    func changed(_ institution: Institution.ID) async {
        pending.insert(institution)
        guard !busy else { return }
        busy = true
        for _ in 0..<inlineRounds {
            guard await evaluatePending() else {
                busy = false
                return
            }
        }
        Task { await self.drainInBackground() }
    }

    private func drainInBackground() async {
        while await evaluatePending() {}
        busy = false
    }

    /// Evaluates the pending institutions as one batch; false when there were none.
    private func evaluatePending() async -> Bool {
        guard !pending.isEmpty else { return false }
        let batch = Array(pending)
        pending.removeAll()
        do {
            _ = try await warnings.evaluate(.institutions(batch))
        } catch {
            // The scheduled evaluation catches up; a failure here never fails the request that moved money.
            logger.error("warning evaluation after a change failed", metadata: ["error": "\(String(reflecting: error))"])
        }
        return true
    }
}
