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
///
/// With a `LogNodeCache` that holds the tree asked about, a proof that names its tree sizes reads no database at all.
public struct EvidenceLogRepository: Sendable {
    let store: Store
    let cache: LogNodeCache?

    public init(store: Store, cache: LogNodeCache? = nil) {
        self.store = store
        self.cache = cache
    }

    public func latestHead() async throws -> SignedTreeHead? {
        try await head(sql: "SELECT size, root_hash, timestamp_ms, signature FROM tree_heads ORDER BY size DESC LIMIT 1")
    }

    /// The largest signed head of a tree of at most `size` entries.
    func latestHead(atMost size: Int64) async throws -> SignedTreeHead? {
        try await head(
            sql: "SELECT size, root_hash, timestamp_ms, signature FROM tree_heads WHERE size <= \(size) ORDER BY size DESC LIMIT 1")
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
        let ids = inclusionProofNodeIDs(index: index, size: size) + [leafID]
        if let nodes = cache?.nodes(ids, ofTreeOfSize: size), let leaf = nodes[leafID] {
            let proof = try EvidenceLog.inclusionProof(index: index, size: size, nodes: nodes)
            return InclusionProofRecord(index: index, treeSize: size, leafHash: leaf, proof: proof)
        }
        let read = try await headsAndNodes(sizes: [size], nodes: ids)
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
        let ids = consistencyProofNodeIDs(from: from, to: to)
        if let nodes = cache?.nodes(ids, ofTreeOfSize: to) {
            return ConsistencyProofRecord(from: from, to: to, proof: try EvidenceLog.consistencyProof(from: from, to: to, nodes: nodes))
        }
        let read = try await headsAndNodes(sizes: [from, to], nodes: ids)
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
        let statement = ProofReadStatement(sizes: sizes, levels: ids.map { Int64($0.level) }, indexes: ids.map(\.index))
        var read = ProofRead()
        for try await row in try await store.execute(statement) {
            read = try ProofRead(row, nodes: ids, integrityError: LogIntegrityError(size: sizes.last ?? 0))
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

    init() {}

    /// The statement's one row: the heads' columns, then one hash (or NULL) per node asked for, in the order asked.
    init(_ row: ProofReadRow, nodes ids: [NodeID], integrityError: LogIntegrityError) throws {
        let heads = row.heads
        guard heads.timestamps.count == heads.sizes.count, heads.roots.count == heads.sizes.count,
            heads.signatures.count == heads.sizes.count, row.nodeHashes.isEmpty || row.nodeHashes.count == ids.count
        else { throw integrityError }
        for position in heads.sizes.indices {
            guard let root = heads.roots[position], let signature = heads.signatures[position] else { throw integrityError }
            let head = SignedTreeHead(
                head: TreeHead(
                    size: heads.sizes[position], rootHash: try LogHash(bytes: root), timestampMilliseconds: heads.timestamps[position]),
                signature: signature)
            self.heads[head.head.size] = head
            if latest.map({ $0.head.size < head.head.size }) ?? true { latest = head }
        }
        for (id, hash) in zip(ids, row.nodeHashes) {
            if let hash { nodes[id] = try LogHash(bytes: hash) }
        }
    }
}

/// `headsAndNodes`: prepared once per connection, so PostgreSQL neither parses nor re-plans it for every proof (a
/// custom plan of the join cost more than running it). The heads are found through the primary key (`= ANY`, not an `OR`
/// with the latest), the nodes by one primary-key probe each. It answers in one row of arrays: the heads' sizes,
/// timestamps, roots and signatures, and the nodes' hashes in the order asked (NULL for a node not stored). A row per
/// head and node cost PostgresNIO's per-row decoding and hand-off to the reading task some twenty times per proof
/// (issue #15).
struct ProofReadStatement: PostgresPreparedStatement {
    static let sql = """
        SELECT h.sizes, h.timestamps, h.roots, h.signatures, n.hashes
        FROM (SELECT array_agg(size) AS sizes, array_agg(timestamp_ms) AS timestamps, array_agg(root_hash) AS roots,
                     array_agg(signature) AS signatures
              FROM tree_heads WHERE size = ANY($1::bigint[] || (SELECT max(size) FROM tree_heads))) AS h,
             (SELECT array_agg(n.hash ORDER BY wanted.position) AS hashes
              FROM unnest($2::bigint[], $3::bigint[]) WITH ORDINALITY AS wanted(level, index, position)
              LEFT JOIN log_nodes n ON n.level = wanted.level AND n.index = wanted.index) AS n
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
        let malformed = LogIntegrityError(size: sizes.last ?? 0)
        guard cells.count == 5 else { throw malformed }
        func array(_ position: Int, of type: PostgresDataType) throws -> PostgresBinaryArray {
            try PostgresBinaryArray(cells[position], elementType: type, orThrow: malformed)
        }
        return ProofReadRow(
            heads: .init(
                sizes: try array(0, of: .int8).integers(orThrow: malformed),
                timestamps: try array(1, of: .int8).integers(orThrow: malformed),
                roots: try array(2, of: .bytea).bytes(), signatures: try array(3, of: .bytea).bytes()),
            nodeHashes: try array(4, of: .bytea).bytes())
    }
}

/// The one row of `ProofReadStatement`.
struct ProofReadRow: Sendable {
    struct Heads: Sendable {
        var sizes: [Int64]
        var timestamps: [Int64]
        var roots: [[UInt8]?]
        var signatures: [[UInt8]?]
    }

    var heads: Heads
    /// One per node asked for, in the order asked; nil where the node is not stored.
    var nodeHashes: [[UInt8]?]
}

/// A one-dimensional PostgreSQL array in the binary format (`array_send`): a header, then each element as a length
/// (-1 for NULL) and its bytes. A NULL array (an aggregate over no rows) reads as empty. PostgresNIO's own array
/// decoding has no NULL elements, which the nodes' `LEFT JOIN` needs.
struct PostgresBinaryArray {
    private(set) var elements: [ByteBuffer?] = []

    init(_ cell: PostgresCell, elementType: PostgresDataType, orThrow error: some Error) throws {
        guard var buffer = cell.bytes else { return }
        guard cell.format == .binary, let dimensions = buffer.readInteger(as: Int32.self), buffer.readInteger(as: Int32.self) != nil,
            let type = buffer.readInteger(as: UInt32.self), type == elementType.rawValue
        else { throw error }
        guard dimensions == 1 else {
            guard dimensions == 0, buffer.readableBytes == 0 else { throw error }
            return
        }
        guard let count = buffer.readInteger(as: Int32.self), count >= 0, buffer.readInteger(as: Int32.self) != nil else { throw error }
        // Each element takes at least its 4-byte length: a count the bytes cannot hold is refused before any allocation.
        guard Int(count) <= buffer.readableBytes / 4 else { throw error }
        elements.reserveCapacity(Int(count))
        for _ in 0..<count {
            guard let length = buffer.readInteger(as: Int32.self) else { throw error }
            if length == -1 {
                elements.append(nil)
            } else {
                guard length >= 0, let element = buffer.readSlice(length: Int(length)) else { throw error }
                elements.append(element)
            }
        }
        guard buffer.readableBytes == 0 else { throw error }
    }

    /// Every element as a big-endian 64-bit integer; a NULL element is an error.
    func integers(orThrow error: some Error) throws -> [Int64] {
        try elements.map { element in
            guard let element, element.readableBytes == 8, let value = element.getInteger(at: element.readerIndex, as: Int64.self)
            else { throw error }
            return value
        }
    }

    func bytes() -> [[UInt8]?] { elements.map { $0.map { Array($0.readableBytesView) } } }
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

    /// The transaction-level advisory lock whose holder is the one sequencer.
    public static let lockKey: Int64 = 7_469_697

    /// Sequences one batch; returns how many events it logged. One sequencer runs at a time, however many instances
    /// run: with `waitingForOthers` this one waits for the log; without (the service's), it logs nothing while another
    /// holds it, and so never holds a connection of its pool waiting behind a slow or stalled one.
    @discardableResult
    public func sequenceBatch(waitingForOthers: Bool = true) async throws -> Int {
        try await store.transaction { connection in
            if waitingForOthers {
                try await connection.run("SELECT pg_advisory_xact_lock(\(Self.lockKey))", logger: store.logger)
            } else {
                var held = false
                for try await taken in try await connection.query(
                    "SELECT pg_try_advisory_xact_lock(\(Self.lockKey))", logger: store.logger
                ).decode(Bool.self) { held = taken }
                if !held { return 0 }
            }
            var latest: SignedTreeHead?
            for try await (size, root, timestamp, signature) in try await connection.query(
                "SELECT size, root_hash, timestamp_ms, signature FROM tree_heads ORDER BY size DESC LIMIT 1", logger: store.logger
            ).decode((Int64, Data, Int64, Data).self) {
                latest = SignedTreeHead(
                    head: TreeHead(size: size, rootHash: try LogHash(bytes: root), timestampMilliseconds: timestamp),
                    signature: [UInt8](signature))
            }
            // The head built on must be one this log signed: a root rewritten to match rewritten nodes is not.
            if let latest, !signer.verifier.verify(latest) { throw LogIntegrityError(size: latest.head.size) }
            let size = latest?.head.size ?? 0
            let batch = try await takeBatch(on: connection)
            // Nothing new: sign nothing, except the empty tree's head when the log has no head at all.
            if batch.isEmpty && latest != nil { return 0 }
            let reader = StoredNodes(store: store, connection: connection)
            var range = try CompactRange(size: size, nodes: try await reader.nodes(CompactRange.nodeIDs(size: size)))
            // The stored frontier must lead to the root last signed: a node rewritten behind the triggers' back would
            // otherwise be built on, and the next head signed over a tree that never held the logged entries.
            if let latest, latest.head.size > 0, range.root != latest.head.rootHash { throw LogIntegrityError(size: latest.head.size) }
            let leaves = batch.map { MerkleHasher.leafHash($0.entry) }
            let newNodes = range.append(leafHashes: leaves)
            let now = store.dependencies.now()
            try await insertEntries(batch, leaves: leaves, firstIndex: size, at: now, on: connection)
            try await insertNodes(newNodes, on: connection)
            // Never earlier than the head it extends: clocks of several instances may disagree, or one may step back,
            // and a larger head must not carry an earlier time.
            let milliseconds = max(wholeMilliseconds(since1970: now), latest?.head.timestampMilliseconds ?? 0)
            let head = TreeHead(size: size + Int64(batch.count), rootHash: range.root, timestampMilliseconds: milliseconds)
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
