import EvidenceLog
import Foundation
import Testing

// What an auditor relies on: a changed entry, a changed stored node or a changed tree head is caught.

@Suite struct TamperingTests {
    private let entries = (0..<21).map { Array("receipt \($0): 1200 fen to institution 7".utf8) }

    @Test func tamperedEntryFailsItsInclusionProof() throws {
        let leafHashes = entries.map { MerkleHasher.leafHash($0) }
        let table = perfectNodeTable(leafHashes)
        let size = Int64(entries.count)
        let signedRoot = try root(size: size, nodes: table)
        for index in entries.indices {
            let proof = try inclusionProof(index: Int64(index), size: size, nodes: table)
            #expect(verifyInclusion(leafHash: leafHashes[index], index: Int64(index), size: size, proof: proof, root: signedRoot))
            let forged = Array(String(decoding: entries[index], as: UTF8.self).replacingOccurrences(of: "1200 fen", with: "9200 fen").utf8)
            #expect(forged != entries[index])
            #expect(
                !verifyInclusion(leafHash: MerkleHasher.leafHash(forged), index: Int64(index), size: size, proof: proof, root: signedRoot))
        }
    }

    /// A node altered in storage either changes the root or breaks every proof that reads it.
    @Test func tamperedStoredNodeIsCaught() throws {
        let leafHashes = entries.map { MerkleHasher.leafHash($0) }
        let honest = perfectNodeTable(leafHashes)
        let size = Int64(entries.count)
        let signedRoot = try root(size: size, nodes: honest)
        for (target, value) in honest {
            var tampered = honest
            tampered[target] = flipping(value, byte: 7)
            if rootNodeIDs(size: size).contains(target) {
                #expect(try root(size: size, nodes: tampered) != signedRoot, "root read \(target)")
            }
            for index in 0..<size {
                guard inclusionProofNodeIDs(index: index, size: size).contains(target) else { continue }
                let proof = try inclusionProof(index: index, size: size, nodes: tampered)
                #expect(!verifyInclusion(leafHash: leafHashes[Int(index)], index: index, size: size, proof: proof, root: signedRoot))
            }
            for from in 1..<size {
                guard consistencyProofNodeIDs(from: from, to: size).contains(target) else { continue }
                let proof = try consistencyProof(from: from, to: size, nodes: tampered)
                let fromRoot = try root(size: from, nodes: honest)
                #expect(
                    !verifyConsistency(from: from, to: size, proof: proof, fromRoot: fromRoot, toRoot: signedRoot), "\(from) via \(target)")
            }
        }
    }

    /// A log that rewrites an old entry cannot prove its new tree consistent with the head it signed before.
    @Test func rewrittenHistoryFailsConsistency() throws {
        let leafHashes = entries.map { MerkleHasher.leafHash($0) }
        var rewritten = leafHashes
        rewritten[4] = MerkleHasher.leafHash(Array("receipt 4: nothing happened".utf8))
        let honest = perfectNodeTable(leafHashes)
        let forged = perfectNodeTable(rewritten)
        let size = Int64(entries.count)
        for from in Int64(5)..<size {
            let oldRoot = try root(size: from, nodes: honest)
            let proof = try consistencyProof(from: from, to: size, nodes: forged)
            #expect(!verifyConsistency(from: from, to: size, proof: proof, fromRoot: oldRoot, toRoot: try root(size: size, nodes: forged)))
        }
    }
}
