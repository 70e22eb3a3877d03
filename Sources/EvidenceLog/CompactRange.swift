/// The frontier of the log for the sequencer: for tree size n, the hashes of the perfect subtrees that tile
/// `[0, n)` — one per set bit of n, largest (leftmost) first. It is all that is needed to append leaves and
/// to compute the root.
public struct CompactRange: Equatable, Sendable {
    /// The number of leaves covered.
    public private(set) var size: Int64
    private var ids: [NodeID]
    private var hashes: [LogHash]

    /// The frontier of the empty tree.
    public init() {
        size = 0
        ids = []
        hashes = []
    }

    /// The nodes to load to resume appending at tree size `size` (the same as ``rootNodeIDs(size:)``).
    public static func nodeIDs(size: Int64) -> [NodeID] { rootNodeIDs(size: size) }

    /// Resumes the frontier of the tree of `size` leaves from stored nodes; `nodes` must hold every id of
    /// ``nodeIDs(size:)`` (other entries are ignored).
    public init(size: Int64, nodes: [NodeID: LogHash]) throws {
        guard size >= 0 else { throw EvidenceLogError.treeSizeIsNegative(size) }
        let ids = Self.nodeIDs(size: size)
        var hashes: [LogHash] = []
        hashes.reserveCapacity(ids.count)
        for id in ids {
            guard let hash = nodes[id] else { throw EvidenceLogError.nodeIsMissing(id) }
            hashes.append(hash)
        }
        self.size = size
        self.ids = ids
        self.hashes = hashes
    }

    /// The frontier's nodes, keyed by id.
    public var nodes: [NodeID: LogHash] { Dictionary(uniqueKeysWithValues: zip(ids, hashes)) }

    /// The root of the tree of ``size`` leaves (RFC 9162 MTH); ``MerkleHasher/emptyRoot`` when empty.
    public var root: LogHash {
        guard var hash = hashes.last else { return MerkleHasher.emptyRoot }
        for left in hashes.dropLast().reversed() {
            hash = MerkleHasher.nodeHash(left, hash)
        }
        return hash
    }

    /// Appends leaves (already hashed with ``MerkleHasher/leafHash(_:)``) and returns every perfect node that
    /// came into being, in creation order: each leaf at level 0, then the parents it completes. These are
    /// exactly the nodes the store must insert. Costs O(k + log n) hashes for k leaves.
    public mutating func append(leafHashes: [LogHash]) -> [(NodeID, LogHash)] {
        precondition(leafHashes.count <= Int64.max - size, "the log cannot hold more than Int64.max leaves")
        var created: [(NodeID, LogHash)] = []
        created.reserveCapacity(2 * leafHashes.count + ids.count)
        for leafHash in leafHashes {
            var id = NodeID(level: 0, index: size)
            var hash = leafHash
            created.append((id, hash))
            // Equal levels on the right border are siblings: merge them, as binary addition carries.
            while let last = ids.last, last.level == id.level {
                hash = MerkleHasher.nodeHash(hashes.removeLast(), hash)
                ids.removeLast()
                id = NodeID(level: id.level + 1, index: id.index >> 1)
                created.append((id, hash))
            }
            ids.append(id)
            hashes.append(hash)
            size += 1
        }
        return created
    }
}
