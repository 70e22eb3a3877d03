import EvidenceLog
import Foundation
import Logging
import NIOCore
import Synchronization

/// The evidence log's stored nodes, held in memory so that a proof is answered without the database (issue #15).
///
/// A stored node is the hash of a complete subtree: once its head is signed it never changes, so every instance may
/// keep a copy. The cache follows the signed heads. `refresh` reads the nodes a newer head adds and takes them only when
/// they check out: every interior node is the hash of its two children, and the tree they make has the head's root
/// under the log's signature. What the cache serves is therefore the signed log itself, not whatever the table holds;
/// a mismatch is logged as critical and the cache stays where it was. So is a database whose log ends before the tree
/// held, or has another root at its size (rolled back, or rewritten): the cache keeps serving the signed tree it holds.
///
/// It holds at most `capacity` entries, 64 bytes of memory each over all levels. Past that it keeps the largest signed
/// tree within the capacity, and a proof for a larger tree reads the database as before.
public final class LogNodeCache: Sendable {
    /// Bytes per node.
    static let hashBytes = LogHash.byteCount

    public let capacity: Int64
    let verifier: LogVerifier
    /// The most nodes one row of a load carries (32 MB by default): PostgreSQL refuses a value over 1 GB.
    let nodesPerRow: Int64
    private let state = Mutex(State())

    struct State {
        /// The size of the signed tree held.
        var size: Int64 = 0
        /// The root of that tree, signed.
        var root: LogHash?
        /// Level L holds the hashes of nodes 0 ..< size >> L, `hashBytes` each, in index order.
        var levels: [[UInt8]] = []
        /// The last refusal and the size it was about, so that it is logged once, not at every refresh.
        var refused: (Refusal, Int64)?
    }

    public init(capacity: Int64, verifier: LogVerifier, nodesPerRow: Int64 = 1 << 20) {
        self.capacity = capacity
        self.verifier = verifier
        self.nodesPerRow = max(nodesPerRow, 1)
    }

    /// The size of the signed tree held: proofs for trees up to this size need no database.
    public var size: Int64 { state.withLock { $0.size } }

    /// The stored nodes `ids` of the tree of `size`, or nil when the cache does not hold that tree. A tree no larger
    /// than the one held has only complete subtrees the held tree has too.
    func nodes(_ ids: [NodeID], ofTreeOfSize size: Int64) -> [NodeID: LogHash]? {
        state.withLock { state in
            guard size <= state.size else { return nil }
            var found: [NodeID: LogHash] = [:]
            found.reserveCapacity(ids.count)
            for id in ids {
                guard let hash = Self.hash(of: id, in: state.levels) else { return nil }
                found[id] = hash
            }
            return found
        }
    }

    /// Takes the nodes of the latest signed tree within the capacity that the cache does not hold yet: one query for the
    /// head, one for the nodes. Returns the size held afterwards.
    @discardableResult
    public func refresh(from store: Store) async throws -> Int64 {
        let (held, heldRoot) = state.withLock { ($0.size, $0.root) }
        guard let head = try await EvidenceLogRepository(store: store).latestHead(atMost: capacity) else {
            if held > 0 { refuse(.rolledBack, size: held, store: store) }
            return held
        }
        let target = head.head.size
        // Heads only grow, and the one held was signed: a database whose latest head within the capacity is smaller, or
        // has another root at the same size, lost or rewrote the log. The cache keeps serving the tree it held.
        if target < held { refuse(.rolledBack, size: held, store: store) }
        if target == held, let heldRoot, head.head.rootHash != heldRoot { refuse(.forked, size: held, store: store) }
        guard target > held else { return held }
        guard verifier.verify(head) else {
            refuse(.unsignedHead, size: target, store: store)
            return held
        }
        let levels = Self.levelCount(size: target)
        let added = try await storedNodes(levels: levels, from: held, to: target, store: store)
        // The held levels are read outside the lock, and let go before the append below, which then grows them in place.
        let sound: Bool = {
            let current = state.withLock { $0.levels }
            return Self.isSound(added, held: current, from: held, to: target, root: head.head.rootHash)
        }()
        guard sound else {
            refuse(.nodesOffRoot, size: target, store: store)
            return held
        }
        return state.withLock { state in
            // A refresh that ran meanwhile took these nodes already (the service runs one at a time; a caller may not).
            guard state.size == held else { return state.size }
            for (level, tail) in added.enumerated() {
                if level < state.levels.count { Self.append(tail, to: &state.levels[level]) } else { state.levels.append(tail) }
            }
            state.size = target
            state.root = head.head.rootHash
            return target
        }
    }

    /// Why a refresh took nothing, or found the database's log behind or beside the tree held.
    enum Refusal: String, Equatable, Sendable {
        case unsignedHead = "a tree head in the database does not carry the log's signature"
        case nodesOffRoot = "stored log nodes do not lead to the signed root; proofs of that tree keep reading the database"
        case rolledBack = "the database's log ends before the signed tree this instance holds: it was rolled back"
        case forked = "the database's head at the size this instance holds has another root: the log was rewritten"
    }

