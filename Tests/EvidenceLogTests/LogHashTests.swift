import EvidenceLog
import Foundation
import Testing

@Suite struct LogHashTests {
    private let sample = hash("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")

    @Test func hexAndBase64RoundTrip() throws {
        #expect(sample.hex == "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")
        #expect(sample.base64 == "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=")
        #expect(try LogHash(base64: sample.base64) == sample)
        #expect(try LogHash(hex: sample.hex.uppercased()) == sample)
        #expect(try LogHash(bytes: sample.bytes) == sample)
        #expect("\(sample)" == sample.hex)
    }

    @Test func malformedTextAndLengthsAreRefused() {
        #expect(throws: EvidenceLogError.hashIsNot32Bytes(byteCount: 31)) { try LogHash(bytes: [UInt8](repeating: 0, count: 31)) }
        #expect(throws: EvidenceLogError.hashIsNot32Bytes(byteCount: 0)) { try LogHash(bytes: [UInt8]()) }
        #expect(throws: EvidenceLogError.hexIsMalformed) { try LogHash(hex: String(sample.hex.dropLast())) }
        #expect(throws: EvidenceLogError.hexIsMalformed) { try LogHash(hex: "g" + sample.hex.dropFirst()) }
        #expect(throws: EvidenceLogError.base64IsMalformed) { try LogHash(base64: "not base64!") }
        #expect(throws: EvidenceLogError.hashIsNot32Bytes(byteCount: 3)) { try LogHash(base64: "AAAA") }
    }

    @Test func jsonFormIsABase64String() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .withoutEscapingSlashes
        let json = try encoder.encode([sample])
        #expect(String(decoding: json, as: UTF8.self) == #"["XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg="]"#)
        #expect(try JSONDecoder().decode([LogHash].self, from: json) == [sample])
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([LogHash].self, from: Data(#"["AAAA"]"#.utf8)) }
    }

    @Test func leafAndNodeHashesAreDomainSeparated() throws {
        // SHA-256(0x00) and SHA-256(0x01 || leaf || leaf): a leaf can never equal a node over the same bytes.
        let emptyLeaf = MerkleHasher.leafHash([UInt8]())
        #expect(emptyLeaf.hex == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
        let concatenated = emptyLeaf.bytes + emptyLeaf.bytes
        #expect(MerkleHasher.leafHash(concatenated) != MerkleHasher.nodeHash(emptyLeaf, emptyLeaf))
        #expect(MerkleHasher.leafHash(Data([0x10])) == MerkleHasher.leafHash([UInt8]([0x10])))
    }
}
