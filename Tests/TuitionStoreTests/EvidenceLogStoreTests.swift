import EvidenceLog
import Foundation
import PostgresNIO
import Testing
import TuitionCore
import TuitionStore
import TuitionTestSupport

/// Runs `statement` as someone with the database's owner rights would: with `table`'s append-only trigger
/// (`<table>_append_only`) off for it, and on again in the same transaction. For the log's tamper tests.
func bypassingAppendOnly(_ store: Store, table: String, _ statement: String) async throws {
    try await store.transaction { connection in
        try await connection.query(
            PostgresQuery(unsafeSQL: "ALTER TABLE \(table) DISABLE TRIGGER \(table)_append_only"), logger: store.logger)
        try await connection.query(PostgresQuery(unsafeSQL: statement), logger: store.logger)
        try await connection.query(
            PostgresQuery(unsafeSQL: "ALTER TABLE \(table) ENABLE TRIGGER \(table)_append_only"), logger: store.logger)
    }
}

@Suite struct EvidenceLogStoreTests {
    let signer = LogSigner()

    /// Someone with the database's owner rights bypasses the trigger and rewrites the stored leaf hash of entry 2.
    func rewriteLeafTwo(_ store: Store) async throws {
        try await bypassingAppendOnly(store, table: "log_nodes", "UPDATE log_nodes SET hash = sha256(hash) WHERE level = 0 AND index = 2")
    }

    /// Six entries (three worlds, two events each) under heads signed at sizes 3 and 6.
    func logSignedAtThreeAndSix(_ store: Store, district: String) async throws -> EvidenceLogRepository {
        for index in 0..<3 { _ = try await World.make(store, district: "\(district)\(index)") }
        try await Sequencer(store: store, signer: signer, batchSize: 3).drain()
        return EvidenceLogRepository(store: store)
    }

    func queued(_ store: Store) async throws -> Int {
        for try await count in try await store.query("SELECT count(*)::int FROM evidence_queue").decode(Int.self) { return count }
        return 0
    }

