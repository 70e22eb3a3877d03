import EvidenceLog
import Foundation
import Logging
import PostgresNIO
import TuitionCore

public struct LogEntryRecord: Codable, Sendable {
    public var index: Int64
    /// The entry's exact bytes, base64: what the leaf hash is taken over.
    public var entry: String
    public var leafHash: LogHash
    public var event: EvidenceEvent?
    public var queuedAt: Date
    public var sequencedAt: Date
}

public struct InclusionProofRecord: Codable, Sendable {
    public var index: Int64
    public var treeSize: Int64
    public var leafHash: LogHash
    public var proof: [LogHash]
}

public struct ConsistencyProofRecord: Codable, Sendable {
    public var from: Int64
    public var to: Int64
    public var proof: [LogHash]
}

public enum LogQueryError: Error, Sendable {
    /// An index or size beyond the latest signed tree head.
    case beyondTree
}

/// Reads the log: signed heads, entries and proofs. A proof reads only the O(log n) stored nodes it needs:
/// one query for the signed heads it checks against, one for the nodes.
public struct EvidenceLogRepository: Sendable {
    let store: Store

    public init(store: Store) { self.store = store }

    public func latestHead() async throws -> SignedTreeHead? {
        try await head(sql: "SELECT size, root_hash, timestamp_ms, signature FROM tree_heads ORDER BY size DESC LIMIT 1")
    }

    public func head(size: Int64) async throws -> SignedTreeHead? {
        try await head(sql: "SELECT size, root_hash, timestamp_ms, signature FROM tree_heads WHERE size = \(size)")
    }

    private func head(sql query: PostgresQuery) async throws -> SignedTreeHead? {
        for try await (size, root, timestamp, signature) in try await store.query(query).decode((Int64, Data, Int64, Data).self) {
            return SignedTreeHead(
                head: TreeHead(size: size, rootHash: try LogHash(bytes: [UInt8](root)), timestampMilliseconds: timestamp),
                signature: [UInt8](signature))
        }
        return nil
    }

    public func entries(from start: Int64, count: Int) async throws -> [LogEntryRecord] {
        let rows = try await store.query(
            """
            SELECT index, entry, leaf_hash, queued_at, sequenced_at FROM log_entries
            WHERE index >= \(start) ORDER BY index LIMIT \(min(max(count, 1), 1_000))
            """)
        var entries: [LogEntryRecord] = []
        for try await (index, entry, leaf, queued, sequenced) in rows.decode((Int64, Data, Data, Date, Date).self) {
            entries.append(
                LogEntryRecord(
                    index: index, entry: entry.base64EncodedString(), leafHash: try LogHash(bytes: [UInt8](leaf)),
                    event: try? EvidenceEvent.decode(canonical: [UInt8](entry)), queuedAt: queued, sequencedAt: sequenced))
        }
        return entries
    }

    /// Two queries: the signed heads it needs (the latest, and the one of `size`), then the stored nodes.
    public func inclusionProof(index: Int64, size: Int64?) async throws -> InclusionProofRecord {
        let heads = try await signedHeads(latestAnd: size.map { [$0] } ?? [])
        guard let latest = heads.latest?.head.size else { throw LogQueryError.beyondTree }
        let size = size ?? latest
        guard index >= 0, index < size, size <= latest else { throw LogQueryError.beyondTree }
        let leafID = NodeID(level: 0, index: index)
        let nodes = try await StoredNodes(store: store).nodes(inclusionProofNodeIDs(index: index, size: size) + [leafID])
        let proof = try EvidenceLog.inclusionProof(index: index, size: size, nodes: nodes)
        guard let leaf = nodes[leafID] else { throw LogIntegrityError(size: size) }
        // Pair assertion: where a head was signed for this size, the proof must lead to its root.
        if let signed = heads.bySize[size],
            !verifyInclusion(leafHash: leaf, index: index, size: size, proof: proof, root: signed.head.rootHash)
        {
            throw integrityFailure(size: size)
        }
        return InclusionProofRecord(index: index, treeSize: size, leafHash: leaf, proof: proof)
    }

