import EvidenceLog

// Independent references the module is checked against: the RFC's recursive definitions written out
// literally, and a node table built level by level. Neither shares code with the module under test.

/// Decodes hex test vectors; traps on malformed input because the vectors are constants.
func bytes(hex: String) -> [UInt8] {
    precondition(hex.count % 2 == 0)
    var result: [UInt8] = []
    var index = hex.startIndex
    while index < hex.endIndex {
        let next = hex.index(index, offsetBy: 2)
        result.append(UInt8(hex[index..<next], radix: 16)!)
        index = next
    }
    return result
}

/// A hash from a hex test vector.
func hash(_ hex: String) -> LogHash {
    try! LogHash(hex: hex)
}

/// The leaf hashes of `count` distinct entries.
func sampleLeafHashes(_ count: Int) -> [LogHash] {
    (0..<count).map { MerkleHasher.leafHash(Array("evidence entry \($0)".utf8)) }
}

/// RFC 9162 §2.1.1, §2.1.3.1 and §2.1.4.1 as written: MTH, PATH and SUBPROOF by recursion on leaf ranges.
/// MTH of a range is memoized so that every (index, size) pair can be checked quickly.
final class NaiveMerkleTree {
    private let leafHashes: [LogHash]
    private var memo: [Range<Int>: LogHash] = [:]

    init(leafHashes: [LogHash]) {
        self.leafHashes = leafHashes
    }

    /// MTH(D[range]).
    func mth(_ range: Range<Int>) -> LogHash {
        if range.isEmpty { return MerkleHasher.emptyRoot }
        if range.count == 1 { return leafHashes[range.lowerBound] }
        if let known = memo[range] { return known }
        let split = range.lowerBound + largestPowerOfTwo(below: range.count)
        let value = MerkleHasher.nodeHash(mth(range.lowerBound..<split), mth(split..<range.upperBound))
        memo[range] = value
        return value
    }

    /// MTH(D[0:size]).
    func root(size: Int) -> LogHash { mth(0..<size) }

    /// PATH(m, D[range]), with m relative to the range.
    func path(_ m: Int, _ range: Range<Int>) -> [LogHash] {
        if range.count <= 1 { return [] }
        let split = range.lowerBound + largestPowerOfTwo(below: range.count)
        if range.lowerBound + m < split {
            return path(m, range.lowerBound..<split) + [mth(split..<range.upperBound)]
        }
        return path(m - (split - range.lowerBound), split..<range.upperBound) + [mth(range.lowerBound..<split)]
    }

    /// PROOF(m, D[n]) = SUBPROOF(m, D[n], true).
    func consistency(_ m: Int, _ n: Int) -> [LogHash] { subproof(m, 0..<n, true) }

    private func subproof(_ m: Int, _ range: Range<Int>, _ isWholeOldTree: Bool) -> [LogHash] {
        if m == range.count { return isWholeOldTree ? [] : [mth(range)] }
        let k = largestPowerOfTwo(below: range.count)
        let split = range.lowerBound + k
        if m <= k {
            return subproof(m, range.lowerBound..<split, isWholeOldTree) + [mth(split..<range.upperBound)]
        }
        return subproof(m - k, split..<range.upperBound, false) + [mth(range.lowerBound..<split)]
    }

    private func largestPowerOfTwo(below n: Int) -> Int {
        var k = 1
        while k * 2 < n { k *= 2 }
        return k
    }
}

/// Every perfect node over `leafHashes`, built level by level: level 0 is the leaves, node (L, i) hashes
/// nodes (L-1, 2i) and (L-1, 2i+1). This is what the store holds after appending all the leaves.
func perfectNodeTable(_ leafHashes: [LogHash]) -> [NodeID: LogHash] {
    var table: [NodeID: LogHash] = [:]
    var level = 0
    var row = leafHashes
    while !row.isEmpty {
        for (index, value) in row.enumerated() {
            table[NodeID(level: level, index: Int64(index))] = value
        }
        row = stride(from: 0, to: row.count - 1, by: 2).map { MerkleHasher.nodeHash(row[$0], row[$0 + 1]) }
        level += 1
    }
    return table
}

/// Only the requested entries of a node table, as a database query would return them.
func select(_ ids: [NodeID], from table: [NodeID: LogHash]) -> [NodeID: LogHash] {
    var selected: [NodeID: LogHash] = [:]
    for id in ids { selected[id] = table[id] }
    return selected
}

/// The same hash with one bit of one byte flipped.
func flipping(_ value: LogHash, byte: Int, mask: UInt8 = 0x01) -> LogHash {
    var changed = value.bytes
    changed[byte] ^= mask
    return try! LogHash(bytes: changed)
}

/// A small deterministic generator (SplitMix64), so a failing random case can be replayed.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A node store in memory that records how many reads it served and what they asked for.
actor RecordingNodeReader: NodeReader {
    private let table: [NodeID: LogHash]
    private(set) var requests: [[NodeID]] = []

    init(table: [NodeID: LogHash]) { self.table = table }

    func nodes(_ ids: [NodeID]) async throws -> [NodeID: LogHash] {
        requests.append(ids)
        return select(ids, from: table)
    }
}
