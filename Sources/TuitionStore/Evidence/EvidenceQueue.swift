import Foundation
import PostgresNIO
import TuitionCore

/// Queues an evidence event in the caller's transaction, so there is never a change without its event nor an
/// event without its change. Queueing is a plain insert: writers never wait on each other for the log.
struct EvidenceQueue: Sendable {
    let store: Store

    func enqueue(_ event: EvidenceEvent, on connection: PostgresConnection) async throws {
        let done = try await connection.execute(
            EnqueueEvidenceStatement(entry: Data(event.canonicalBytes()), now: store.dependencies.now()), logger: store.logger)
        for try await _ in done {}
    }

    /// Many events with one insert, queued in the order given.
    func enqueue(_ events: [EvidenceEvent], at now: Date, on connection: PostgresConnection) async throws {
        guard !events.isEmpty else { return }
        let entries = events.map { ByteBuffer(bytes: $0.canonicalBytes()) }
        try await connection.query(
            "INSERT INTO evidence_queue (entry, queued_at) SELECT unnest(\(entries)::bytea[]), \(now)", logger: store.logger)
    }
}

/// `enqueue`: one event, prepared once per connection.
struct EnqueueEvidenceStatement: PostgresPreparedStatement {
    static let sql = "INSERT INTO evidence_queue (entry, queued_at) VALUES ($1, $2)"
    typealias Row = ()

    var entry: Data
    var now: Date

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 2)
        try bindings.append(entry)
        bindings.append(now)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row {}
}
