import EvidenceLog
import Foundation
import Testing

@Suite struct CompactRangeTests {
    @Test func emptyRangeHasTheEmptyRoot() throws {
        #expect(CompactRange().root == MerkleHasher.emptyRoot)
        #expect(try CompactRange(size: 0, nodes: [:]) == CompactRange())
        var range = CompactRange()
        #expect(range.append(leafHashes: []).isEmpty)
        #expect(range.size == 0)
    }

    /// Appending in random batches creates exactly the perfect nodes a from-scratch build has, each once,
    /// and the root after every batch is the RFC root; resuming from the stored frontier changes nothing.
    @Test(arguments: [1, 2, 3, 42] as [UInt64])
    func appendingInRandomBatchesEqualsBuildingFromScratch(seed: UInt64) throws {
        let leafHashes = sampleLeafHashes(700)
        let fromScratch = perfectNodeTable(leafHashes)
        let naive = NaiveMerkleTree(leafHashes: leafHashes)
        var generator = SplitMix64(seed: seed)
        var range = CompactRange()
        var stored: [NodeID: LogHash] = [:]
        var appended = 0
        while appended < leafHashes.count {
            let count = min(Int.random(in: 0...40, using: &generator), leafHashes.count - appended)
            let created = range.append(leafHashes: Array(leafHashes[appended..<appended + count]))
            for (id, hash) in created {
                #expect(stored[id] == nil, "node \(id) created twice")
                stored[id] = hash
            }
            // O(k + log n): a batch of k leaves makes k leaves and fewer than k + log2(n) parents.
            #expect(created.count <= 2 * count + Int(log2(Double(max(appended, 1)))) + 1)
            #expect(created.filter { $0.0.level == 0 }.map { $0.0.index } == (appended..<appended + count).map { Int64($0) })
            appended += count
            #expect(range.size == Int64(appended))
            #expect(range.root == naive.root(size: appended), "size \(appended)")
            let resumed = try CompactRange(size: Int64(appended), nodes: stored)
            #expect(resumed == range)
            #expect(resumed.nodes == select(CompactRange.nodeIDs(size: Int64(appended)), from: stored))
        }
        #expect(stored == fromScratch)
    }

    @Test func nodesAreCreatedChildrenBeforeParents() {
        var range = CompactRange()
        let created = range.append(leafHashes: sampleLeafHashes(8))
        let order = created.map { "\($0.0)" }
        #expect(order == ["0/0", "0/1", "1/0", "0/2", "0/3", "1/1", "2/0", "0/4", "0/5", "1/2", "0/6", "0/7", "1/3", "2/1", "3/0"])
    }

    @Test func resumingNeedsEveryFrontierNode() {
        let table = perfectNodeTable(sampleLeafHashes(6))
        #expect(throws: EvidenceLogError.nodeIsMissing(NodeID(level: 1, index: 2))) {
            try CompactRange(size: 6, nodes: table.filter { $0.key != NodeID(level: 1, index: 2) })
        }
        #expect(throws: EvidenceLogError.treeSizeIsNegative(-3)) {
            try CompactRange(size: -3, nodes: table)
        }
    }
}
