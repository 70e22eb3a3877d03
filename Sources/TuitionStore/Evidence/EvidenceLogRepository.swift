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

/// Reads the log: signed heads, entries and proofs. A proof reads only the O(log n) stored nodes it needs, together
/// with the signed heads it is checked against, in one prepared statement (two for an inclusion proof that names no
/// tree size: the latest head first).
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

    /// One query when `size` is given: the signed heads it is checked against (the latest, and the one of `size`) and
    /// the stored nodes come back together, since the nodes depend only on `index` and `size`. Without `size` the nodes
    /// depend on the latest head, read first: two queries.
    public func inclusionProof(index: Int64, size: Int64?) async throws -> InclusionProofRecord {
        guard let size else {
            guard let latest = try await latestHead()?.head.size else { throw LogQueryError.beyondTree }
            return try await inclusionProof(index: index, size: latest)
        }
        guard index >= 0, index < size else { throw LogQueryError.beyondTree }
        let leafID = NodeID(level: 0, index: index)
        let read = try await headsAndNodes(sizes: [size], nodes: inclusionProofNodeIDs(index: index, size: size) + [leafID])
        guard let latest = read.latest?.head.size, size <= latest else { throw LogQueryError.beyondTree }
        let proof = try EvidenceLog.inclusionProof(index: index, size: size, nodes: read.nodes)
        guard let leaf = read.nodes[leafID] else { throw LogIntegrityError(size: size) }
        // Pair assertion: where a head was signed for this size, the proof must lead to its root.
        if let signed = read.heads[size],
            !verifyInclusion(leafHash: leaf, index: index, size: size, proof: proof, root: signed.head.rootHash)
        {
            throw integrityFailure(size: size)
        }
        return InclusionProofRecord(index: index, treeSize: size, leafHash: leaf, proof: proof)
    }

    /// One query: the signed heads it needs (the latest, and those of `from` and `to`) with the stored nodes.
    public func consistencyProof(from: Int64, to: Int64) async throws -> ConsistencyProofRecord {
        guard from >= 0, from <= to else { throw LogQueryError.beyondTree }
        let read = try await headsAndNodes(sizes: [from, to], nodes: consistencyProofNodeIDs(from: from, to: to))
        guard let latest = read.latest?.head.size, to <= latest else { throw LogQueryError.beyondTree }
        let proof = try EvidenceLog.consistencyProof(from: from, to: to, nodes: read.nodes)
        // Pair assertion: where heads were signed for both sizes, the proof must lead from one root to the other.
        if let old = read.heads[from], let new = read.heads[to],
            !verifyConsistency(from: from, to: to, proof: proof, fromRoot: old.head.rootHash, toRoot: new.head.rootHash)
        {
            throw integrityFailure(size: to)
        }
        return ConsistencyProofRecord(from: from, to: to, proof: proof)
    }

    /// The latest signed head, those signed for `sizes` (where there are) and the stored `nodes` that exist, in one
    /// prepared statement. Asking for nodes of a tree larger than the log only finds fewer of them: the caller checks the
    /// sizes against the latest head before it uses a node.
    private func headsAndNodes(sizes: [Int64], nodes ids: [NodeID]) async throws -> ProofRead {
        var read = ProofRead()
        let statement = ProofReadStatement(sizes: sizes, levels: ids.map { Int64($0.level) }, indexes: ids.map(\.index))
        for try await row in try await store.execute(statement) {
            let (first, second, hash) = (row.first, row.second, row.hash)
            if row.isHead {
                let head = SignedTreeHead(
                    head: TreeHead(size: first, rootHash: try LogHash(bytes: hash), timestampMilliseconds: second),
                    signature: row.signature)
                read.heads[first] = head
                if read.latest.map({ $0.head.size < first }) ?? true { read.latest = head }
            } else {
                // Equal to a requested id by the join; checked anyway, since `NodeID` traps on an impossible one.
                guard (0..<63).contains(first), second >= 0, second <= (Int64.max >> first) - 1 else {
                    throw LogIntegrityError(size: sizes.last ?? 0)
                }
                read.nodes[NodeID(level: Int(first), index: second)] = try LogHash(bytes: hash)
            }
        }
        return read
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

/// What one proof reads: signed heads by size (the latest among them) and stored nodes.
private struct ProofRead {
    var latest: SignedTreeHead?
    var heads: [Int64: SignedTreeHead] = [:]
    var nodes: [NodeID: LogHash] = [:]
}

/// `headsAndNodes`: prepared once per connection, so PostgreSQL neither parses nor re-plans it for every proof (a
/// custom plan of the join cost more than running it). The heads are found through the primary key (`= ANY`, not an `OR`
/// with the latest), the nodes by one primary-key probe each. Rows: `(true, size, timestamp_ms, root_hash, signature)`
/// for a head, `(false, level, index, hash, NULL)` for a node. Rows are decoded cell by cell into `ProofReadRow`:
/// PostgresNIO's generic decoding of a tuple row looked its types up at run time for every row (issue #15).
struct ProofReadStatement: PostgresPreparedStatement {
    static let sql = """
        SELECT true, size, timestamp_ms, root_hash, signature FROM tree_heads
        WHERE size = ANY($1::bigint[] || (SELECT max(size) FROM tree_heads))
        UNION ALL
        SELECT false, n.level, n.index, n.hash, NULL FROM log_nodes n
        JOIN unnest($2::bigint[], $3::bigint[]) AS wanted(level, index) ON n.level = wanted.level AND n.index = wanted.index
        """
    typealias Row = ProofReadRow

    var sizes: [Int64]
    var levels: [Int64]
    var indexes: [Int64]

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 3)
        for array in [sizes, levels, indexes] { bindings.append(array) }
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row {
        let cells = row.makeRandomAccess()
        guard cells.count == 5 else { throw LogIntegrityError(size: sizes.last ?? 0) }
        return ProofReadRow(
            isHead: try cells[0].bool(), first: try cells[1].int64(), second: try cells[2].int64(), hash: try cells[3].bytes(),
            signature: try cells[4].bytesOrNil() ?? [])
    }
}

/// Reads a cell in PostgreSQL's binary format directly; any other format or type goes through PostgresNIO's decoding,
/// which throws for what does not fit.
extension PostgresCell {
    fileprivate func bool() throws -> Bool {
        if format == .binary, dataType == .bool, let bytes, bytes.readableBytes == 1, let byte = bytes.getInteger(at: bytes.readerIndex, as: UInt8.self) {
            return byte != 0
        }
        return try decode(Bool.self)
    }

    fileprivate func int64() throws -> Int64 {
        if format == .binary, dataType == .int8, let bytes, bytes.readableBytes == 8, let value = bytes.getInteger(at: bytes.readerIndex, as: Int64.self) {
            return value
        }
        return try decode(Int64.self)
    }

    fileprivate func bytes() throws -> [UInt8] {
        if format == .binary, dataType == .bytea, let bytes { return Array(bytes.readableBytesView) }
        return Array(try decode(ByteBuffer.self).readableBytesView)
    }

    fileprivate func bytesOrNil() throws -> [UInt8]? { bytes == nil ? nil : try self.bytes() }
}

/// A row of `ProofReadStatement`: a head `(size, timestamp_ms, root_hash, signature)` or a node `(level, index, hash)`.
struct ProofReadRow: Sendable {
    var isHead: Bool
    var first: Int64
    var second: Int64
    var hash: [UInt8]
    var signature: [UInt8]
}

/// The perfect-subtree nodes of the log, read in batches (the sequencer's frontier).
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
