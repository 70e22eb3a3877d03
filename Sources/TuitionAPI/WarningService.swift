import Logging
import ServiceLifecycle
import TuitionStore

/// Evaluates every institution's warnings on a schedule, beside the evaluations that payments, lessons and refunds
/// trigger for their own institution: escalation past a deadline and expiring licences need no event to happen.
struct WarningService: Service {
    let warnings: WarningRepository
    let logger: Logger
    var interval: Duration

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                let outcome = try await warnings.evaluate(.all)
                logger.info(
                    "warnings evaluated",
                    metadata: [
                        "institutions": "\(outcome.institutions)", "opened": "\(outcome.opened)", "escalated": "\(outcome.escalated)",
                        "resolved": "\(outcome.resolved)",
                    ])
            } catch {
                logger.error("warning evaluation failed; will retry", metadata: ["error": "\(String(reflecting: error))"])
            }
            // A graceful shutdown ends the wait at once; a plain sleep would hold `serve` up for the whole interval.
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}