    @Test func everyKeyEventIsQueuedWithItsChangeAndOnlyWithIt() async throws {
        try await TestDatabase.withStore("logqueue") { store in
            let world = try await World.make(store, lessons: 10)
            #expect(try await queued(store) == 2)  // institution registered, contract signed
            struct Abort: Error {}
            let enrollments = EnrollmentRepository(store: store)
            // A payment whose transaction fails leaves neither money moved nor an event.
            await #expect(throws: Abort.self) {
                try await store.transaction { connection in
                    _ = try await enrollments.pay(world.enrollment.id, guardian: world.guardian, amount: Money(fen: 80_000), on: connection)
                    throw Abort()
                }
            }
            #expect(try await queued(store) == 2)
            _ = try await store.transaction {
                try await enrollments.pay(world.enrollment.id, guardian: world.guardian, amount: Money(fen: 80_000), on: $0)
            }
            _ = try await store.transaction {
                try await enrollments.recordLessons(
                    world.enrollment.id, institution: world.institution.id, lessons: 2, takenOn: BusinessDate(shanghaiDateOf: Date()),
                    on: $0)
            }
            _ = try await store.transaction {
                try await enrollments.refund(world.enrollment.id, institution: world.institution.id, lessons: 1, reason: "", on: $0)
            }
            try await PartyRepository(store: store).setInstitutionStatus(world.institution.id, status: .warned)
            #expect(try await queued(store) == 6)
            try await Sequencer(store: store, signer: signer).drain()
            let entries = try await EvidenceLogRepository(store: store).entries(from: 0, count: 10)
            #expect(
                entries.compactMap(\.event?.kind) == [
                    .institutionRegistered, .contractSigned, .payment, .lessonsConsumed, .refund, .institutionStatusChanged,
                ])
            let signed = try #require(entries[1].event)
            #expect(
                signed.enrollmentId == world.enrollment.id
                    && signed.reference == "contract:\(world.contract.id):\(world.contract.documentSha256)")
            let payment = try #require(entries[2].event)
            #expect(payment.enrollmentId == world.enrollment.id && payment.amountFen == Money(fen: 80_000))
            // The public log names no person.
            for entry in entries {
                #expect(
                    !entry.entry.isEmpty
                        && !String(decoding: Data(base64Encoded: entry.entry)!, as: UTF8.self).contains(world.guardian.description))
            }
        }
    }

    @Test func sequencedEntriesProveInclusionAndHeadsProveConsistency() async throws {
        try await TestDatabase.withStore("logproofs") { store in
            let sequencer = Sequencer(store: store, signer: signer, batchSize: 7)
            let log = EvidenceLogRepository(store: store)
            let verifier = try LogVerifier(publicKeyPEM: signer.publicKeyPEM)
            var heads: [SignedTreeHead] = []
            for round in 0..<5 {
                for _ in 0..<(round * 9 + 3) { _ = try await World.make(store, district: "33020\(round)") }
                try await sequencer.drain()
                heads.append(try #require(try await log.latestHead()))
            }
            let last = heads.last!.head
            #expect(heads.allSatisfy { verifier.verify($0) })
            let entries = try await log.entries(from: 0, count: 1_000)
            #expect(entries.map(\.index) == Array(0..<last.size))
            for entry in entries {
                let proof = try await log.inclusionProof(index: entry.index, size: nil)
                #expect(proof.leafHash == MerkleHasher.leafHash([UInt8](Data(base64Encoded: entry.entry)!)))
                #expect(
                    verifyInclusion(leafHash: proof.leafHash, index: entry.index, size: last.size, proof: proof.proof, root: last.rootHash))
            }
            for (older, newer) in zip(heads, heads.dropFirst()) {
                let proof = try await log.consistencyProof(from: older.head.size, to: newer.head.size)
                #expect(
                    verifyConsistency(
                        from: older.head.size, to: newer.head.size, proof: proof.proof, fromRoot: older.head.rootHash,
                        toRoot: newer.head.rootHash))
            }
            await #expect(throws: LogQueryError.self) { _ = try await log.inclusionProof(index: last.size, size: nil) }
        }
    }

    @Test func aCrashBetweenQueueingAndSequencingLosesNothing() async throws {
        try await TestDatabase.withStore("logcrash") { store in
            for index in 0..<5 { _ = try await World.make(store, district: "33021\(index)") }
            // A sequencer that dies mid-batch: its transaction took the queued rows, then the connection was lost.
            struct Crash: Error {}
            await #expect(throws: Crash.self) {
                try await store.transaction { connection in
                    try await connection.query("DELETE FROM evidence_queue", logger: store.logger)
                    throw Crash()
                }
            }
            #expect(try await queued(store) == 10)  // each world: institution registered, contract signed
            // After the restart a new sequencer logs every event exactly once.
            #expect(try await Sequencer(store: store, signer: signer).drain() == 10)
            #expect(try await Sequencer(store: store, signer: signer).drain() == 0)
            #expect(try await EvidenceLogRepository(store: store).latestHead()?.head.size == 10)
        }
    }

    @Test func anEmptyLogSignsItsEmptyHeadOnceHoweverOftenItIsPolled() async throws {
        try await TestDatabase.withStore("logempty") { store in
            let sequencer = Sequencer(store: store, signer: signer)
            for _ in 0..<3 { #expect(try await sequencer.drain() == 0) }
            let head = try #require(try await EvidenceLogRepository(store: store).latestHead())
            #expect(head.head.size == 0 && head.head.rootHash == MerkleHasher.emptyRoot)
            var heads = 0
            for try await count in try await store.query("SELECT count(*)::int FROM tree_heads").decode(Int.self) { heads = count }
            #expect(heads == 1)
        }
    }

    /// The service's sequencer does not wait behind another holding the log (a slow or stalled instance): it logs
    /// nothing at once and keeps no connection waiting; once the log is free it sequences as before.
    @Test func theServicesSequencerSkipsABatchWhileAnotherHoldsTheLog() async throws {
        try await TestDatabase.withStore("logbusy", connections: 4) { store in
            _ = try await World.make(store, district: "330212")
            let sequencer = Sequencer(store: store, signer: signer)
            let holding = AsyncStream<Void>.makeStream()
            let release = AsyncStream<Void>.makeStream()
            let holder = Task {
                try await store.transaction { connection in
                    let lock: PostgresQuery = "SELECT pg_advisory_xact_lock(\(Sequencer.lockKey))"
                    for try await _ in try await connection.query(lock, logger: store.logger) {}
                    holding.continuation.yield()
                    for await _ in release.stream { break }
                }
            }
            for await _ in holding.stream { break }
            // Were it to wait, it would fail at the test sessions' 2-minute lock_timeout: the holder lets go only after this.
            #expect(try await sequencer.sequenceBatch(waitingForOthers: false) == 0)
            release.continuation.yield()
            try await holder.value
            #expect(try await sequencer.sequenceBatch(waitingForOthers: false) > 0)
        }
    }

    /// A sequencer whose clock is behind the last head's (another instance's, or a clock stepped back) signs the larger
    /// head with the last head's time, not an earlier one.
    @Test func headTimestampsNeverGoBackAsTheTreeGrows() async throws {
        let clock = TestClock()
        try await TestDatabase.withStore("logtime", clock: clock) { store in
            _ = try await World.make(store, district: "330211")
            let sequencer = Sequencer(store: store, signer: signer, batchSize: 1)
            clock.advance(by: 3_600)
            #expect(try await sequencer.sequenceBatch() == 1)
            let first = try #require(try await EvidenceLogRepository(store: store).latestHead())
            clock.advance(by: -3_600)
            #expect(try await sequencer.sequenceBatch() == 1)
            let second = try #require(try await EvidenceLogRepository(store: store).latestHead())
            #expect(second.head.size > first.head.size)
            #expect(second.head.timestampMilliseconds == first.head.timestampMilliseconds)
            #expect(signer.verifier.verify(second))
        }
    }

    @Test func theDatabaseRefusesRewritingTheLog() async throws {
        try await TestDatabase.withStore("logappendonly") { store in
            _ = try await World.make(store)
            try await Sequencer(store: store, signer: signer).drain()
            for statement: PostgresQuery in [
                "UPDATE log_entries SET entry = '\\x00'", "DELETE FROM log_entries", "UPDATE log_nodes SET hash = hash",
                "DELETE FROM log_nodes", "UPDATE tree_heads SET size = size + 1", "DELETE FROM tree_heads", "TRUNCATE log_entries",
            ] {
                await #expect(throws: PSQLError.self) { try await store.query(statement) }
            }
        }
    }

    @Test func aTamperedNodeIsCaughtWhenAProofIsServed() async throws {
        try await TestDatabase.withStore("logtamper") { store in
            for index in 0..<6 { _ = try await World.make(store, district: "33022\(index)") }
            try await Sequencer(store: store, signer: signer).drain()
            try await rewriteLeafTwo(store)
            await #expect(throws: LogIntegrityError.self) {
                _ = try await EvidenceLogRepository(store: store).inclusionProof(index: 2, size: nil)
            }
        }
    }

    @Test func aProofReadsTheDatabaseOnceWhenItsTreeSizeIsNamed() async throws {
        try await TestDatabase.withStore("logqueries") { store in
            let sequencer = Sequencer(store: store, signer: signer, batchSize: 3)
            for index in 0..<5 { _ = try await World.make(store, district: "33023\(index)") }
            try await sequencer.drain()
            let log = EvidenceLogRepository(store: store)
            let size = try #require(try await log.latestHead()).head.size
            #expect(size == 10)
            func queries(_ proof: () async throws -> Void) async throws -> Int {
                let counter = RoundTripCounter()
                try await RoundTripCounter.$current.withValue(counter) { try await proof() }
                return counter.value
            }
            // The signed heads a proof checks against (the latest among them) and the stored nodes in one query.
            #expect(try await queries { _ = try await log.inclusionProof(index: 4, size: 6) } == 1)
            #expect(try await queries { _ = try await log.inclusionProof(index: 0, size: 7) } == 1)
            #expect(try await queries { _ = try await log.inclusionProof(index: 9, size: size) } == 1)
            #expect(try await queries { _ = try await log.consistencyProof(from: 3, to: size) } == 1)
            #expect(try await queries { _ = try await log.consistencyProof(from: 5, to: 8) } == 1)
            #expect(try await queries { _ = try await log.consistencyProof(from: size, to: size) } == 1)
            // Without a size, the nodes depend on the latest head: it is read first.
            #expect(try await queries { _ = try await log.inclusionProof(index: 4, size: nil) } == 2)
        }
    }

    /// The nodes are read before the sizes are checked against the latest head: asking beyond the tree, up to the
    /// largest size there is, reads nodes that do not exist and answers `beyondTree`, never a trap or a proof.
    @Test func aProofBeyondTheSignedTreeIsRefusedWhateverItsSize() async throws {
        try await TestDatabase.withStore("logbeyond") { store in
            for index in 0..<3 { _ = try await World.make(store, district: "33025\(index)") }
            try await Sequencer(store: store, signer: signer, batchSize: 4).drain()
            let log = EvidenceLogRepository(store: store)
            #expect(try await log.latestHead()?.head.size == 6)
            for (index, size) in [(0, 7), (6, 7), (5, Int64.max), (Int64.max - 1, Int64.max), (-1, 6), (6, 6)] as [(Int64, Int64)] {
                await #expect(throws: LogQueryError.self) { _ = try await log.inclusionProof(index: index, size: size) }
            }
            for (from, to) in [(1, 7), (6, 7), (1, Int64.max), (Int64.max, Int64.max), (-1, 6), (5, 4)] as [(Int64, Int64)] {
                await #expect(throws: LogQueryError.self) { _ = try await log.consistencyProof(from: from, to: to) }
            }
            // Within the tree, at a size no head was signed for (4 and 6 are), the proof is served.
            #expect(try await log.inclusionProof(index: 1, size: 5).proof.count == 3)
            #expect(try await log.consistencyProof(from: 4, to: 5).proof.count == 1)
        }
    }

    /// The one-query read checks a proof that names its size against the head signed for that size, as before.
    @Test func aTamperedNodeIsCaughtWhenAnInclusionProofNamingItsSizeIsServed() async throws {
        try await TestDatabase.withStore("logtampersized") { store in
            // Leaf 2 is read by the proofs for leaves 1 and 2.
            let log = try await logSignedAtThreeAndSix(store, district: "33026")
            _ = try await log.inclusionProof(index: 1, size: 3)
            _ = try await log.inclusionProof(index: 2, size: 6)
            try await rewriteLeafTwo(store)
            await #expect(throws: LogIntegrityError.self) { _ = try await log.inclusionProof(index: 1, size: 3) }
            await #expect(throws: LogIntegrityError.self) { _ = try await log.inclusionProof(index: 2, size: 6) }
            // A proof that does not read the node is unaffected.
            _ = try await log.inclusionProof(index: 4, size: 6)
        }
    }

    @Test func aTamperedNodeIsCaughtWhenAConsistencyProofIsServed() async throws {
        try await TestDatabase.withStore("logtamperconsistency") { store in
            // The proof between the two heads reads leaf 2.
            let log = try await logSignedAtThreeAndSix(store, district: "33024")
            _ = try await log.consistencyProof(from: 3, to: 6)
            try await rewriteLeafTwo(store)
            await #expect(throws: LogIntegrityError.self) { _ = try await log.consistencyProof(from: 3, to: 6) }
        }
    }

    /// The sequencer builds the next entries on the stored frontier only when it leads to the last signed root: a
    /// rewritten frontier node stops it, signing nothing and keeping the queued events.
    @Test func theSequencerRefusesAFrontierThatDoesNotLeadToTheSignedRoot() async throws {
        try await TestDatabase.withStore("logfrontier") { store in
            let log = try await logSignedAtThreeAndSix(store, district: "33028")
            // Size 6's frontier is the nodes over leaves 0–3 and 4–5; the second is rewritten.
            try await bypassingAppendOnly(
                store, table: "log_nodes", "UPDATE log_nodes SET hash = sha256(hash) WHERE level = 1 AND index = 2")
            _ = try await World.make(store, district: "330289")
            let waiting = try await queued(store)
            #expect(waiting > 0)
            await #expect(throws: LogIntegrityError.self) { try await Sequencer(store: store, signer: signer).sequenceBatch() }
            #expect(try await queued(store) == waiting)
            #expect(try await log.latestHead()?.head.size == 6)
        }
    }

    /// The head the sequencer builds on must carry the log's own signature: one whose fields were rewritten (here only
    /// its time, so its root still matches the stored nodes) stops it too, or the next head would vouch for the rewrite.
    @Test func theSequencerBuildsOnlyOnAHeadTheLogSigned() async throws {
        try await TestDatabase.withStore("logheadsig") { store in
            let log = try await logSignedAtThreeAndSix(store, district: "33029")
            try await bypassingAppendOnly(
                store, table: "tree_heads", "UPDATE tree_heads SET timestamp_ms = timestamp_ms + 1 WHERE size = 6")
            _ = try await World.make(store, district: "330299")
            let waiting = try await queued(store)
            await #expect(throws: LogIntegrityError.self) { try await Sequencer(store: store, signer: signer).sequenceBatch() }
            #expect(try await queued(store) == waiting)
            #expect(try await log.latestHead()?.head.size == 6)
        }
    }

    /// A proof reads its nodes as one array with a NULL where a node is not stored: a deleted node fails the proofs that
    /// need it, whichever element of the array it is, and leaves the others whole.
    @Test func aDeletedNodeFailsOnlyTheProofsThatNeedIt() async throws {
        try await TestDatabase.withStore("logdeleted") { store in
            let log = try await logSignedAtThreeAndSix(store, district: "33027")
            try await bypassingAppendOnly(store, table: "log_nodes", "DELETE FROM log_nodes WHERE level = 0 AND index = 2")
            // Leaf 2 is the proven leaf of the first, a sibling in the second, part of the consistency proof in the third.
            await #expect(throws: LogIntegrityError.self) { _ = try await log.inclusionProof(index: 2, size: 6) }
            await #expect(throws: EvidenceLogError.self) { _ = try await log.inclusionProof(index: 3, size: 6) }
            await #expect(throws: EvidenceLogError.self) { _ = try await log.consistencyProof(from: 3, to: 6) }
            let heads = try #require(try await log.head(size: 6))
            let proof = try await log.inclusionProof(index: 4, size: 6)
            #expect(verifyInclusion(leafHash: proof.leafHash, index: 4, size: 6, proof: proof.proof, root: heads.head.rootHash))
        }
    }
}
