import NIOCore
import NIOPosix
import Synchronization

/// Thrown when work outlives its deadline. The work was cancelled and left to end on its own.
public struct DeadlineExceeded: Error, CustomStringConvertible {
    public let limit: Duration

    public init(limit: Duration) { self.limit = limit }

    public var description: String { "the work did not finish within \(limit)" }
}

/// Runs `operation` and returns what it returns, or throws `DeadlineExceeded` once `limit` has passed (and
/// `CancellationError` at once when the caller is cancelled).
///
/// The operation runs in a task of its own and is only cancelled, never awaited, when the deadline wins: a
/// PostgresNIO query on a connection whose server died without closing it ignores cancellation and never returns,
/// and the caller must be answered all the same. Task-local values (the request's `CommitTracker`) reach it. Work that
/// goes on after its deadline cannot commit what its caller was told did not happen: `Store.transaction` rolls back a
/// transaction whose task was cancelled or whose request was answered, checked just before COMMIT.
public func withDeadline<T: Sendable>(_ limit: Duration, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    let race = DeadlineRace<T>()
    let work = Task {
        do { race.finish(.success(try await operation())) } catch { race.finish(.failure(error)) }
    }
    // An event loop's timer, not a sleeping task: a cancelled `Task.sleep` leaves its dispatch timer queued until it
    // would have fired, so every request used to leave one behind for the whole deadline (thousands at a time under
    // load, each resifting dispatch's timer heap). A cancelled scheduled task leaves the loop's queue at once.
    let (seconds, attoseconds) = limit.components
    let timer = MultiThreadedEventLoopGroup.singleton.any().scheduleTask(
        in: .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    ) {
        race.finish(.failure(DeadlineExceeded(limit: limit)))
    }
    defer {
        work.cancel()
        timer.cancel()
    }
    return try await withTaskCancellationHandler {
        try await race.outcome()
    } onCancel: {
        race.finish(.failure(CancellationError()))
    }
}

/// The first of the work, the timer and the caller's cancellation to finish decides; the others are ignored.
private final class DeadlineRace<T: Sendable>: Sendable {
    private enum State {
        case waiting(CheckedContinuation<T, any Error>?)
        case finished(Result<T, any Error>)
        case delivered
    }

    private let state = Mutex<State>(.waiting(nil))

    func finish(_ result: Result<T, any Error>) {
        let waiter: CheckedContinuation<T, any Error>? = state.withLock { state in
            guard case .waiting(let continuation) = state else { return nil }
            if let continuation {
                state = .delivered
                return continuation
            }
            state = .finished(result)
            return nil
        }
        waiter?.resume(with: result)
    }

    func outcome() async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let ready: Result<T, any Error>? = state.withLock { state in
                switch state {
                case .waiting:
                    state = .waiting(continuation)
                    return nil
                case .finished(let result):
                    state = .delivered
                    return result
                case .delivered:
                    return .failure(CancellationError())
                }
            }
            if let ready { continuation.resume(with: ready) }
        }
    }
}