    /// The last refusal and the size it was about, for tests and operators (logged as critical).
    var lastRefusal: (Refusal, Int64)? { state.withLock { $0.refused } }

    private func refuse(_ refusal: Refusal, size: Int64, store: Store) {
        let first = state.withLock { state in
            defer { state.refused = (refusal, size) }
            return state.refused.map { $0 != (refusal, size) } ?? true
        }
        if first { store.logger.critical("\(refusal.rawValue)", metadata: ["size": "\(size)"]) }
    }

    /// Grows a level by an eighth past what it needs when it must grow, rather than the doubling `append` would do: the
    /// cache's memory stays within about 1.125 × 64 bytes an entry.
    static func append(_ tail: [UInt8], to level: inout [UInt8]) {
        let needed = level.count + tail.count
        if needed > level.capacity { level.reserveCapacity(needed + needed / 8) }
        level.append(contentsOf: tail)
    }

    /// The levels a tree of `size` has stored nodes on: 0 through ⌊log₂ size⌋.
    static func levelCount(size: Int64) -> Int { size > 0 ? Int64.bitWidth - size.leadingZeroBitCount : 0 }

    static func hash(of id: NodeID, in levels: [[UInt8]]) -> LogHash? {
        guard id.level >= 0, id.level < levels.count, id.index >= 0 else { return nil }
        let level = levels[id.level]
        let start = Int(id.index) * hashBytes
        guard start + hashBytes <= level.count else { return nil }
        return try? LogHash(bytes: level[start..<start + hashBytes])
    }

    /// Each level's hashes of nodes `from >> L ..< to >> L`, concatenated in index order: a row per level and run of at
    /// most `nodesPerRow` nodes, each one bytea (a row per node would cost PostgresNIO's per-row work millions of times
    /// for a large log). The inner subquery reads the primary key in index order; `isSound` would refuse a run out of
    /// order.
    func storedNodes(levels: Int, from held: Int64, to target: Int64, store: Store) async throws -> [[UInt8]] {
        var runs: (levels: [Int64], starts: [Int64], ends: [Int64]) = ([], [], [])
        for level in 0..<levels {
            let end = target >> level
            for start in stride(from: held >> level, to: end, by: Int(nodesPerRow)) {
                runs.levels.append(Int64(level))
                runs.starts.append(start)
                runs.ends.append(min(start + nodesPerRow, end))
            }
        }
        let rows = try await store.query(
            """
            SELECT r.level::int, coalesce((SELECT string_agg(s.hash, ''::bytea) FROM (
                    SELECT n.hash FROM log_nodes n WHERE n.level = r.level AND n.index >= r.start AND n.index < r.finish
                    ORDER BY n.index) AS s), ''::bytea)
            FROM unnest(\(runs.levels)::bigint[], \(runs.starts)::bigint[], \(runs.ends)::bigint[]) AS r(level, start, finish)
            ORDER BY r.level, r.start
            """)
        var added = [[UInt8]](repeating: [], count: levels)
        for try await (level, bytes) in rows.decode((Int, ByteBuffer).self) where (0..<levels).contains(level) {
            added[level].append(contentsOf: bytes.readableBytesView)
        }
        return added
    }

    /// Whether each level of `added` has exactly the nodes the tree of `to` adds to the tree of `from`, each new interior
    /// node is the hash of its children, and the tree's root is `root`.
    static func isSound(_ added: [[UInt8]], held: [[UInt8]], from: Int64, to: Int64, root: LogHash) -> Bool {
        for (level, tail) in added.enumerated() {
            let expected = Int((to >> level) - (from >> level)) * hashBytes
            guard tail.count == expected else { return false }
        }
        // A node is read from the levels held, or from the new tails past them.
        func node(_ level: Int, _ index: Int64) -> ArraySlice<UInt8>? {
            let start = Int(index) * hashBytes
            let heldBytes = level < held.count ? held[level] : []
            if start + hashBytes <= heldBytes.count { return heldBytes[start..<start + hashBytes] }
            let offset = start - heldBytes.count
            guard offset >= 0, offset + hashBytes <= added[level].count else { return nil }
            return added[level][offset..<offset + hashBytes]
        }
        for level in added.indices.dropFirst() {
            for index in (from >> level)..<(to >> level) {
                guard let left = node(level - 1, 2 * index), let right = node(level - 1, 2 * index + 1),
                    let parent = node(level, index), MerkleHasher.isNodeHash(parent, left: left, right: right)
                else { return false }
            }
        }
        var frontier: [NodeID: LogHash] = [:]
        for id in rootNodeIDs(size: to) {
            guard let bytes = node(id.level, id.index), let hash = try? LogHash(bytes: bytes) else { return false }
            frontier[id] = hash
        }
        guard let computed = try? EvidenceLog.root(size: to, nodes: frontier) else { return false }
        return computed == root
    }
}
