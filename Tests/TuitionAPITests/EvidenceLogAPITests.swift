import EvidenceLog
import Foundation
import Testing
import TuitionCore
import TuitionStore
import TuitionTestSupport

@Suite struct EvidenceLogAPITests {
    func decode<T: Decodable>(_ type: T.Type, _ reply: Reply) throws -> T {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try decoder.decode(T.self, from: Data(reply.body.utf8))
    }

    @Test func anyoneCanFetchAndCheckHeadsEntriesAndProofs() async throws {
        try await API.run("logapi") { api, _ in
            let sequencer = Sequencer(store: api.store, signer: testLogSigner, batchSize: 3)
            let cast = try await Cast.make(api)
            try await sequencer.drain()
            let older = try decode(SignedTreeHead.self, try await api.call(.get, "/v1/log/head"))
            _ = try await api.call(
                .post, "/v1/enrollments/\(cast.world.enrollment.id)/refunds", token: cast.institution, json: "{}", idempotencyKey: "r")
            try await sequencer.drain()
            let head = try decode(SignedTreeHead.self, try await api.call(.get, "/v1/log/head"))
            let key = try await api.call(.get, "/v1/log/public-key")
            let verifier = try LogVerifier(publicKeyPEM: key.body)
            #expect(verifier.verify(head) && verifier.verify(older) && head.head.size == older.head.size + 1)

            struct Page: Decodable {
                let entries: [LogEntryRecord]
                let next: Int64?
            }
            let page = try decode(Page.self, try await api.call(.get, "/v1/log/entries?start=0&count=2"))
            #expect(page.entries.map(\.index) == [0, 1] && page.next == 2)
            let refund = try decode(LogEntryRecord.self, try await api.call(.get, "/v1/log/entries/\(head.head.size - 1)"))
            #expect(refund.event?.kind == .refund && refund.event?.enrollmentId == cast.world.enrollment.id)
            let proof = try decode(
                InclusionProofRecord.self, try await api.call(.get, "/v1/log/proofs/inclusion?index=\(refund.index)&size=\(head.head.size)")
            )
            let leaf = MerkleHasher.leafHash([UInt8](Data(base64Encoded: refund.entry)!))
            #expect(
                verifyInclusion(leafHash: leaf, index: refund.index, size: head.head.size, proof: proof.proof, root: head.head.rootHash))
            let consistency = try decode(
                ConsistencyProofRecord.self,
                try await api.call(.get, "/v1/log/proofs/consistency?from=\(older.head.size)&to=\(head.head.size)"))
            #expect(
                verifyConsistency(
                    from: older.head.size, to: head.head.size, proof: consistency.proof, fromRoot: older.head.rootHash,
                    toRoot: head.head.rootHash))

            #expect(try await api.call(.get, "/v1/log/proofs/inclusion?index=\(head.head.size)").code == "beyond_tree")
            #expect(try await api.call(.get, "/v1/log/proofs/inclusion").code == "invalid_parameter")
            #expect(try await api.call(.get, "/v1/log/proofs/consistency?from=5&to=2").code == "beyond_tree")
            #expect(try await api.call(.get, "/v1/log/proofs/consistency?from=0&to=2").code == "invalid_parameter")
            #expect(try await api.call(.get, "/v1/log/entries/99999").status == .notFound)
        }
    }
}
