import PostgresNIO
import Synchronization
import _ConnectionPoolModule

/// How far a request's transactions got, so that a request cut off by its deadline can say whether anything may have
/// been written: before any COMMIT was sent nothing was (503, retry), after it the outcome is unknown (504, retry with
/// the same Idempotency-Key, which replays the first answer).
public final class CommitTracker: Sendable {
    @TaskLocal public static var current: CommitTracker?

    private let commitSent = Atomic<Bool>(false)

    public init() {}

    /// True once a transaction of the request has sent, or was about to send, its COMMIT.
    public var commitMayHaveHappened: Bool { commitSent.load(ordering: .acquiring) }

    func markCommitting() { commitSent.store(true, ordering: .releasing) }
}

/// A COMMIT was sent but its reply never came (the connection broke): the transaction may or may not have committed.
public struct CommitOutcomeUnknown: Error, CustomStringConvertible {
    public let cause: any Error

    public init(cause: any Error) { self.cause = cause }

    public var description: String { "the database's reply to COMMIT was lost: \(String(reflecting: cause))" }
}

/// Failures that say the database is unreachable, restarting or overloaded, not that the request is wrong: the client
/// should try again shortly (503 with `Retry-After`).
public enum DatabaseAvailability {
    public static func isTransient(_ error: any Error) -> Bool {
        switch error {
        case is DeadlineExceeded, is CancellationError: return true
        case let error as ConnectionPoolError:
            return error == .connectionCreationCircuitBreakerTripped || error == .poolShutdown || error == .requestCancelled
        case let error as PSQLError:
            switch error.code {
            case .connectionError, .serverClosedConnection, .clientClosedConnection, .poolClosed, .uncleanShutdown, .queryCancelled:
                return true
            case .server:
                return error.sqlState.map(isTransientSQLState) ?? false
            default:
                return false
            }
        default:
            return false
        }
    }

    /// Connection failures (class 08), shutdown and crash recovery (57P0x), timeouts and cancellations (57014, 55P03,
    /// 25P03), serialization failures and deadlocks (40001, 40P01), too many connections (53300), and a write that
    /// reached a member demoted to replica by a failover (25006) before the proxy cut its connection.
    public static func isTransientSQLState(_ state: String) -> Bool {
        state.hasPrefix("08")
            || ["57P01", "57P02", "57P03", "57014", "55P03", "25P03", "25006", "40001", "40P01", "53300"].contains(state)
    }

    /// True when a COMMIT failure leaves the outcome unknown: the server did not answer. A server error (a deferred
    /// constraint, a serialization failure) is a definite rollback.
    static func commitOutcomeIsUnknown(_ error: any Error) -> Bool {
        guard let error = error as? PSQLError else { return true }
        return error.code != .server
    }
}
