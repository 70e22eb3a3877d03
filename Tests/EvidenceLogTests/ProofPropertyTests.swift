import EvidenceLog
import Foundation
import Testing

// Every proof for every small tree, generated from stored perfect nodes only, compared with the RFC's
// recursive definitions and checked by the RFC verifiers. Failures are collected and reported together,
// which keeps the tens of thousands of cases fast.

private let inclusionMaxSize = 300
private let consistencyMaxSize = 130
private let shardCount = 4

/// Which (proof position, byte) pairs to flip in one proof. Every byte of every hash for trees up to 24
/// leaves; one byte of every hash up to 100 leaves; above that one hash per proof, the position and byte
/// moving with `salt` (the leaf index or old size) so that all positions are still hit across a tree.
private func flips(proofLength: Int, size: Int, salt: Int) -> [(position: Int, byte: Int)] {
    guard proofLength > 0 else { return [] }
    if size <= 24 {
        return (0..<proofLength).flatMap { position in (0..<LogHash.byteCount).map { (position, $0) } }
    }
    if size <= 100 {
        return (0..<proofLength).map { ($0, (salt + $0) % LogHash.byteCount) }
    }
    return [(salt % proofLength, (salt * 7) % LogHash.byteCount)]
}

@Suite struct ProofPropertyTests {
    private let leafHashes = sampleLeafHashes(inclusionMaxSize)

    @Test func rootsFromStoredNodesEqualTheRecursiveDefinition() throws {
        let table = perfectNodeTable(leafHashes)
        let naive = NaiveMerkleTree(leafHashes: leafHashes)
        for size in 0...inclusionMaxSize {
            let ids = rootNodeIDs(size: Int64(size))
            #expect(ids.count == size.nonzeroBitCount)
            #expect(try root(size: Int64(size), nodes: select(ids, from: table)) == naive.root(size: size), "size \(size)")
        }
    }

    /// The sizes are split into shards (size % shardCount) so the shards run in parallel.
    @Test(arguments: 0..<shardCount)
    func everyInclusionProofMatchesTheDefinitionAndVerifies(shard: Int) throws {
        let table = perfectNodeTable(leafHashes)
        let naive = NaiveMerkleTree(leafHashes: leafHashes)
        let strangerLeaf = MerkleHasher.leafHash(Array("not in the log".utf8))
        var failures: [String] = []
        var proofsChecked = 0
        for size in 1...inclusionMaxSize where size % shardCount == shard {
            let treeRoot = naive.root(size: size)
            let size64 = Int64(size)
            for index in 0..<size {
                let index64 = Int64(index)
                let leaf = leafHashes[index]
                let ids = inclusionProofNodeIDs(index: index64, size: size64)
                if Double(ids.count) > 2 * log2(Double(size)) + 2 {
                    failures.append("\(index)/\(size): reads \(ids.count) nodes")
                }
                let proof = try inclusionProof(index: index64, size: size64, nodes: select(ids, from: table))
                if proof != naive.path(index, 0..<size) { failures.append("\(index)/\(size): differs from PATH") }
                if !verifyInclusion(leafHash: leaf, index: index64, size: size64, proof: proof, root: treeRoot) {
                    failures.append("\(index)/\(size): does not verify")
                }
                if size > 1 {
                    let otherIndex = Int64((index + 1) % size)
                    if verifyInclusion(leafHash: leaf, index: otherIndex, size: size64, proof: proof, root: treeRoot) {
                        failures.append("\(index)/\(size): verifies at index \(otherIndex)")
                    }
                    if verifyInclusion(leafHash: leaf, index: index64, size: size64, proof: proof, root: naive.root(size: size - 1)) {
                        failures.append("\(index)/\(size): verifies against the previous root")
                    }
                }
                if verifyInclusion(leafHash: strangerLeaf, index: index64, size: size64, proof: proof, root: treeRoot) {
                    failures.append("\(index)/\(size): verifies a leaf that is not in the log")
                }
                // A path longer than the tree is high must fail even when the root was made to match it.
                let extendedRoot = MerkleHasher.nodeHash(strangerLeaf, treeRoot)
                if verifyInclusion(leafHash: leaf, index: index64, size: size64, proof: proof + [strangerLeaf], root: extendedRoot) {
                    failures.append("\(index)/\(size): verifies a proof extended past the root")
                }
                for (position, byte) in flips(proofLength: proof.count, size: size, salt: index) {
                    var tampered = proof
                    tampered[position] = flipping(proof[position], byte: byte)
                    if verifyInclusion(leafHash: leaf, index: index64, size: size64, proof: tampered, root: treeRoot) {
                        failures.append("\(index)/\(size): verifies with byte \(byte) of proof[\(position)] flipped")
                    }
                }
                proofsChecked += 1
            }
        }
        let expectedProofs = (1...inclusionMaxSize).filter { $0 % shardCount == shard }.reduce(0, +)
        #expect(proofsChecked == expectedProofs)
        let failureCount = failures.count
        #expect(failureCount == 0, "first failures: \(failures.prefix(10))")
    }

