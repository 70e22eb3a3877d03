import EvidenceLog
import Foundation
import Testing

@Test func benchHashing() {
    var h = MerkleHasher.emptyRoot
    let start = Date()
    for _ in 0..<200_000 { h = MerkleHasher.nodeHash(h, h) }
    print("200k nodeHash: \(Date().timeIntervalSince(start))s \(h)")
    let leaves = sampleLeafHashes(300)
    let table = perfectNodeTable(leaves)
    let s2 = Date()
    var n = 0
    for size in 1...300 { for index in 0..<size { n += inclusionProofNodeIDs(index: Int64(index), size: Int64(size)).count } }
    print("ids: \(Date().timeIntervalSince(s2))s \(n)")
    let s3 = Date()
    for size in 1...300 { for index in 0..<size { let ids = inclusionProofNodeIDs(index: Int64(index), size: Int64(size)); _ = select(ids, from: table) } }
    print("ids+select: \(Date().timeIntervalSince(s3))s")
    let naive = NaiveMerkleTree(leafHashes: leaves)
    let s4 = Date()
    for size in 1...300 { for index in 0..<size { _ = naive.path(index, 0..<size) } }
    print("naive path: \(Date().timeIntervalSince(s4))s")
}
