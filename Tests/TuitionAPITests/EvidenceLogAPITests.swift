import EvidenceLog
import Foundation
import Testing
import TuitionAPI
import TuitionCore
import TuitionStore
import TuitionTestSupport

@Suite struct EvidenceLogAPITests {
    func decode<T: Decodable>(_ type: T.Type, _ reply: Reply) throws -> T {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try decoder.decode(T.self, from: Data(reply.body.utf8))
    }

    /// `serve`'s `log_cache` service, here at a fast pace beside the sequencer, follows the heads it signs.
    @Test func theLogCacheServiceFollowsTheSignedHeads() async throws {
        let cache = LogNodeCache(capacity: 1_000, verifier: testLogSigner.verifier)
        let fast = BackgroundSchedule.Pace(interval: .milliseconds(20), batchDeadline: .seconds(5))
        let running: @Sendable (inout AppConfiguration, inout AppDependencies) -> Void = { _, dependencies in
            dependencies.logCache = cache
            dependencies.schedule = BackgroundSchedule(sequencer: fast, logCache: fast)
        }
        try await API.run("logcacheservice", configure: running) { api, _ in
            _ = try await Cast.make(api)
            let log = EvidenceLogRepository(store: api.store)
            let deadline = ContinuousClock.now + .seconds(60)
            var (signed, queued): (Int64, Int) = (0, 1)
            while ContinuousClock.now < deadline {
                signed = try await log.latestHead()?.head.size ?? 0
                for try await count in try await api.store.query("SELECT count(*)::int FROM evidence_queue").decode(Int.self) {
                    queued = count
                }
                if signed > 0, queued == 0, cache.size == signed { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(signed > 0 && queued == 0 && cache.size == signed, "signed \(signed), queued \(queued), cached \(cache.size)")
        }
    }

    /// With the log cache following the heads (as `serve`'s `log_cache` service keeps it) and without it.
    @Test(arguments: [false, true]) func anyoneCanFetchAndCheckHeadsEntriesAndProofs(cached: Bool) async throws {
        let cache = LogNodeCache(capacity: 1_000, verifier: testLogSigner.verifier)
        let useCache: @Sendable (inout AppConfiguration, inout AppDependencies) -> Void = { _, dependencies in dependencies.logCache = cache
        }
        try await API.run("logapi\(cached ? "cached" : "")", configure: useCache) { api, _ in
            let sequencer = Sequencer(store: api.store, signer: testLogSigner, batchSize: 3)
            let cast = try await Cast.make(api)
            try await sequencer.drain()
            if cached { try await cache.refresh(from: api.store) }
            let older = try decode(SignedTreeHead.self, try await api.call(.get, "/v1/log/head"))
            _ = try await api.call(
                .post, "/v1/enrollments/\(cast.world.enrollment.id)/refunds", token: cast.institution, json: "{}", idempotencyKey: "r")
            try await sequencer.drain()
            if cached { #expect(try await cache.refresh(from: api.store) > 0) }
            let head = try decode(SignedTreeHead.self, try await api.call(.get, "/v1/log/head"))
            let metrics = try await api.call(.get, "/metrics", token: API.metricsToken).body
            #expect(metrics.contains("tuitionguard_log_cache_tree_size \(cached ? head.head.size : 0).0\n"), "\(metrics)")
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
            // Sizes beyond the signed tree, up to the largest there is, are refused the same way.
            #expect(try await api.call(.get, "/v1/log/proofs/inclusion?index=0&size=9223372036854775807").code == "beyond_tree")
            #expect(try await api.call(.get, "/v1/log/proofs/consistency?from=1&to=9223372036854775807").code == "beyond_tree")
            #expect(try await api.call(.get, "/v1/log/proofs/inclusion").code == "invalid_parameter")
            #expect(try await api.call(.get, "/v1/log/proofs/consistency?from=5&to=2").code == "invalid_parameter")
            #expect(try await api.call(.get, "/v1/log/proofs/consistency?from=9223372036854775807&to=2").code == "invalid_parameter")
            #expect(try await api.call(.get, "/v1/log/proofs/consistency?from=0&to=2").code == "invalid_parameter")
            #expect(try await api.call(.get, "/v1/log/entries/99999").status == .notFound)
            #expect(try await api.call(.get, "/v1/log/entries/+1").status == .notFound)
            #expect(try await api.call(.get, "/v1/log/proofs/inclusion?index=0&size=0").code == "invalid_parameter")
            #expect(try await api.call(.get, "/v1/log/proofs/inclusion?index=+0").code == "invalid_parameter")

            // The older head is served again by its size, signed as it was; a size no head was signed at is not found;
            // timestamps do not go back as the tree grows.
            let again = try decode(SignedTreeHead.self, try await api.call(.get, "/v1/log/head?size=\(older.head.size)"))
            #expect(again == older && verifier.verify(again))
            #expect(try await api.call(.get, "/v1/log/head?size=\(head.head.size + 1000)").status == .notFound)
            #expect(try await api.call(.get, "/v1/log/head?size=x").code == "invalid_parameter")
            #expect(head.head.timestampMilliseconds >= older.head.timestampMilliseconds)
        }
    }

    /// Finding 8: a client auditing the head it holds never gets entries past it, and `next` is null at its end.
    @Test func entriesStopAtTheHeadTheClientHolds() async throws {
        try await API.run("logend") { api, _ in
            let sequencer = Sequencer(store: api.store, signer: testLogSigner, batchSize: 100)
            let cast = try await Cast.make(api)
            try await sequencer.drain()
            let held = try decode(SignedTreeHead.self, try await api.call(.get, "/v1/log/head"))
            // The log grows after the client fetched its head.
            _ = try await api.call(
                .post, "/v1/enrollments/\(cast.world.enrollment.id)/refunds", token: cast.institution, json: "{}", idempotencyKey: "grow")
            try await sequencer.drain()
            let latest = try decode(SignedTreeHead.self, try await api.call(.get, "/v1/log/head"))
            #expect(latest.head.size > held.head.size)

            struct Page: Decodable {
                let entries: [LogEntryRecord]
                let next: Int64?
            }
            let bounded = try decode(Page.self, try await api.call(.get, "/v1/log/entries?start=0&count=1000&end=\(held.head.size)"))
            #expect(bounded.entries.count == Int(held.head.size) && bounded.next == nil)
            #expect(bounded.entries.last?.index == held.head.size - 1)
            let paged = try decode(Page.self, try await api.call(.get, "/v1/log/entries?start=0&count=1&end=\(held.head.size)"))
            #expect(paged.entries.count == 1 && paged.next == 1)
            let unbounded = try decode(Page.self, try await api.call(.get, "/v1/log/entries?start=0&count=1000"))
            #expect(unbounded.entries.count == Int(latest.head.size) && unbounded.next == nil)
            // An end beyond the latest signed head is cut to it.
            let beyond = try decode(Page.self, try await api.call(.get, "/v1/log/entries?start=0&count=1000&end=999999"))
            #expect(beyond.entries.count == Int(latest.head.size) && beyond.next == nil)
            #expect(try await api.call(.get, "/v1/log/entries?end=-1").code == "invalid_parameter")
        }
    }
}
