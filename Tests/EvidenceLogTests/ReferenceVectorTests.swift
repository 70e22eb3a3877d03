import EvidenceLog
import Testing

// Known-answer vectors shared by the Certificate Transparency implementations, copied verbatim:
//   - transparency-dev/merkle, testonly/constants.go (LeafInputs, NodeHashes, RootHashes, CompactTrees)
//   - transparency-dev/merkle, proof/verify_test.go (inclusionProofs, consistencyProofs, roots, leaves)
//   - google/certificate-transparency, cpp/merkletree/merkle_tree_test.cc (kInputs, kSHA256Roots,
//     kSHA256Paths, kSHA256Proofs — the same values; the {6, 7} consistency proof is only in the Go suite)
//   - transparency-dev/merkle, proof/proof_test.go (TestInclusion, TestConsistency: which node ids a proof reads)
// The suites number leaves from 1 in their proof tables ("leaf 6" is index 5); here indices are 0-based.

private let leafInputs: [[UInt8]] = [
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f",
].map { bytes(hex: $0) }

/// NodeHashes(): level, then index within the level.
private let referenceNodes: [[String]] = [
    [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
    ],
    [
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    ],
    [
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    ["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"],
]

/// RootHashes(): the root of the tree of the first `size` inputs, for size 0 through 8.
private let referenceRoots: [LogHash] = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
].map(hash)

/// CompactTrees(): the frontier for each size, as (level, index) into NodeHashes().
private let referenceFrontiers: [[(Int, Int)]] = [
    [], [(0, 0)], [(1, 0)], [(1, 0), (0, 2)], [(2, 0)], [(2, 0), (0, 4)], [(2, 0), (1, 2)],
    [(2, 0), (1, 2), (0, 6)], [(3, 0)],
]

struct InclusionVector: Sendable, CustomTestStringConvertible {
    let index: Int64
    let size: Int64
    let proof: [LogHash]
    var testDescription: String { "leaf \(index) of \(size)" }
}

