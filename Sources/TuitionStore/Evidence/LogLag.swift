import Foundation
import PostgresNIO

/// How far the evidence log's sequencer is behind: the events waiting and the age of the oldest, and the age of the
/// newest signed tree head.
public struct LogLag: Sendable, Equatable {
    public var queueDepth: Int64
    /// Seconds the oldest queued event has waited; 0 when the queue is empty.
    public var oldestQueuedAgeSeconds: Double
    /// Seconds since the newest tree head was signed; nil before the first.
    public var headAgeSeconds: Double?
}

public struct LogLagRepository: Sendable {
    let store: Store

    public init(store: Store) { self.store = store }

    public func lag() async throws -> LogLag {
        let rows = try await store.query(
            """
            SELECT (SELECT count(*) FROM evidence_queue), (SELECT min(queued_at) FROM evidence_queue),
                   (SELECT created_at FROM tree_heads ORDER BY size DESC LIMIT 1)
            """)
        let now = store.dependencies.now()
        for try await (depth, oldest, head) in rows.decode((Int64, Date?, Date?).self) {
            return LogLag(
                queueDepth: depth, oldestQueuedAgeSeconds: max(0, oldest.map { now.timeIntervalSince($0) } ?? 0),
                headAgeSeconds: head.map { max(0, now.timeIntervalSince($0)) })
        }
        return LogLag(queueDepth: 0, oldestQueuedAgeSeconds: 0, headAgeSeconds: nil)
    }
}
