// Proof checking exactly as RFC 9162 §2.1.3.2 and §2.1.4.2 describe it: the verifier needs only the sizes,
// the proof and the roots, never the log's storage.

/// Whether `proof` shows that the leaf with `leafHash` sits at `index` in the tree of `size` leaves whose
/// root is `root` (RFC 9162 §2.1.3.2). False whenever `index` is not in `[0, size)`.
public func verifyInclusion(leafHash: LogHash, index: Int64, size: Int64, proof: [LogHash], root: LogHash) -> Bool {
    guard index >= 0, index < size else { return false }
    var fn = index
    var sn = size - 1
    var hash = leafHash
    for sibling in proof {
        // A proof longer than the path from the leaf to the root.
        if sn == 0 { return false }
        if fn & 1 == 1 || fn == sn {
            hash = MerkleHasher.nodeHash(sibling, hash)
            // On the right border the path skips levels where the subtree has no right sibling.
            while fn & 1 == 0 && fn != 0 {
                fn >>= 1
                sn >>= 1
            }
        } else {
            hash = MerkleHasher.nodeHash(hash, sibling)
        }
        fn >>= 1
        sn >>= 1
    }
    return sn == 0 && hash == root
}

/// Whether `proof` shows that the tree of `to` leaves with root `toRoot` extends the tree of `from` leaves
/// with root `fromRoot` (RFC 9162 §2.1.4.2).
///
/// Edge cases: `from == to` holds only with an empty proof and equal roots; `from > to`, negative sizes and
/// `from == 0` are false (RFC 9162 defines consistency only for `0 < from`; transparency-dev/merkle refuses
/// the empty tree the same way); for `from < to` an empty proof is false.
public func verifyConsistency(from: Int64, to: Int64, proof: [LogHash], fromRoot: LogHash, toRoot: LogHash) -> Bool {
    guard from > 0, from <= to else { return false }
    if from == to { return proof.isEmpty && fromRoot == toRoot }
    guard !proof.isEmpty else { return false }

    // When the old tree is a perfect subtree of the new one, its root is the first element of the path.
    let path = from.nonzeroBitCount == 1 ? [fromRoot] + proof : proof
    var fn = from - 1
    var sn = to - 1
    while fn & 1 == 1 {
        fn >>= 1
        sn >>= 1
    }
    var oldHash = path[0]
    var newHash = path[0]
    for sibling in path.dropFirst() {
        if sn == 0 { return false }
        if fn & 1 == 1 || fn == sn {
            oldHash = MerkleHasher.nodeHash(sibling, oldHash)
            newHash = MerkleHasher.nodeHash(sibling, newHash)
            while fn & 1 == 0 && fn != 0 {
                fn >>= 1
                sn >>= 1
            }
        } else {
            newHash = MerkleHasher.nodeHash(newHash, sibling)
        }
        fn >>= 1
        sn >>= 1
    }
    return oldHash == fromRoot && newHash == toRoot && sn == 0
}