/// inclusionProofs / kSHA256Paths (leaf numbers converted to 0-based indices).
private let inclusionVectors: [InclusionVector] = [
    InclusionVector(index: 0, size: 1, proof: []),
    InclusionVector(
        index: 0, size: 8,
        proof: [
            hash("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            hash("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            hash("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ]),
    InclusionVector(
        index: 5, size: 8,
        proof: [
            hash("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            hash("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            hash("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ]),
    InclusionVector(
        index: 2, size: 3,
        proof: [hash("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")]),
    InclusionVector(
        index: 1, size: 5,
        proof: [
            hash("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
            hash("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            hash("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ]),
]

struct ConsistencyVector: Sendable, CustomTestStringConvertible {
    let from: Int64
    let to: Int64
    let proof: [LogHash]
    var testDescription: String { "\(from) to \(to)" }
}

/// consistencyProofs / kSHA256Proofs.
private let consistencyVectors: [ConsistencyVector] = [
    ConsistencyVector(from: 1, to: 1, proof: []),
    ConsistencyVector(
        from: 1, to: 8,
        proof: [
            hash("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            hash("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            hash("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ]),
    ConsistencyVector(
        from: 6, to: 8,
        proof: [
            hash("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            hash("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            hash("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ]),
    ConsistencyVector(
        from: 2, to: 5,
        proof: [
            hash("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            hash("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ]),
    ConsistencyVector(
        from: 6, to: 7,
        proof: [
            hash("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            hash("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
            hash("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ]),
]

/// sha256SomeHash in verify_test.go: a 32-byte value that is no node of the reference tree.
private let someHash = hash("abacaba000000000000000000000000000000000000000000060061e00123456")
private let emptyTreeHash = hash("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")

private let referenceLeafHashes = leafInputs.map { MerkleHasher.leafHash($0) }
private let referenceTable = perfectNodeTable(referenceLeafHashes)

@Suite struct ReferenceVectorTests {
    @Test func emptyRootIsSHA256OfTheEmptyString() {
        #expect(MerkleHasher.emptyRoot == emptyTreeHash)
    }

    @Test func leafAndNodeHashesMatchTheReferenceTree() {
        for (level, row) in referenceNodes.enumerated() {
            for (index, expected) in row.enumerated() {
                #expect(referenceTable[NodeID(level: level, index: Int64(index))] == hash(expected), "node \(level)/\(index)")
            }
        }
        #expect(referenceTable.count == 15)
    }

    @Test func rootsOfSizesZeroThroughEightMatchTheReference() throws {
        for size in 0...8 {
            let ids = rootNodeIDs(size: Int64(size))
            let computed = try root(size: Int64(size), nodes: select(ids, from: referenceTable))
            #expect(computed == referenceRoots[size], "size \(size)")
        }
        #expect(referenceRoots[8].hex == "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")
    }

    @Test func compactRangeFrontiersAndRootsMatchTheReference() {
        var range = CompactRange()
        #expect(range.root == referenceRoots[0])
        for size in 1...8 {
            _ = range.append(leafHashes: [referenceLeafHashes[size - 1]])
            #expect(range.root == referenceRoots[size], "size \(size)")
            let expectedIDs = referenceFrontiers[size].map { NodeID(level: $0.0, index: Int64($0.1)) }
            #expect(CompactRange.nodeIDs(size: Int64(size)) == expectedIDs, "size \(size)")
            #expect(range.nodes == select(expectedIDs, from: referenceTable), "size \(size)")
        }
    }

    @Test(arguments: inclusionVectors)
    func inclusionProofMatchesTheReference(_ vector: InclusionVector) throws {
        let ids = inclusionProofNodeIDs(index: vector.index, size: vector.size)
        let proof = try inclusionProof(index: vector.index, size: vector.size, nodes: select(ids, from: referenceTable))
        #expect(proof == vector.proof)
        let leafHash = referenceLeafHashes[Int(vector.index)]
        let root = referenceRoots[Int(vector.size)]
        #expect(verifyInclusion(leafHash: leafHash, index: vector.index, size: vector.size, proof: vector.proof, root: root))
        for probe in corruptedInclusionProbes(vector, leafHash: leafHash, root: root) {
            #expect(
                !verifyInclusion(leafHash: probe.leafHash, index: probe.index, size: probe.size, proof: probe.proof, root: probe.root),
                "accepted: \(probe.name)")
        }
    }

    @Test(arguments: consistencyVectors)
    func consistencyProofMatchesTheReference(_ vector: ConsistencyVector) throws {
        let ids = consistencyProofNodeIDs(from: vector.from, to: vector.to)
        let proof = try consistencyProof(from: vector.from, to: vector.to, nodes: select(ids, from: referenceTable))
        #expect(proof == vector.proof)
        let fromRoot = referenceRoots[Int(vector.from)]
        let toRoot = referenceRoots[Int(vector.to)]
        #expect(verifyConsistency(from: vector.from, to: vector.to, proof: vector.proof, fromRoot: fromRoot, toRoot: toRoot))
        // As in the reference suites, only non-trivial proofs are corrupted.
        guard !vector.proof.isEmpty else { return }
        for probe in corruptedConsistencyProbes(vector, fromRoot: fromRoot, toRoot: toRoot) {
            #expect(
                !verifyConsistency(from: probe.from, to: probe.to, proof: probe.proof, fromRoot: probe.fromRoot, toRoot: probe.toRoot),
                "accepted: \(probe.name)")
        }
    }

    /// proof_test.go TestInclusion: the stored nodes each proof reads (the reference lists a rehashed
    /// range lowest piece first; here pieces come largest first, so the ids are compared as sets).
    @Test func inclusionProofReadsTheReferenceNodes() {
        let cases: [(index: Int64, size: Int64, ids: [(Int, Int64)])] = [
            (0, 1, []), (0, 2, [(0, 1)]), (1, 2, [(0, 0)]), (1, 3, [(0, 0), (0, 2)]),
            (0, 7, [(0, 1), (1, 1), (0, 6), (1, 2)]), (1, 7, [(0, 0), (1, 1), (0, 6), (1, 2)]),
            (2, 7, [(0, 3), (1, 0), (0, 6), (1, 2)]), (3, 7, [(0, 2), (1, 0), (0, 6), (1, 2)]),
            (4, 7, [(0, 5), (0, 6), (2, 0)]), (5, 7, [(0, 4), (0, 6), (2, 0)]), (6, 7, [(1, 2), (2, 0)]),
            (2, 4, [(0, 3), (1, 0)]), (3, 5, [(0, 2), (1, 0), (0, 4)]), (3, 6, [(0, 2), (1, 0), (1, 2)]),
            (4, 6, [(0, 5), (2, 0)]),
            (10, 15, [(0, 11), (1, 4), (0, 14), (1, 6), (3, 0)]),
            (24, 31, [(0, 25), (1, 13), (0, 30), (1, 14), (3, 2), (4, 0)]),
            (81, 95, [(0, 80), (1, 41), (2, 21), (0, 94), (1, 46), (2, 22), (4, 4), (6, 0)]),
        ]
        for testCase in cases {
            let ids = inclusionProofNodeIDs(index: testCase.index, size: testCase.size)
            let expected = testCase.ids.map { NodeID(level: $0.0, index: $0.1) }
            #expect(Set(ids) == Set(expected) && ids.count == expected.count, "leaf \(testCase.index) of \(testCase.size)")
        }
        for (index, size) in [(0, 0), (1, 0), (2, 1), (3, 0), (8, 7)] as [(Int64, Int64)] {
            #expect(inclusionProofNodeIDs(index: index, size: size).isEmpty)
            #expect(throws: EvidenceLogError.leafIndexIsOutsideTree(index: index, size: size)) {
                try inclusionProof(index: index, size: size, nodes: referenceTable)
            }
        }
    }

    /// proof_test.go TestConsistency.
    @Test func consistencyProofReadsTheReferenceNodes() {
        let cases: [(from: Int64, to: Int64, ids: [(Int, Int64)])] = [
            (1, 2, [(0, 1)]), (1, 4, [(0, 1), (1, 1)]), (1, 6, [(0, 1), (1, 1), (1, 2)]), (2, 3, [(0, 2)]),
            (2, 8, [(1, 1), (2, 1)]), (3, 7, [(0, 2), (0, 3), (1, 0), (0, 6), (1, 2)]), (4, 7, [(0, 6), (1, 2)]),
            (5, 7, [(0, 4), (0, 5), (0, 6), (2, 0)]), (6, 7, [(1, 2), (0, 6), (2, 0)]),
            (7, 8, [(0, 6), (0, 7), (1, 2), (2, 0)]),
            (1, 1, []), (2, 2, []), (3, 3, []), (4, 4, []), (5, 5, []), (7, 7, []), (8, 8, []),
            (2, 4, [(1, 1)]), (3, 5, [(0, 2), (0, 3), (1, 0), (0, 4)]), (3, 6, [(0, 2), (0, 3), (1, 0), (1, 2)]),
            (4, 6, [(1, 2)]), (1, 7, [(0, 1), (1, 1), (0, 6), (1, 2)]),
            (10, 15, [(1, 4), (1, 5), (0, 14), (1, 6), (3, 0)]),
            (24, 31, [(3, 2), (0, 30), (1, 14), (2, 6), (4, 0)]),
            (81, 95, [(0, 80), (0, 81), (1, 41), (2, 21), (0, 94), (1, 46), (2, 22), (4, 4), (6, 0)]),
        ]
        for testCase in cases {
            let ids = consistencyProofNodeIDs(from: testCase.from, to: testCase.to)
            let expected = testCase.ids.map { NodeID(level: $0.0, index: $0.1) }
            #expect(Set(ids) == Set(expected) && ids.count == expected.count, "\(testCase.from) to \(testCase.to)")
        }
        #expect(throws: EvidenceLogError.consistencySizesAreReversed(from: 9, to: 8)) {
            try consistencyProof(from: 9, to: 8, nodes: referenceTable)
        }
        #expect(throws: EvidenceLogError.consistencySizesAreReversed(from: 5, to: 0)) {
            try consistencyProof(from: 5, to: 0, nodes: referenceTable)
        }
        #expect(throws: EvidenceLogError.consistencyFromEmptyTreeIsMeaningless) {
            try consistencyProof(from: 0, to: 3, nodes: referenceTable)
        }
    }

    /// verify_test.go TestVerifyInclusion: sizes and indices that admit no proof.
    @Test func inclusionVerifierRefusesLeavesOutsideTheTree() {
        for (index, size) in [(0, 0), (0, 1), (1, 0), (2, 1)] as [(Int64, Int64)] {
            #expect(!verifyInclusion(leafHash: someHash, index: index, size: size, proof: [], root: emptyTreeHash))
            #expect(!verifyInclusion(leafHash: emptyTreeHash, index: index, size: size, proof: [], root: someHash))
        }
        #expect(!verifyInclusion(leafHash: someHash, index: -1, size: 4, proof: [], root: someHash))
    }

    /// verify_test.go TestVerifyInclusionSingleEntry: a one-leaf tree's root is its leaf hash, the proof is empty.
    @Test func singleEntryTreeProvesInclusionWithAnEmptyProof() {
        let leaf = MerkleHasher.leafHash(Array("data".utf8))
        #expect(verifyInclusion(leafHash: leaf, index: 0, size: 1, proof: [], root: leaf))
        #expect(!verifyInclusion(leafHash: leaf, index: 0, size: 1, proof: [], root: someHash))
        #expect(!verifyInclusion(leafHash: someHash, index: 0, size: 1, proof: [], root: leaf))
    }

    /// verify_test.go TestVerifyConsistency, with the current transparency-dev/merkle rule that a tree of
    /// size 0 has no consistency proof (RFC 9162 §2.1.4 defines them for 0 < first).
    @Test func consistencyVerifierEdgeCases() {
        let root1 = MerkleHasher.leafHash(Array("don't care 1".utf8))
        let root2 = MerkleHasher.leafHash(Array("don't care 2".utf8))
        let cases: [(from: Int64, to: Int64, fromRoot: LogHash, toRoot: LogHash, proof: [LogHash], holds: Bool)] = [
            (1, 1, root1, root2, [], false),  // equal sizes, different roots
            (1, 1, root2, root2, [], true),  // equal sizes, equal roots, empty proof
            (5, 5, root1, root1, [], true),
            (1, 0, root1, root2, [], false),  // time travel to the past
            (2, 1, root1, root2, [], false),
            (1, 2, root1, root2, [], false),  // empty proof between different sizes
            (1, 1, emptyTreeHash, root2, [], false),  // roots don't match
            (1, 1, emptyTreeHash, emptyTreeHash, [emptyTreeHash], false),  // equal roots but a proof
            (0, 0, root1, root1, [], false),  // the empty tree has no consistency proof
            (0, 1, root1, root2, [], false),
            (0, 0, emptyTreeHash, emptyTreeHash, [emptyTreeHash], false),
            (0, 1, emptyTreeHash, emptyTreeHash, [emptyTreeHash], false),
            (-1, 3, root1, root2, [root1], false),
        ]
        for testCase in cases {
            let holds = verifyConsistency(
                from: testCase.from, to: testCase.to, proof: testCase.proof, fromRoot: testCase.fromRoot, toRoot: testCase.toRoot)
            #expect(holds == testCase.holds, "\(testCase.from) to \(testCase.to)")
        }
    }
}

private struct InclusionProbe {
    let name: String
    var index: Int64
    var size: Int64
    var leafHash: LogHash
    var proof: [LogHash]
    var root: LogHash
}

/// corruptInclusionProof in verify_test.go. Its "garbage" probes add a zero-length hash, which a
/// `LogHash` cannot hold; a proof element is always 32 bytes here.
private func corruptedInclusionProbes(_ vector: InclusionVector, leafHash: LogHash, root: LogHash) -> [InclusionProbe] {
    let good = InclusionProbe(name: "", index: vector.index, size: vector.size, leafHash: leafHash, proof: vector.proof, root: root)
    func probe(_ name: String, _ change: (inout InclusionProbe) -> Void) -> InclusionProbe {
        var probe = InclusionProbe(
            name: name, index: good.index, size: good.size, leafHash: good.leafHash, proof: good.proof, root: good.root)
        change(&probe)
        return probe
    }
    var probes = [
        probe("index - 1") { $0.index -= 1 },
        probe("index + 1") { $0.index += 1 },
        probe("index ^ 2") { $0.index ^= 2 },
        probe("size * 2") { $0.size *= 2 },
        probe("size / 2") { $0.size /= 2 },
        probe("wrong leaf") { $0.leafHash = MerkleHasher.leafHash(Array("WrongLeaf".utf8)) },
        probe("empty root") { $0.root = emptyTreeHash },
        probe("random root") { $0.root = someHash },
        probe("trailing root") { $0.proof.append(root) },
        probe("preceding root") { $0.proof.insert(root, at: 0) },
    ]
    for position in vector.proof.indices {
        probes.append(probe("modified proof[\(position)] bit 3") { $0.proof[position] = flipping($0.proof[position], byte: 0, mask: 8) })
    }
    if !vector.proof.isEmpty {
        probes.append(probe("removed component") { $0.proof.removeLast() })
    }
    if vector.proof.count > 1 {
        probes.append(probe("inserted component") { $0.proof.insert(someHash, at: 1) })
    }
    return probes
}

private struct ConsistencyProbe {
    let name: String
    var from: Int64
    var to: Int64
    var fromRoot: LogHash
    var toRoot: LogHash
    var proof: [LogHash]
}

/// corruptConsistencyProof in verify_test.go.
private func corruptedConsistencyProbes(_ vector: ConsistencyVector, fromRoot: LogHash, toRoot: LogHash) -> [ConsistencyProbe] {
    func probe(_ name: String, _ change: (inout ConsistencyProbe) -> Void) -> ConsistencyProbe {
        var probe = ConsistencyProbe(name: name, from: vector.from, to: vector.to, fromRoot: fromRoot, toRoot: toRoot, proof: vector.proof)
        change(&probe)
        return probe
    }
    let wrongRoot = MerkleHasher.leafHash(Array("WrongRoot".utf8))
    var probes = [
        probe("from - 1") { $0.from -= 1 },
        probe("from + 1") { $0.from += 1 },
        probe("from ^ 2") { $0.from ^= 2 },
        probe("to * 2") { $0.to *= 2 },
        probe("to / 2") { $0.to /= 2 },
        probe("wrong from root") { $0.fromRoot = wrongRoot },
        probe("wrong to root") { $0.toRoot = wrongRoot },
        probe("swapped roots") { swap(&$0.fromRoot, &$0.toRoot) },
        probe("empty proof") { $0.proof = [] },
        probe("trailing from root") { $0.proof.append(fromRoot) },
        probe("trailing to root") { $0.proof.append(toRoot) },
        probe("preceding from root") { $0.proof.insert(fromRoot, at: 0) },
        probe("preceding to root") { $0.proof.insert(toRoot, at: 0) },
        probe("preceding proof[0]") { $0.proof.insert(vector.proof[0], at: 0) },
        probe("truncated proof") { $0.proof.removeLast() },
    ]
    for position in vector.proof.indices {
        probes.append(probe("modified proof[\(position)] bit 4") { $0.proof[position] = flipping($0.proof[position], byte: 0, mask: 16) })
    }
    return probes
}
