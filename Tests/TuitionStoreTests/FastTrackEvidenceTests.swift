import Foundation
import NIOCore
import PostgresNIO
import Testing
import TuitionCore
import TuitionTestSupport

@testable import TuitionStore

/// Issue #15: the fast-track writes its evidence events in SQL (`evidence_entry`, sql/0019), beside the rows they tell
/// of. The log is public and hashed entry by entry, so each entry must be byte for byte what the Swift encoder
/// (`EvidenceEvent.canonicalBytes()`) makes of the same event.
@Suite struct FastTrackEvidenceTests {
    /// The SQL encoding of one event.
    static func sqlEntry(_ event: EvidenceEvent, on store: Store) async throws -> [UInt8] {
        let rows = try await store.query(
            """
            SELECT evidence_entry(\(event.kind.rawValue), \(event.occurredAtMilliseconds), \(event.institutionId.uuid),
                \(event.enrollmentId?.uuid)::uuid, \(event.amountFen?.fen)::bigint, \(event.lessons)::int, \(event.reference)::text)
            """)
        for try await entry in rows.decode(ByteBuffer.self) { return Array(buffer: entry) }
        throw CorruptRow(value: "evidence_entry returned nothing")
    }

    /// Every kind, every optional field present or absent, and references with what JSON must escape.
    @Test func evidenceEntryEncodesEveryEventAsTheSwiftEncoder() async throws {
        let references = [
            nil, "", "defunct:0193a8f0-0000-7000-8000-000000000001:escrow", "claim:x:closed", "带引号\"和\\反斜杠/斜杠",
            "tab\tnew line\nreturn\r", "control \u{01}\u{1f}", "emoji 🧾 and é",
        ]
        try await TestDatabase.withStore("ftevidence") { store in
            var random = SeededGenerator(state: 20_261_204)
            for (index, kind) in EvidenceKind.allCases.enumerated() {
                for reference in references {
                    let event = EvidenceEvent(
                        kind: kind,
                        occurredAt: Date(timeIntervalSince1970: Double.random(in: 0...4_000_000_000, using: &random)),
                        institution: .init(UUID()),
                        enrollment: Bool.random(using: &random) ? .init(UUID()) : nil,
                        amount: Bool.random(using: &random) ? Money(fen: Int64.random(in: 0...Int64.max, using: &random)) : nil,
                        lessons: index.isMultiple(of: 2) ? Int.random(in: 0...60, using: &random) : nil,
                        reference: reference)
                    let sql = try await Self.sqlEntry(event, on: store)
                    #expect(
                        sql == event.canonicalBytes(),
                        "\(String(decoding: sql, as: UTF8.self)) vs \(String(decoding: event.canonicalBytes(), as: UTF8.self))")
                }
            }
        }
    }

    /// A case's chunks queue exactly the events the Swift encoder makes from the rows they wrote: a `funds_returned` per
    /// leg paid from the institution's own accounts, a claim's filing, decision and payment, and the closing of a claim the
    /// guardian filed before the mark.
    @Test func aChunksEventsAreByteIdenticalToTheSwiftEncoders() async throws {
        let clock = TestClock()
        try await TestDatabase.withStore("ftevidencechunk", clock: clock) { store in
            let insured = try await MoneyIntegrityStoreTests.Insured.make(store, disputed: 0)
            _ = try await insured.file(store, claimed: .yuan(100))
            var random = SeededGenerator(state: 20_261_205)
            let scenario = try await FastTrackStoreTests.build(store, clock: clock, random: &random, index: 1)
            let cases = [(insured.world.institution.id, MoneyIntegrityStoreTests.district), (scenario.institution.id, "330204")]
            for (institution, district) in cases {
                let marked = try await DefunctRepository(store: store).mark(
                    institution, district: district, effectiveAt: nil, reason: "负责人失联")
                let job = FastTrackJob(store: store, chunkSize: 3)
                try await job.plan(marked.id)
                let before = try await Self.lastQueued(store)
                while try await job.settleChunk(marked.id) > 0 {}
                let queued = try await Self.queued(store, after: before)
                let expected = try await Self.expectedEvents(store, marked.id, institution: institution, at: clock.now)
                #expect(!expected.isEmpty)
                #expect(queued.sorted { $0.lexicographicallyPrecedes($1) } == expected.sorted { $0.lexicographicallyPrecedes($1) })
            }
        }
    }

    static func lastQueued(_ store: Store) async throws -> Int64 {
        for try await id in try await store.query("SELECT coalesce(max(id), 0) FROM evidence_queue").decode(Int64.self) { return id }
        return 0
    }

    static func queued(_ store: Store, after id: Int64) async throws -> [[UInt8]] {
        var found: [[UInt8]] = []
        let rows = try await store.query("SELECT entry FROM evidence_queue WHERE id > \(id) ORDER BY id")
        for try await entry in rows.decode(ByteBuffer.self) { found.append(Array(buffer: entry)) }
        return found
    }

    /// The events the Swift encoder makes of the case's payouts from the institution's accounts and of its claims.
    static func expectedEvents(_ store: Store, _ id: DefunctCase.ID, institution: Institution.ID, at now: Date) async throws
        -> [[UInt8]]
    {
        func event(_ kind: EvidenceKind, _ enrollment: UUID, _ amount: Int64?, _ reference: String) -> [UInt8] {
            EvidenceEvent(
                kind: kind, occurredAt: now, institution: institution, enrollment: .init(enrollment), amount: amount.map(Money.init(fen:)),
                reference: reference
            ).canonicalBytes()
        }
        var expected: [[UInt8]] = []
        let payouts = try await store.query(
            """
            SELECT t.enrollment_id, t.amount_fen, t.idempotency_key FROM transfers t JOIN accounts a ON a.id = t.debit_account_id
            WHERE t.idempotency_key LIKE \("defunct:\(id):%") AND a.institution_id = \(institution.uuid)
            """)
        for try await (enrollment, amount, key) in payouts.decode((UUID, Int64, String).self) {
            expected.append(event(.fundsReturned, enrollment, amount, key))
        }
        let claims = try await store.query(
            """
            SELECT id, enrollment_id, claimed_fen, status FROM claims
            WHERE defunct_case_id = \(id.uuid) OR (institution_id = \(institution.uuid) AND status = 'closed'
                AND decision_reason LIKE 'superseded_by_fast_track%')
            """)
        for try await (claim, enrollment, amount, status) in claims.decode((UUID, UUID, Int64, String).self) {
            let reference = "claim:\(claim.uuidString.lowercased())"
            // A closing and a referral move nothing and carry no amount.
            if status == "closed" {
                expected.append(event(.claimDecided, enrollment, nil, reference + ":closed"))
                continue
            }
            expected.append(event(.claimFiled, enrollment, amount, reference + ":platform"))
            expected.append(
                status == "paid"
                    ? event(.claimDecided, enrollment, amount, reference + ":approved")
                    : event(.claimDecided, enrollment, nil, reference + ":referred"))
            if status == "paid" { expected.append(event(.claimPaid, enrollment, amount, reference)) }
        }
        return expected
    }
}
