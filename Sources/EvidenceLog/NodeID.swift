/// The address of a stored node: the root of a *perfect* subtree.
///
/// Node (`level` L, `index` i) is the Merkle hash of leaves `[i·2^L, (i+1)·2^L)`; level 0 holds the leaf
/// hashes. Nodes of non-perfect subtrees are never stored: they are recomputed from their perfect pieces,
/// so a node, once written, never changes.
public struct NodeID: Hashable, Sendable {
    /// The height above the leaves: 0 for a leaf hash, L for a subtree of 2^L leaves.
    public let level: Int
    /// The position among the nodes of the same level, counted from 0 at the left.
    public let index: Int64

    /// The node at `level` and `index`; both must be non-negative and the node's leaves must fit in `Int64`.
    public init(level: Int, index: Int64) {
        precondition(level >= 0 && level < 63 && index >= 0, "a node id needs 0 <= level < 63 and index >= 0")
        precondition(index <= (Int64.max >> level) - 1, "a node's leaves must fit in Int64")
        self.level = level
        self.index = index
    }

    /// The leaves this node covers: `[index·2^level, (index+1)·2^level)`.
    public var leafRange: Range<Int64> { (index << level)..<((index + 1) << level) }
}

extension NodeID: CustomStringConvertible {
    /// `"level/index"`.
    public var description: String { "\(level)/\(index)" }
}

/// Where the stored perfect nodes of the log are read from.
///
/// The proof functions first name every node they need (`rootNodeIDs`, `inclusionProofNodeIDs`, …), so one
/// call to ``nodes(_:)`` — one database query — fetches all of them.
public protocol NodeReader: Sendable {
    /// The hashes of the requested nodes that exist. A node that is absent is simply not in the result; the
    /// assembly functions then throw ``EvidenceLogError/nodeIsMissing(_:)``.
    func nodes(_ ids: [NodeID]) async throws -> [NodeID: LogHash]
}
