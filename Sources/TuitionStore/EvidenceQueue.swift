import Foundation
import PostgresNIO
import TuitionCore

/// Queues an evidence event in the caller's transaction, so there is never a change without its event nor an
/// event without its change. Queueing is a plain insert: writers never wait on each other for the log.
struct EvidenceQueue: Sendable {
    let store: Store

    func enqueue(_ event: EvidenceEvent, on connection: PostgresConnection) async throws {
        try await connection.query(
            "INSERT INTO evidence_queue (entry, queued_at) VALUES (\(Data(event.canonicalBytes())), \(store.dependencies.now()))",
            logger: store.logger)
    }
}
