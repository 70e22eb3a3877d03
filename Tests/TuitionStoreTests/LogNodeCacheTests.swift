import EvidenceLog
import Foundation
import PostgresNIO
import Testing
import TuitionTestSupport

@testable import TuitionStore

@Suite struct LogNodeCacheTests {
    let signer = LogSigner()

    /// Queues `count` entries and sequences them in batches of `batch`, so heads are signed every `batch` entries.
    func append(_ count: Int, batch: Int, to store: Store) async throws {
        try await store.transaction { connection in
            try await connection.query(
                """
                INSERT INTO evidence_queue (entry, queued_at)
                SELECT convert_to('entry ' || n || ' ' || gen_random_uuid(), 'UTF8'), now() FROM generate_series(1, \(count)) AS n
                """, logger: store.logger)
        }
        try await Sequencer(store: store, signer: signer, batchSize: batch).drain()
    }

    func queries(_ proof: () async throws -> Void) async throws -> Int {
        let counter = RoundTripCounter()
        try await RoundTripCounter.$current.withValue(counter) { try await proof() }
        return counter.value
    }

    /// Every proof the cache answers is the one the database path answers, for every tree size up to the held one
    /// (signed or not), and it reads no database; a tree beyond the held one reads the database as before.
    func expectSameProofs(upTo size: Int64, cached: EvidenceLogRepository, store: Store) async throws {
        let database = EvidenceLogRepository(store: store)
        for to in 1...size {
            for index in 0..<to {
                let fromCache = try await cached.inclusionProof(index: index, size: to)
                #expect(try await queries { _ = try await cached.inclusionProof(index: index, size: to) } == 0)
                let fromDatabase = try await database.inclusionProof(index: index, size: to)
                #expect(fromCache.proof == fromDatabase.proof && fromCache.leafHash == fromDatabase.leafHash, "\(index) in \(to)")
            }
            for from in 1...to {
                let fromCache = try await cached.consistencyProof(from: from, to: to)
                #expect(try await queries { _ = try await cached.consistencyProof(from: from, to: to) } == 0)
                #expect(fromCache.proof == (try await database.consistencyProof(from: from, to: to)).proof, "\(from) to \(to)")
            }
        }
    }

    @Test func theCacheFollowsTheSignedHeadsAndAnswersEveryProofAsTheDatabaseDoes() async throws {
        try await TestDatabase.withStore("logcache") { store in
            // Rows of at most 4 nodes: the levels arrive in runs, as a large log's do in runs of a million.
            let cache = LogNodeCache(capacity: 1_000, verifier: signer.verifier, nodesPerRow: 4)
            let log = EvidenceLogRepository(store: store, cache: cache)
            #expect(try await cache.refresh(from: store) == 0)
            try await append(37, batch: 5, to: store)
            #expect(try await cache.refresh(from: store) == 37)
            try await expectSameProofs(upTo: 37, cached: log, store: store)
            // Growing: the next heads add nodes on every level, up to a new top level.
            try await append(29, batch: 7, to: store)
            #expect(try await queries { _ = try await log.inclusionProof(index: 40, size: 66) } == 1)
            #expect(try await cache.refresh(from: store) == 66)
            try await expectSameProofs(upTo: 66, cached: log, store: store)
        }
    }

    @Test func theCacheHoldsTheLargestSignedTreeWithinItsCapacity() async throws {
        try await TestDatabase.withStore("logcachecap") { store in
            try await append(15, batch: 5, to: store)
            let cache = LogNodeCache(capacity: 12, verifier: signer.verifier)
            #expect(try await cache.refresh(from: store) == 10)
            let log = EvidenceLogRepository(store: store, cache: cache)
            #expect(try await queries { _ = try await log.inclusionProof(index: 3, size: 10) } == 0)
            #expect(try await queries { _ = try await log.inclusionProof(index: 3, size: 11) } == 1)
            #expect(
                try await log.inclusionProof(index: 12, size: 15).proof
                    == (try await EvidenceLogRepository(store: store).inclusionProof(index: 12, size: 15)).proof)
        }
    }

    /// Rewritten nodes (behind the append-only trigger, as the database's owner could) or another key's head are not
    /// taken: the cache stays where it was, and proofs read the database, which refuses them as before.
    @Test func theCacheTakesOnlyNodesThatLeadToTheLogsSignedRoot() async throws {
        try await TestDatabase.withStore("logcachetamper") { store in
            try await append(12, batch: 4, to: store)
            let cache = LogNodeCache(capacity: 1_000, verifier: signer.verifier)
            #expect(try await cache.refresh(from: store) == 12)
            try await append(8, batch: 4, to: store)
            for (level, index) in [(0, 13), (1, 7), (2, 4), (0, 19)] {
                let rewrite = "UPDATE log_nodes SET hash = sha256(hash) WHERE level = \(level) AND index = \(index)"
                try await bypassingAppendOnly(store, table: "log_nodes", rewrite)
                #expect(try await cache.refresh(from: store) == 12, "level \(level) index \(index)")
                try await bypassingAppendOnly(store, table: "log_nodes", rewrite.replacingOccurrences(of: "sha256(hash)", with: "hash"))
            }
            let leafThirteen = "UPDATE log_nodes SET hash = sha256(hash) WHERE level = 0 AND index = 13"
            try await bypassingAppendOnly(store, table: "log_nodes", leafThirteen)
            let log = EvidenceLogRepository(store: store, cache: cache)
            #expect(try await cache.refresh(from: store) == 12)
            await #expect(throws: LogIntegrityError.self) { _ = try await log.inclusionProof(index: 13, size: 20) }
            // What it held stays served: those nodes were checked against the head signed at 12.
            #expect(try await queries { _ = try await log.inclusionProof(index: 5, size: 12) } == 0)

            let stranger = LogNodeCache(capacity: 1_000, verifier: LogSigner().verifier)
            #expect(try await stranger.refresh(from: store) == 0)
        }
    }

    /// The database's log rewritten to another root at the size held, or rolled back below it, is reported once (as
    /// critical); the cache keeps serving the signed tree it held.
    @Test func aLogRewrittenOrRolledBackUnderTheCacheIsReportedAndTheHeldTreeStaysServed() async throws {
        try await TestDatabase.withStore("logcacherollback") { store in
            try await append(12, batch: 4, to: store)
            let cache = LogNodeCache(capacity: 1_000, verifier: signer.verifier)
            #expect(try await cache.refresh(from: store) == 12)
            #expect(try await cache.refresh(from: store) == 12 && cache.lastRefusal == nil)
            let rewrite = "UPDATE tree_heads SET root_hash = sha256(root_hash) WHERE size = 12"
            try await bypassingAppendOnly(store, table: "tree_heads", rewrite)
            #expect(try await cache.refresh(from: store) == 12)
            #expect(cache.lastRefusal?.0 == .forked && cache.lastRefusal?.1 == 12)
            try await bypassingAppendOnly(store, table: "tree_heads", "DELETE FROM tree_heads WHERE size = 12")
            #expect(try await cache.refresh(from: store) == 12)
            #expect(cache.lastRefusal?.0 == .rolledBack && cache.lastRefusal?.1 == 12)
            let log = EvidenceLogRepository(store: store, cache: cache)
            #expect(try await queries { _ = try await log.inclusionProof(index: 11, size: 12) } == 0)
        }
    }
}
