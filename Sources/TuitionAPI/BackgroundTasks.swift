import Logging
import ServiceLifecycle
import Synchronization

/// Work a request starts but does not wait for (a defunct case's fast-track, the warnings that gathered in the
/// trigger's gap), run inside the application's service lifecycle instead of a bare `Task`: a graceful shutdown
/// cancels what is in flight (each piece resumes or catches up on its service's next sweep), and nothing outlives the
/// stores it uses.
///
/// `settled()` waits until every piece submitted so far, and every piece those submitted, has finished: tests await
/// background work through it instead of sleeping and polling.
public final class BackgroundTasks: Service, Sendable {
    struct Job: Sendable {
        let name: String
        let work: @Sendable () async -> Void
    }

    private struct State {
        var pending = 0
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
        var nextWaiter = 0
    }

    private let jobs: AsyncStream<Job>
    private let intake: AsyncStream<Job>.Continuation
    private let state = Mutex(State())
    private let logger: Logger

    public init(logger: Logger) {
        (jobs, intake) = AsyncStream.makeStream(of: Job.self)
        self.logger = logger
    }

    /// Runs `work` beside the requests. After shutdown nothing runs any more and the work is dropped.
    func submit(_ name: String, _ work: @escaping @Sendable () async -> Void) {
        state.withLock { $0.pending += 1 }
        if case .terminated = intake.yield(Job(name: name, work: work)) {
            logger.debug("background work dropped after shutdown", metadata: ["work": "\(name)"])
            finished()
        }
    }

    /// Returns once no submitted work is queued or running, or when the caller is cancelled.
    public func settled() async {
        let id = state.withLock { state in
            defer { state.nextWaiter += 1 }
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
                let idle = state.withLock { state in
                    if state.pending == 0 || Task.isCancelled { return true }
                    state.waiters[id] = waiter
                    return false
                }
                if idle { waiter.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }

    public func run() async {
        // Work queued but not started when the lifecycle ends is dropped, so `settled()` does not wait for it forever.
        defer {
            intake.finish()
            let dropped = state.withLock { state in
                defer {
                    state.pending = 0
                    state.waiters = [:]
                }
                return state.waiters.values
            }
            dropped.forEach { $0.resume() }
        }
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                for await job in self.jobs {
                    group.addTask {
                        await job.work()
                        self.finished()
                    }
                }
            }
        }
    }

    private func finished() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.pending -= 1
            guard state.pending == 0 else { return [] }
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        waiters.forEach { $0.resume() }
    }
}
