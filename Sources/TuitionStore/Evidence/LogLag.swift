import Foundation
import PostgresNIO

/// How far the evidence log's sequencer is behind: the events waiting and the age of the oldest, and the age of the
/// newest signed tree head.
public struct LogLag: Sendable, Equatable {
    /// Events queued and not yet logged, counted up to `LogLagRepository.depthCountLimit`: a longer queue reads as
    /// the limit, so a probe never counts a province's backlog row by row.
    public var queueDepth: Int64
    /// Seconds the oldest queued event has waited; 0 when the queue is empty.
    public var oldestQueuedAgeSeconds: Double
    /// Seconds since the newest tree head was signed; nil before the first.
    public var headAgeSeconds: Double?
}

public struct LogLagRepository: Sendable {
    /// The most queued events one reading counts.
    public static let depthCountLimit = 10_000

    let store: Store
    let depthCountLimit: Int

    public init(store: Store, depthCountLimit: Int = LogLagRepository.depthCountLimit) {
        self.store = store
        self.depthCountLimit = depthCountLimit
    }

    /// Three index probes and a count of at most `depthCountLimit` rows: `/ready` and `/metrics` read it on every call.
    /// The oldest event goes by `queued_at` (its index, sql/0028), not by id, which is not in `queued_at` order.
    /// Read on a lease of its own (`withConnection`): `/ready` gives up on it after 2 s, and an abandoned lease's
    /// connection is closed (`AbandonedConnection`), so polls of a half-dead server do not use up the pool.
    public func lag() async throws -> LogLag {
        try await store.withConnection { connection in
            let rows = try await connection.query(
                """
                SELECT (SELECT count(*) FROM (SELECT 1 FROM evidence_queue LIMIT \(depthCountLimit)) AS counted),
                       (SELECT queued_at FROM evidence_queue ORDER BY queued_at LIMIT 1),
                       (SELECT created_at FROM tree_heads ORDER BY size DESC LIMIT 1)
                """, logger: store.logger)
            let now = store.dependencies.now()
            for try await (depth, oldest, head) in rows.decode((Int64, Date?, Date?).self) {
                return LogLag(
                    queueDepth: depth, oldestQueuedAgeSeconds: max(0, oldest.map { now.timeIntervalSince($0) } ?? 0),
                    headAgeSeconds: head.map { max(0, now.timeIntervalSince($0)) })
            }
            return LogLag(queueDepth: 0, oldestQueuedAgeSeconds: 0, headAgeSeconds: nil)
        }
    }
}