    @Test func everyConsistencyProofMatchesTheDefinitionAndVerifies() throws {
        let table = perfectNodeTable(Array(leafHashes.prefix(consistencyMaxSize)))
        let naive = NaiveMerkleTree(leafHashes: leafHashes)
        var failures: [String] = []
        var proofsChecked = 0
        for to in 1...consistencyMaxSize {
            let toRoot = naive.root(size: to)
            for from in 1...to {
                let fromRoot = naive.root(size: from)
                let ids = consistencyProofNodeIDs(from: Int64(from), to: Int64(to))
                if Double(ids.count) > 2 * log2(Double(to)) + 2 {
                    failures.append("\(from)→\(to): reads \(ids.count) nodes")
                }
                let proof = try consistencyProof(from: Int64(from), to: Int64(to), nodes: select(ids, from: table))
                if proof != naive.consistency(from, to) { failures.append("\(from)→\(to): differs from PROOF") }
                func holds(_ from: Int, _ to: Int, _ proof: [LogHash], _ fromRoot: LogHash, _ toRoot: LogHash) -> Bool {
                    verifyConsistency(from: Int64(from), to: Int64(to), proof: proof, fromRoot: fromRoot, toRoot: toRoot)
                }
                if !holds(from, to, proof, fromRoot, toRoot) { failures.append("\(from)→\(to): does not verify") }
                proofsChecked += 1
                guard from < to else { continue }
                if holds(from, to, proof, toRoot, fromRoot) { failures.append("\(from)→\(to): verifies with swapped roots") }
                let stranger = MerkleHasher.leafHash(Array("not in the log".utf8))
                let extendedRoot = MerkleHasher.nodeHash(stranger, toRoot)
                if holds(from, to, proof + [stranger], fromRoot, extendedRoot) {
                    failures.append("\(from)→\(to): verifies a proof extended past the root")
                }
                if holds(from, to, proof, fromRoot, naive.root(size: to - 1)) {
                    failures.append("\(from)→\(to): verifies against another new root")
                }
                if from > 1 && holds(from, to, proof, naive.root(size: from - 1), toRoot) {
                    failures.append("\(from)→\(to): verifies against another old root")
                }
                if holds(from - 1, to, proof, fromRoot, toRoot) || holds(from + 1, to, proof, fromRoot, toRoot) {
                    failures.append("\(from)→\(to): verifies for another old size")
                }
                // No check that the proof fails for another new size: trees whose sizes share the path shape
                // (3 and 4 from 1, say) give the same computation, so the size is bound by the signed head,
                // not by the proof. The reference suites probe only `to * 2` and `to / 2` on fixed vectors.
                for (position, byte) in flips(proofLength: proof.count, size: to, salt: from) {
                    var tampered = proof
                    tampered[position] = flipping(proof[position], byte: byte)
                    if holds(from, to, tampered, fromRoot, toRoot) {
                        failures.append("\(from)→\(to): verifies with byte \(byte) of proof[\(position)] flipped")
                    }
                }
            }
        }
        #expect(proofsChecked == consistencyMaxSize * (consistencyMaxSize + 1) / 2)
        let failureCount = failures.count
        #expect(failureCount == 0, "first failures: \(failures.prefix(10))")
    }

    /// The node counts stay logarithmic far beyond the sizes the other tests can build.
    @Test func proofsOfHugeTreesReadLogarithmicallyManyNodes() {
        var generator = SplitMix64(seed: 9162)
        for _ in 0..<2_000 {
            let size = Int64.random(in: 2...(Int64(1) << 62), using: &generator)
            let index = Int64.random(in: 0..<size, using: &generator)
            let from = Int64.random(in: 1...size, using: &generator)
            let bound = 2 * log2(Double(size)) + 2
            let inclusionIDs = inclusionProofNodeIDs(index: index, size: size)
            let consistencyIDs = consistencyProofNodeIDs(from: from, to: size)
            #expect(Double(inclusionIDs.count) <= bound, "leaf \(index) of \(size)")
            #expect(Double(consistencyIDs.count) <= bound, "\(from) to \(size)")
            #expect(Set(inclusionIDs).count == inclusionIDs.count)
            #expect(inclusionIDs.allSatisfy { $0.leafRange.upperBound <= size && !$0.leafRange.contains(index) })
            #expect(consistencyIDs.allSatisfy { $0.leafRange.upperBound <= size })
            #expect(rootNodeIDs(size: size).count == size.nonzeroBitCount)
        }
    }

    @Test func nodeReaderFetchesEachProofInOneRead() async throws {
        let table = perfectNodeTable(Array(leafHashes.prefix(100)))
        let naive = NaiveMerkleTree(leafHashes: leafHashes)
        let reader = RecordingNodeReader(table: table)

        #expect(try await reader.root(size: 100) == naive.root(size: 100))
        #expect(try await reader.inclusionProof(index: 37, size: 99) == naive.path(37, 0..<99))
        #expect(try await reader.consistencyProof(from: 13, to: 100) == naive.consistency(13, 100))
        #expect(try await reader.compactRange(size: 77).root == naive.root(size: 77))
        #expect(await reader.requests.count == 4)
    }

    @Test func missingStoredNodeIsReportedByName() async throws {
        var table = perfectNodeTable(Array(leafHashes.prefix(16)))
        let removed = NodeID(level: 2, index: 2)
        table[removed] = nil
        let reader = RecordingNodeReader(table: table)
        await #expect(throws: EvidenceLogError.nodeIsMissing(removed)) {
            try await reader.inclusionProof(index: 0, size: 13)
        }
        await #expect(throws: EvidenceLogError.nodeIsMissing(removed)) {
            try await reader.root(size: 13)
        }
        #expect(throws: EvidenceLogError.nodeIsMissing(removed)) {
            try CompactRange(size: 13, nodes: table)
        }
        #expect(throws: EvidenceLogError.treeSizeIsNegative(-1)) {
            try root(size: -1, nodes: table)
        }
    }
}
