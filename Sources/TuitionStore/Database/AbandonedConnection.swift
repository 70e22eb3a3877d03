import NIOCore
import PostgresNIO
import Synchronization

/// Work on a leased connection whose caller gave up on it: its task cancelled because a deadline passed
/// (`withDeadline`) or the service is shutting down. PostgresNIO ignores cancellation, and a query on a connection
/// whose server died without closing it never returns, so the lease, and its slot in the pool, would be held for
/// ever: a few such hangs and the background pool has no connection left for the sequencer, the fast-track or the
/// warnings. Once `grace` has passed with the work still running, the connection is closed, which fails the query
/// and gives the slot back (the pool opens a new connection). On a live server the session ends with it, its
/// transaction rolled back, as its caller was already told.
enum AbandonedConnection {
    static let grace: TimeAmount = .seconds(2)

    static func closing<Result>(
        _ connection: PostgresConnection, isolation: isolated (any Actor)? = #isolation, ifAbandoned body: () async throws -> Result
    ) async throws -> Result {
        let work = RunningWork()
        // Marked done before the lease gives the connection back, so a connection is never closed under its next holder.
        defer { work.end() }
        return try await withTaskCancellationHandler(
            operation: body,
            onCancel: {
                connection.eventLoop.scheduleTask(in: grace) { work.closeIfRunning(connection) }
            }, isolation: isolation)
    }
}

private final class RunningWork: Sendable {
    private let running = Mutex(true)

    /// The close starts under the lock `end` takes: once the work has ended (and before its lease gives the connection
    /// back), no close can start.
    func closeIfRunning(_ connection: PostgresConnection) {
        running.withLock { running in
            if running { let _: EventLoopFuture<Void> = connection.close() }
        }
    }

    func end() { running.withLock { $0 = false } }
}
