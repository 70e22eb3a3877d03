// Root, inclusion and consistency proofs in two steps: first name the stored nodes a computation needs,
// so the caller can fetch them in one query; then assemble the result from the fetched map.

/// The perfect subtrees that tile `[0, size)`, largest first: at most one per set bit of `size`.
/// Empty for `size <= 0`.
public func rootNodeIDs(size: Int64) -> [NodeID] {
    guard size > 0 else { return [] }
    return TreeShape.perfectNodes(begin: 0, count: size)
}

/// The Merkle Tree Hash MTH(D[0:size]) of RFC 9162 §2.1.1, from the nodes named by ``rootNodeIDs(size:)``.
/// The empty tree's root is ``MerkleHasher/emptyRoot``.
public func root(size: Int64, nodes: [NodeID: LogHash]) throws -> LogHash {
    guard size >= 0 else { throw EvidenceLogError.treeSizeIsNegative(size) }
    return try foldedHash(of: rootNodeIDs(size: size), from: nodes)
}

/// The stored nodes an inclusion proof for leaf `index` in the tree of `size` leaves reads:
/// at most 2·⌈log2(size)⌉ of them. Empty when `index` is not in the tree (and for the one-leaf tree).
public func inclusionProofNodeIDs(index: Int64, size: Int64) -> [NodeID] {
    TreeShape.inclusionRecipe(index: index, size: size)?.nodeIDs ?? []
}

/// The inclusion proof PATH(index, D[size]) of RFC 9162 §2.1.3.1, bottom (sibling of the leaf) first.
/// A sibling subtree that is not perfect is hashed here from its stored pieces.
public func inclusionProof(index: Int64, size: Int64, nodes: [NodeID: LogHash]) throws -> [LogHash] {
    guard size >= 0 else { throw EvidenceLogError.treeSizeIsNegative(size) }
    guard let recipe = TreeShape.inclusionRecipe(index: index, size: size) else {
        throw EvidenceLogError.leafIndexIsOutsideTree(index: index, size: size)
    }
    return try recipe.hashes(from: nodes)
}

/// The stored nodes a consistency proof from tree size `from` to tree size `to` reads.
/// Empty when `from == to`, and when there is no such proof (`from <= 0` or `from > to`).
public func consistencyProofNodeIDs(from: Int64, to: Int64) -> [NodeID] {
    TreeShape.consistencyRecipe(from: from, to: to)?.nodeIDs ?? []
}

/// The consistency proof PROOF(from, D[to]) of RFC 9162 §2.1.4.1; empty when `from == to`.
/// Throws for `from == 0`: RFC 9162 defines proofs only for `0 < from <= to`, every tree extends the empty one.
public func consistencyProof(from: Int64, to: Int64, nodes: [NodeID: LogHash]) throws -> [LogHash] {
    guard from >= 0 else { throw EvidenceLogError.treeSizeIsNegative(from) }
    guard to >= 0 else { throw EvidenceLogError.treeSizeIsNegative(to) }
    guard from <= to else { throw EvidenceLogError.consistencySizesAreReversed(from: from, to: to) }
    guard let recipe = TreeShape.consistencyRecipe(from: from, to: to) else {
        throw EvidenceLogError.consistencyFromEmptyTreeIsMeaningless
    }
    return try recipe.hashes(from: nodes)
}

extension NodeReader {
    /// The root of the tree of `size` leaves, read in one ``nodes(_:)`` call.
    public func root(size: Int64) async throws -> LogHash {
        try EvidenceLog.root(size: size, nodes: await nodes(rootNodeIDs(size: size)))
    }

    /// The inclusion proof for leaf `index` in the tree of `size` leaves, read in one ``nodes(_:)`` call.
    public func inclusionProof(index: Int64, size: Int64) async throws -> [LogHash] {
        let fetched = try await nodes(inclusionProofNodeIDs(index: index, size: size))
        return try EvidenceLog.inclusionProof(index: index, size: size, nodes: fetched)
    }

    /// The consistency proof from tree size `from` to `to`, read in one ``nodes(_:)`` call.
    public func consistencyProof(from: Int64, to: Int64) async throws -> [LogHash] {
        let fetched = try await nodes(consistencyProofNodeIDs(from: from, to: to))
        return try EvidenceLog.consistencyProof(from: from, to: to, nodes: fetched)
    }

    /// The frontier of the tree of `size` leaves, read in one ``nodes(_:)`` call, ready to append to.
    public func compactRange(size: Int64) async throws -> CompactRange {
        try CompactRange(size: size, nodes: await nodes(CompactRange.nodeIDs(size: size)))
    }
}
