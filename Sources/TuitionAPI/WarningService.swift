import Logging
import TuitionStore

/// Every institution's warnings, evaluated on a schedule beside the evaluations that payments, lessons and refunds
/// trigger for their own institution: escalation past a deadline and expiring licences need no event to happen.
struct WarningWork: BackgroundWork {
    let warnings: WarningRepository
    let logger: Logger

    func runBatch() async throws -> Bool {
        let outcome = try await warnings.evaluate(.all)
        logger.info(
            "warnings evaluated",
            metadata: [
                "institutions": "\(outcome.institutions)", "opened": "\(outcome.opened)", "escalated": "\(outcome.escalated)",
                "resolved": "\(outcome.resolved)",
            ])
        return false
    }
}
