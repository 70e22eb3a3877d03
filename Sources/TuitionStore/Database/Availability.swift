import PostgresNIO
import Synchronization
import _ConnectionPoolModule

/// How far a request's transactions got and whether the request was answered, so that an answer and a COMMIT can never
/// contradict each other. PostgresNIO ignores cancellation and `withTransaction` sends COMMIT once its closure returns,
/// so a request answered at its deadline may still be running; the state is one atomic that only moves forward:
/// - open: no transaction of the request has begun its COMMIT;
/// - committing: one has (it sent COMMIT, or is about to): a COMMIT may have happened;
/// - answered: the request was answered while its work could still run: no transaction of it may begin a COMMIT now.
/// A transaction claims committing immediately before its COMMIT (`claimCommit`) and rolls back if the request was
/// answered; the answer claims answered (`answer`) and says 503 "nothing was written" only if no COMMIT had begun.
public final class CommitTracker: Sendable {
    @TaskLocal public static var current: CommitTracker?

    /// What an answer that cuts the request short may say about its writes.
    public enum Answer: Sendable {
        /// No transaction of the request began its COMMIT, and none will: 503, retry.
        case nothingWritten
        /// A COMMIT may have happened: 504, retry with the same Idempotency-Key.
        case outcomeUnknown
    }

    private static let open: UInt8 = 0
    private static let committing: UInt8 = 1
    /// Answered while no COMMIT had begun: none can begin any more, so every later answer may say so too.
    private static let answeredNothingWritten: UInt8 = 2
    /// Answered while a COMMIT may have begun.
    private static let answeredOutcomeUnknown: UInt8 = 3

    private let state = Atomic<UInt8>(CommitTracker.open)

    public init() {}

    /// Claims the request's answer: after it no transaction of the request begins a COMMIT. The deadline and the
    /// request's own failure may both answer, in either order (a database that fails just as the deadline passes):
    /// each says what the first found, so an answer after one made with nothing written still says nothing was written
    /// (it said "outcome unknown", a 504, though no COMMIT could have begun).
    public func answer() -> Answer {
        var current = state.load(ordering: .acquiring)
        while true {
            let next = current == Self.open || current == Self.answeredNothingWritten ? Self.answeredNothingWritten : Self.answeredOutcomeUnknown
            let (exchanged, original) = state.compareExchange(expected: current, desired: next, ordering: .acquiringAndReleasing)
            if exchanged { return next == Self.answeredNothingWritten ? .nothingWritten : .outcomeUnknown }
            current = original
        }
    }

    /// Called immediately before a transaction sends COMMIT. Throws `AnsweredBeforeCommit` when the request was already
    /// answered (the transaction must roll back); returns true when this call moved the request from open to
    /// committing, so a COMMIT that then definitely failed can give the claim back (`releaseClaim`).
    func claimCommit() throws -> Bool {
        let (claimed, original) = state.compareExchange(
            expected: Self.open, desired: Self.committing, ordering: .acquiringAndReleasing)
        if original == Self.answeredNothingWritten || original == Self.answeredOutcomeUnknown { throw AnsweredBeforeCommit() }
        return claimed
    }

    /// Gives back a claim whose COMMIT the server refused (the transaction rolled back), unless the request was
    /// answered meanwhile.
    func releaseClaim() {
        _ = state.compareExchange(expected: Self.committing, desired: Self.open, ordering: .acquiringAndReleasing)
    }
}

/// The request was answered (its deadline passed, or a failure was answered) before this transaction could begin its
/// COMMIT: it rolled back, so the answer stays true.
public struct AnsweredBeforeCommit: Error, CustomStringConvertible {
    public var description: String { "the request was answered before this transaction's COMMIT; it rolled back" }
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
        case is DeadlineExceeded, is CancellationError, is AnsweredBeforeCommit: return true
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

    /// The narrowest case: the database could not be reached at all (a connection refused or not made, the pool's
    /// circuit breaker, a server still starting or recovering, 57P03). Trying again soon costs a refused connection.
    /// A dropped connection or a server shutting down (57P01, 57P02) is not among them: work can cause those itself (a
    /// backend killed for its memory takes the whole cluster through crash recovery), and must back off.
    public static func wasUnreachable(_ error: any Error) -> Bool {
        switch error {
        case let error as ConnectionPoolError:
            return error == .connectionCreationCircuitBreakerTripped
        case let error as PSQLError:
            switch error.code {
            case .connectionError: return true
            case .server: return error.sqlState.map { ["57P03", "08001", "08004"].contains($0) } ?? false
            default: return false
            }
        default:
            return false
        }
    }

    /// The narrower case of a database that was away, not merely slow or contended: a connection lost, refused or
    /// never made (class 08, the pool's circuit breaker), a server shutting down or recovering from a crash (57P0x), a
    /// failover's demoted member (25006). A timeout, a lock wait, a deadlock or a cancellation is not: work that meets
    /// one again and again is at fault itself.
    public static func wasAway(_ error: any Error) -> Bool {
        switch error {
        case let error as ConnectionPoolError:
            return error == .connectionCreationCircuitBreakerTripped || error == .poolShutdown
        case let error as PSQLError:
            switch error.code {
            case .connectionError, .serverClosedConnection, .poolClosed, .uncleanShutdown:
                return true
            case .server:
                return error.sqlState.map { $0.hasPrefix("08") || ["57P01", "57P02", "57P03", "25006"].contains($0) } ?? false
            default:
                return false
            }
        default:
            return false
        }
    }

    /// Connection failures (class 08), shutdown and crash recovery (57P0x), timeouts and cancellations (57014, 55P03,
    /// 25P03), serialization failures and deadlocks (40001, 40P01), the server short of a resource (class 53: a full
    /// disk, memory, too many connections), an I/O error (58030), and a write that reached a member demoted to replica by
    /// a failover (25006) before the proxy cut its connection. Each fails the statement and rolls its transaction back,
    /// and none is the request's fault: the client may try again later.
    public static func isTransientSQLState(_ state: String) -> Bool {
        state.hasPrefix("08") || state.hasPrefix("53")
            || ["57P01", "57P02", "57P03", "57014", "55P03", "25P03", "25006", "40001", "40P01", "58030"].contains(state)
    }

    /// True when a COMMIT failure leaves the outcome unknown: the server did not answer. A server error (a deferred
    /// constraint, a serialization failure) is a definite rollback.
    static func commitOutcomeIsUnknown(_ error: any Error) -> Bool {
        guard let error = error as? PSQLError else { return true }
        return error.code != .server
    }
}
