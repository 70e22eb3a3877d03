import EvidenceLog
import Foundation
import NIOCore
import Testing
import TuitionCore

@testable import TuitionAPI
@testable import TuitionStore

/// The hand-written wire forms of issue #15 against what they replace.
@Suite struct ProofWireTests {
    func randomHash(_ generator: inout some RandomNumberGenerator) throws -> LogHash {
        try LogHash(bytes: (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }

    func bytes(_ buffer: ByteBuffer) -> [UInt8] { Array(buffer.readableBytesView) }

    @Test func proofJSONIsTheBytesJSONEncoderMakes() throws {
        var generator = SystemRandomNumberGenerator()
        let edges: [Int64] = [0, 1, 9, 10, 999_999, 1_000_000, Int64.max]
        for count in [0, 1, 2, 20, 40] {
            for edge in edges {
                let proof = try (0..<count).map { _ in try randomHash(&generator) }
                let inclusion = InclusionProofRecord(
                    index: edge, treeSize: Int64.random(in: 1...Int64.max, using: &generator), leafHash: try randomHash(&generator),
                    proof: proof)
                #expect(bytes(ProofJSON.body(inclusion)) == [UInt8](try JSON.encoder.encode(inclusion)))
                let consistency = ConsistencyProofRecord(from: edge, to: Int64.random(in: 0...Int64.max, using: &generator), proof: proof)
                #expect(bytes(ProofJSON.body(consistency)) == [UInt8](try JSON.encoder.encode(consistency)))
            }
        }
    }

    @Test func base64IsFoundationsStandardPaddedForm() {
        for length in 0...70 {
            let data = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ length) }
            var buffer = ByteBuffer()
            Base64.write(data, to: &buffer)
            #expect(String(buffer: buffer) == Data(data).base64EncodedString(), "\(length) bytes")
        }
    }

    /// The middleware skips decoding text that `mayHoldForbidden` clears; that is sound only if no text holding, or
    /// percent-decoding to, a forbidden scalar is cleared.
    @Test func onlyTextThatCannotHoldAForbiddenScalarSkipsTheCheck() {
        let forbidden =
            (0...0x2100).compactMap(Unicode.Scalar.init).filter { !TextRule.singleLine.allows($0) }
            + [0x202A, 0x202E, 0x2066, 0x2069].compactMap(Unicode.Scalar.init)
        #expect(forbidden.count > 60)
        for scalar in forbidden {
            let raw = "/v1/log/a\(Character(scalar))b"
            #expect(InputBoundsMiddleware<AppRequestContext>.mayHoldForbidden(raw), "U+\(String(scalar.value, radix: 16))")
            let encoded = "/v1/log/a" + String(Character(scalar)).utf8.map { "%" + String($0, radix: 16, uppercase: true) }.joined()
            #expect(InputBoundsMiddleware<AppRequestContext>.mayHoldForbidden(encoded))
        }
        for plain in ["/v1/log/proofs/inclusion", "index", "1000000", "from", "a-b_c.d~e+f=g&h/i:j"] {
            #expect(!InputBoundsMiddleware<AppRequestContext>.mayHoldForbidden(plain))
        }
    }
}