    /// Two queries: the signed heads it needs (the latest, and those of `from` and `to`), then the stored nodes.
    public func consistencyProof(from: Int64, to: Int64) async throws -> ConsistencyProofRecord {
        let heads = try await signedHeads(latestAnd: [from, to])
        guard let latest = heads.latest?.head.size, from >= 0, from <= to, to <= latest else { throw LogQueryError.beyondTree }
        let nodes = try await StoredNodes(store: store).nodes(consistencyProofNodeIDs(from: from, to: to))
        let proof = try EvidenceLog.consistencyProof(from: from, to: to, nodes: nodes)
        // Pair assertion: where heads were signed for both sizes, the proof must lead from one root to the other.
        if let old = heads.bySize[from], let new = heads.bySize[to],
            !verifyConsistency(from: from, to: to, proof: proof, fromRoot: old.head.rootHash, toRoot: new.head.rootHash)
        {
            throw integrityFailure(size: to)
        }
        return ConsistencyProofRecord(from: from, to: to, proof: proof)
    }

    /// The latest signed head and those signed for `sizes` (where there are), in one query.
    private func signedHeads(latestAnd sizes: [Int64]) async throws -> (latest: SignedTreeHead?, bySize: [Int64: SignedTreeHead]) {
        let rows = try await store.query(
            """
            SELECT size, root_hash, timestamp_ms, signature FROM tree_heads
            WHERE size = (SELECT max(size) FROM tree_heads) OR size = ANY(\(sizes))
            """)
        var bySize: [Int64: SignedTreeHead] = [:]
        for try await (size, root, timestamp, signature) in rows.decode((Int64, Data, Int64, Data).self) {
            bySize[size] = SignedTreeHead(
                head: TreeHead(size: size, rootHash: try LogHash(bytes: [UInt8](root)), timestampMilliseconds: timestamp),
                signature: [UInt8](signature))
        }
        return (bySize.max { $0.key < $1.key }?.value, bySize)
    }

    private func integrityFailure(size: Int64) -> LogIntegrityError {
        store.logger.critical("stored log nodes disagree with the signed head", metadata: ["size": "\(size)"])
        return LogIntegrityError(size: size)
    }
}

public struct LogIntegrityError: Error, CustomStringConvertible {
    public let size: Int64
    public var description: String { "the stored log nodes do not lead to the signed root of tree size \(size)" }
}

/// The perfect-subtree nodes of the log, read in batches.
struct StoredNodes: NodeReader {
    let store: Store
    var connection: PostgresConnection?

    func nodes(_ ids: [NodeID]) async throws -> [NodeID: LogHash] {
        guard !ids.isEmpty else { return [:] }
        let query: PostgresQuery = """
            SELECT n.level::int, n.index, n.hash FROM log_nodes n
            JOIN unnest(\(ids.map(\.level)), \(ids.map(\.index))) AS wanted(level, index)
                ON n.level = wanted.level AND n.index = wanted.index
            """
        let rows =
            if let connection { try await connection.query(query, logger: store.logger) } else { try await store.query(query) }
        var found: [NodeID: LogHash] = [:]
        for try await (level, index, hash) in rows.decode((Int, Int64, Data).self) {
            found[NodeID(level: level, index: index)] = try LogHash(bytes: [UInt8](hash))
        }
        return found
    }
}

/// Takes queued events in batches, gives them contiguous indexes, integrates them into the Merkle tree and signs
/// a new tree head — all in one transaction, so a crash at any point loses nothing and logs nothing twice.
public struct Sequencer: Sendable {
    let store: Store
    let signer: LogSigner
    let batchSize: Int

    public init(store: Store, signer: LogSigner, batchSize: Int = 2_000) {
        self.store = store
        self.signer = signer
        self.batchSize = batchSize
    }

