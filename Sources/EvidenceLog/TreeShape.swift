/// Which stored nodes make up which hashes. Pure arithmetic on sizes and indices, no hashing.
enum TreeShape {
    /// The largest power of two strictly below `count` (the split point `k` of RFC 9162 §2.1.1). Needs `count >= 2`.
    static func largestPowerOfTwo(below count: Int64) -> Int64 {
        assert(count >= 2)
        return Int64(1) << (63 - (count - 1).leadingZeroBitCount)
    }

    /// The perfect subtrees that tile `[begin, begin + count)`, largest (leftmost) first.
    ///
    /// Every range that appears in the RFC's recursion starts at a multiple of the smallest power of two
    /// `>= count`, so each piece is an aligned perfect subtree, and the range's Merkle hash is the
    /// right fold of the pieces' hashes.
    static func perfectNodes(begin: Int64, count: Int64) -> [NodeID] {
        assert(begin >= 0 && count >= 0)
        var ids: [NodeID] = []
        var position = begin
        var level = 63 - count.leadingZeroBitCount
        while level >= 0 {
            let width = Int64(1) << level
            if count & width != 0 {
                assert(position % width == 0, "range pieces must be aligned perfect subtrees")
                ids.append(NodeID(level: level, index: position >> level))
                position += width
            }
            level -= 1
        }
        return ids
    }

    /// The recipe of an inclusion proof: PATH(m, D[n]) of RFC 9162 §2.1.3.1, bottom element first.
    /// Each element is the hash of one subtree, given as its perfect pieces.
    static func inclusionRecipe(index: Int64, size: Int64) -> ProofRecipe? {
        guard index >= 0, index < size else { return nil }
        // Walk down from the root; each step contributes the sibling subtree of the side holding the leaf.
        var topDown: [[NodeID]] = []
        var begin: Int64 = 0
        var count = size
        var leaf = index
        while count > 1 {
            let split = largestPowerOfTwo(below: count)
            if leaf < split {
                topDown.append(perfectNodes(begin: begin + split, count: count - split))
                count = split
            } else {
                topDown.append(perfectNodes(begin: begin, count: split))
                begin += split
                leaf -= split
                count -= split
            }
        }
        return ProofRecipe(elements: topDown.reversed())
    }

    /// The recipe of a consistency proof: PROOF(m, D[n]) = SUBPROOF(m, D[n], true) of RFC 9162 §2.1.4.1.
    static func consistencyRecipe(from first: Int64, to second: Int64) -> ProofRecipe? {
        guard first > 0, first <= second else { return nil }
        var topDown: [[NodeID]] = []
        var begin: Int64 = 0
        var count = second
        var old = first
        var oldRootIsKnown = true
        while old != count {
            let split = largestPowerOfTwo(below: count)
            if old <= split {
                topDown.append(perfectNodes(begin: begin + split, count: count - split))
                count = split
            } else {
                topDown.append(perfectNodes(begin: begin, count: split))
                begin += split
                old -= split
                count -= split
                oldRootIsKnown = false
            }
        }
        // SUBPROOF(m, D[m], false) = {MTH(D[m])}: the verifier cannot know this subtree's hash.
        if !oldRootIsKnown {
            topDown.append(perfectNodes(begin: begin, count: count))
        }
        return ProofRecipe(elements: topDown.reversed())
    }
}

/// A proof as a list of subtree hashes, each subtree given by the perfect nodes that tile it.
struct ProofRecipe {
    let elements: [[NodeID]]

    /// Every node the proof reads, in proof order.
    var nodeIDs: [NodeID] { elements.flatMap { $0 } }

    /// The proof's hashes, each element folded from its pieces.
    func hashes(from nodes: [NodeID: LogHash]) throws -> [LogHash] {
        try elements.map { try foldedHash(of: $0, from: nodes) }
    }
}

/// The Merkle hash of a range from the perfect subtrees that tile it (largest first): because the RFC
/// splits at the largest power of two, MTH is `node(p0, node(p1, … node(pk-1, pk)))`.
func foldedHash(of pieces: [NodeID], from nodes: [NodeID: LogHash]) throws -> LogHash {
    guard let last = pieces.last else { return MerkleHasher.emptyRoot }
    var hash = try node(last, from: nodes)
    for id in pieces.dropLast().reversed() {
        hash = MerkleHasher.nodeHash(try node(id, from: nodes), hash)
    }
    return hash
}

private func node(_ id: NodeID, from nodes: [NodeID: LogHash]) throws -> LogHash {
    guard let hash = nodes[id] else { throw EvidenceLogError.nodeIsMissing(id) }
    return hash
}