    /// Sequences one batch; returns how many events it logged.
    @discardableResult
    public func sequenceBatch() async throws -> Int {
        try await store.transaction { connection in
            // One sequencer at a time, however many service instances run.
            try await connection.run("SELECT pg_advisory_xact_lock(7469697)", logger: store.logger)
            var latest: Int64?
            for try await size in try await connection.query(
                "SELECT size FROM tree_heads ORDER BY size DESC LIMIT 1", logger: store.logger
            ).decode(Int64.self) {
                latest = size
            }
            let size = latest ?? 0
            let batch = try await takeBatch(on: connection)
            // Nothing new: sign nothing, except the empty tree's head when the log has no head at all.
            if batch.isEmpty && latest != nil { return 0 }
            let reader = StoredNodes(store: store, connection: connection)
            var range = try CompactRange(size: size, nodes: try await reader.nodes(CompactRange.nodeIDs(size: size)))
            let leaves = batch.map { MerkleHasher.leafHash($0.entry) }
            let newNodes = range.append(leafHashes: leaves)
            let now = store.dependencies.now()
            try await insertEntries(batch, leaves: leaves, firstIndex: size, at: now, on: connection)
            try await insertNodes(newNodes, on: connection)
            let head = TreeHead(
                size: size + Int64(batch.count), rootHash: range.root, timestampMilliseconds: Int64(now.timeIntervalSince1970 * 1000))
            let signed = try signer.sign(head)
            try await connection.query(
                """
                INSERT INTO tree_heads (size, root_hash, timestamp_ms, signature, created_at)
                VALUES (\(head.size), \(Data(head.rootHash.bytes)), \(head.timestampMilliseconds), \(Data(signed.signature)), \(now))
                """, logger: store.logger)
            return batch.count
        }
    }

    /// Sequences until the queue is empty; returns how many events it logged.
    @discardableResult
    public func drain() async throws -> Int {
        var total = 0
        while true {
            let logged = try await sequenceBatch()
            total += logged
            if logged == 0 { return total }
        }
    }

    struct Queued {
        let id: Int64
        let entry: [UInt8]
        let queuedAt: Date
    }

    private func takeBatch(on connection: PostgresConnection) async throws -> [Queued] {
        let rows = try await connection.query(
            """
            DELETE FROM evidence_queue WHERE id IN (SELECT id FROM evidence_queue ORDER BY id LIMIT \(batchSize) FOR UPDATE SKIP LOCKED)
            RETURNING id, entry, queued_at
            """, logger: store.logger)
        var batch: [Queued] = []
        for try await (id, entry, queuedAt) in rows.decode((Int64, Data, Date).self) {
            batch.append(Queued(id: id, entry: [UInt8](entry), queuedAt: queuedAt))
        }
        return batch.sorted { $0.id < $1.id }
    }

    private func insertEntries(_ batch: [Queued], leaves: [LogHash], firstIndex: Int64, at now: Date, on connection: PostgresConnection)
        async throws
    {
        guard !batch.isEmpty else { return }
        let indexes = (0..<Int64(batch.count)).map { firstIndex + $0 }
        try await connection.query(
            """
            INSERT INTO log_entries (index, entry, leaf_hash, queued_at, sequenced_at)
            SELECT index, decode(entry, 'base64'), decode(leaf, 'hex'), queued_at, \(now)
            FROM unnest(\(indexes), \(batch.map { Data($0.entry).base64EncodedString() }), \(leaves.map(\.hex)),
                        \(batch.map(\.queuedAt))) AS batch(index, entry, leaf, queued_at)
            """, logger: store.logger)
    }

    private func insertNodes(_ nodes: [(NodeID, LogHash)], on connection: PostgresConnection) async throws {
        guard !nodes.isEmpty else { return }
        try await connection.query(
            """
            INSERT INTO log_nodes (level, index, hash)
            SELECT level, index, decode(hash, 'hex')
            FROM unnest(\(nodes.map { $0.0.level }), \(nodes.map { $0.0.index }), \(nodes.map { $0.1.hex })) AS batch(level, index, hash)
            """, logger: store.logger)
    }
}
