import EvidenceLog
import Foundation
import PostgresNIO
import Testing
import TuitionCore
import TuitionStore
import TuitionTestSupport
import TuitionWire

/// The ledger and the evidence log tell the same story: every movement has its one event with its amount, every money
/// event a movement behind it. The ledger's own audit and the log's own audit each stay clean when only the other
/// side is rewritten; the reconciliation does not.
@Suite struct LedgerLogReconciliationTests {
    typealias Insured = InsuranceStoreTests.Insured

    /// Every kind of movement: a payment, lessons, a refund, a top-up, premiums, a guardian's claim paid, and a defunct
    /// case paying from escrow and insurance; part of it sequenced into the log, the rest still queued.
    static func history(_ store: Store) async throws -> Insured {
        let insured = try await Insured.make(store)  // escrow mode, ¥3,200 paid for 40 lessons
        let enrollment = insured.world.enrollment.id
        let institution = insured.world.institution.id
        let insurance = InsuranceRepository(store: store)
        let enrollments = EnrollmentRepository(store: store)
        let tuition = try await store.transaction {
            try await insurance.buyTuitionPolicy(
                insured.tuitionPolicy(.yuan(3_200)), enrollment: enrollment, guardian: insured.world.guardian, key: "p:tuition", on: $0)
        }
        _ = try await store.transaction {
            try await insurance.issueRiskPolicy(insured.riskPolicy(.yuan(100_000)), insurer: insured.insurer, key: "p:risk", on: $0)
        }
        _ = try await store.transaction {
            try await enrollments.recordLessons(enrollment, institution: institution, lessons: 3, takenOn: insured.today, on: $0)
        }
        try await Sequencer(store: store, signer: LogSigner()).drain()
        _ = try await store.transaction {
            try await enrollments.refund(enrollment, institution: institution, lessons: 2, reason: "退课", on: $0)
        }
        _ = try await store.transaction {
            try await enrollments.topUpReserve(institution: institution, amount: .yuan(500), key: "top:1", on: $0)
        }
        let claims = ClaimRepository(store: store)
        let claim = try await store.transaction {
            try await claims.file(
                NewClaim(enrollmentId: enrollment, policyId: tuition.id, reason: .refundRefused, claimedFen: .yuan(100)),
                guardian: insured.world.guardian, on: $0)
        }
        _ = try await claims.approve(claim.id, insurer: insured.insurer, amount: .yuan(100))
        _ = try await store.transaction { try await claims.pay(claim.id, insurer: insured.insurer, on: $0) }
        let marked = try await DefunctRepository(store: store).mark(
            institution, district: insured.world.district.value, effectiveAt: nil, reason: "跑路")
        try await FastTrackJob(store: store).run(marked.id)
        return insured
    }

    func reconcile(_ store: Store) async throws -> [String] { try await LedgerLogReconciliation(store: store).breaches() }

    @Test func aWholeHistoryReconcilesAndEachRewriteShows() async throws {
        try await TestDatabase.withStore("reconcile") { store in
            let insured = try await Self.history(store)
            #expect(try await reconcile(store) == [])
            #expect(try await InvariantAudit(store: store).breaches() == [])

            // An event deleted from the queue before it was sequenced: the ledger alone still audits clean.
            var refundEvent: Int64?
            for try await id in try await store.query(
                "SELECT id FROM evidence_queue WHERE convert_from(entry, 'UTF8')::jsonb ->> 'kind' = 'refund'"
            ).decode(Int64.self) {
                refundEvent = id
            }
            try await store.query("DELETE FROM evidence_queue WHERE id = \(try #require(refundEvent))")
            #expect(try await InvariantAudit(store: store).breaches() == [])
            let missing = try await reconcile(store)
            #expect(missing.count == 1 && missing.first?.hasPrefix("refund refund:") == true, "\(missing)")
            #expect(missing.first?.hasSuffix("fen moved with no event") == true)

            // The mark's event deleted from the queue, or the case's effective time moved after it was logged: each shows.
            let unmarked = try await reported(
                store, "DELETE FROM evidence_queue WHERE convert_from(entry, 'UTF8')::jsonb ->> 'kind' = 'institution_defunct'")
            #expect(
                unmarked.contains { $0.hasPrefix("institution_defunct defunct:") && $0.hasSuffix("moved with no event") }, "\(unmarked)")
            let moved = try await reported(store, "UPDATE defunct_cases SET effective_at = effective_at - interval '1 hour'")
            #expect(moved.filter { $0.hasPrefix("institution_defunct defunct:") }.count == 2, "\(moved)")
            // A lesson record backdated by a millisecond, or a payment moved in time (its transfer and the enrollment's
            // paid time together, so the ledger audits clean): the fast-track decides by both times, and each shows.
            let backdated = try await reported(store, "UPDATE lessons SET recorded_at = recorded_at - interval '1 millisecond'")
            #expect(
                backdated.contains { $0.hasPrefix("lessons_consumed lesson:") && $0.contains(" ms, recorded at ") },
                "\(backdated)")
            let paidEarlier = try await reported(
                store,
                """
                WITH moved AS (
                    UPDATE transfers SET created_at = created_at - interval '2 days' WHERE kind = 'payment' RETURNING enrollment_id)
                UPDATE enrollments SET paid_at = paid_at - interval '2 days' WHERE id IN (SELECT enrollment_id FROM moved)
                """)
            #expect(
                paidEarlier.contains { $0.hasPrefix("payment payment:") && $0.contains(" ms, recorded at ") },
                "\(paidEarlier)")
            // A paid claim whose log's last word is not what the claim says: a rejection queued after its payment.
            let rejected = try await reported(
                store,
                """
                INSERT INTO evidence_queue (entry, queued_at)
                SELECT evidence_entry('claim_decided', 0, institution_id, enrollment_id, NULL, NULL, 'claim:' || id || ':rejected'), now()
                FROM claims WHERE status = 'paid'
                """)
            func claimLine(_ found: [String], endingWith suffix: String) -> Bool {
                found.contains { $0.hasPrefix("claim_decided claim:") && $0.hasSuffix(suffix) }
            }
            #expect(claimLine(rejected, endingWith: "logged rejected, the claim is paid"), "\(rejected)")
            // A paid claim whose last logged approval is not what the claim says it approved.
            let reapproved = try await reported(
                store,
                """
                INSERT INTO evidence_queue (entry, queued_at)
                SELECT evidence_entry(kind, 0, institution_id, enrollment_id, amount, NULL, 'claim:' || id || suffix), now()
                FROM (SELECT * FROM claims WHERE status = 'paid' AND defunct_case_id IS NULL LIMIT 1) c
                CROSS JOIN (VALUES (1, 'claim_decided', 1::bigint, ':approved'), (2, 'claim_paid', NULL, '')) AS e (n, kind, amount, suffix)
                ORDER BY n
                """)
            #expect(claimLine(reapproved, endingWith: "approved 1 fen in the log, 10000 fen on the claim"), "\(reapproved)")
            // A claim's filing, or an institution's registration, deleted from the log's queue.
            let unfiled = try await reported(
                store, "DELETE FROM evidence_queue WHERE convert_from(entry, 'UTF8')::jsonb ->> 'kind' = 'claim_filed'")
            #expect(unfiled.contains { $0.hasPrefix("claim_filed claim:") && $0.hasSuffix("with no event") }, "\(unfiled)")
            let faked = try await reported(
                store,
                """
                INSERT INTO evidence_queue (entry, queued_at)
                VALUES (evidence_entry('institution_registered', 0, gen_random_uuid(), reference => '教民000000000000'), now())
                """)
            #expect(
                faked.contains { $0.hasPrefix("institution_registered 教民000000000000") && $0.hasSuffix("nothing behind them") },
                "\(faked)")

            // An event queued for a payout that never happened.
            try await store.query(
                """
                INSERT INTO evidence_queue (entry, queued_at)
                VALUES (evidence_entry('claim_paid', 0, \(insured.world.institution.id.uuid), \(insured.world.enrollment.id.uuid), 999,
                    NULL, 'claim:' || \(UUID())::text), now())
                """)
            #expect(try await reconcile(store).contains { $0.hasSuffix("1 event(s) of 999 fen with nothing behind them") })

            // The payment rewritten in the ledger behind the triggers' back, after it was logged.
            try await store.transaction { connection in
                try await connection.query("ALTER TABLE transfers DISABLE TRIGGER transfers_append_only", logger: store.logger)
                try await connection.query(
                    "UPDATE transfers SET amount_fen = amount_fen - 100 WHERE kind = 'payment' AND enrollment_id = \(insured.world.enrollment.id.uuid)",
                    logger: store.logger)
                try await connection.query("ALTER TABLE transfers ENABLE TRIGGER transfers_append_only", logger: store.logger)
            }
            let paid = insured.world.enrollment.amountFen.fen
            #expect(
                try await reconcile(store).contains(
                    "payment payment:\(insured.world.enrollment.id): logged \(paid) fen, moved \(paid - 100) fen"))

            // A refund redirected to another account: amount and event unchanged, the money went elsewhere.
            try await store.transaction { connection in
                try await connection.query("ALTER TABLE transfers DISABLE TRIGGER transfers_append_only", logger: store.logger)
                try await connection.query(
                    """
                    UPDATE transfers SET credit_account_id = (SELECT id FROM accounts WHERE kind = 'insurer_claims' LIMIT 1)
                    WHERE kind = 'refund'
                    """, logger: store.logger)
                try await connection.query("ALTER TABLE transfers ENABLE TRIGGER transfers_append_only", logger: store.logger)
            }
            #expect(
                try await reconcile(store).contains {
                    $0.hasPrefix("refund transfer ") && $0.hasSuffix("not the bank of the enrollment's guardian")
                })
        }
    }

    private struct RolledBack: Error {}

    /// What the audit and the reconciliation report while `tampering` is in place, in a transaction rolled back
    /// afterwards (the append-only triggers on transfers and signed contracts off inside it, as an insider with the
    /// owner's rights would have).
    private func reported(_ store: Store, _ tampering: String) async throws -> [String] {
        var found: [String] = []
        do {
            try await store.transaction { transaction in
                try await transaction.query("ALTER TABLE transfers DISABLE TRIGGER transfers_append_only", logger: store.logger)
                try await transaction.query("ALTER TABLE contracts DISABLE TRIGGER signed_contracts_are_final", logger: store.logger)
                try await transaction.query(PostgresQuery(unsafeSQL: tampering), logger: store.logger)
                found = try await InvariantAudit(store: store).breaches(on: transaction)
                found += try await LedgerLogReconciliation(store: store).breaches(on: transaction)
                throw RolledBack()
            }
        } catch is RolledBack {
        } catch {
            Issue.record("\(tampering.prefix(60)): \(String(reflecting: error))")
        }
        return found
    }

    /// Rewrites an insider with write access could make to hide money, each of which the audit or the reconciliation
    /// reports: a release out of escrow tied to no enrollment, a lesson's value lowered, a policy's remaining sum or a
    /// claim's paid amount changed, an enrollment's lessons and price reshuffled to the same amount.
    @Test func insiderRewritesOfTheLedgerAreReported() async throws {
        try await TestDatabase.withStore("reconcile_insider") { store in
            // A paid enrollment with lessons and a paid claim on a tuition policy, and a second one paid with none yet.
            let insured = try await Insured.make(store)
            let enrollments = EnrollmentRepository(store: store)
            let first = insured.world.enrollment.id
            let tuition = try await store.transaction {
                try await InsuranceRepository(store: store).buyTuitionPolicy(
                    insured.tuitionPolicy(.yuan(3_200)), enrollment: first, guardian: insured.world.guardian, key: "p:tuition", on: $0)
            }
            _ = try await store.transaction {
                try await enrollments.recordLessons(
                    first, institution: insured.world.institution.id, lessons: 3, takenOn: insured.today, on: $0)
            }
            let claims = ClaimRepository(store: store)
            let claim = try await store.transaction {
                try await claims.file(
                    NewClaim(enrollmentId: first, policyId: tuition.id, reason: .refundRefused, claimedFen: .yuan(100)),
                    guardian: insured.world.guardian, on: $0)
            }
            _ = try await claims.approve(claim.id, insurer: insured.insurer, amount: .yuan(100))
            _ = try await store.transaction { try await claims.pay(claim.id, insurer: insured.insurer, on: $0) }
            let second = try await insured.world.anotherEnrollment(store, lessons: 10)
            _ = try await store.transaction {
                try await enrollments.pay(second.id, guardian: insured.world.guardian, amount: second.amountFen, on: $0)
            }
            #expect(try await reconcile(store) == [])
            #expect(try await InvariantAudit(store: store).breaches() == [])
            let institution = insured.world.institution.id.uuid
            let cases: [(tampering: String, expected: String)] = [
                (
                    """
                    INSERT INTO transfers (idempotency_key, kind, debit_account_id, credit_account_id, amount_fen, institution_id, created_at)
                    SELECT 'insider', 'release', d.id, c.id, 100, '\(institution)', now()
                    FROM accounts d, accounts c
                    WHERE d.institution_id = '\(institution)' AND d.kind = 'escrow' AND c.institution_id = '\(institution)' AND c.kind = 'operating'
                    """,
                    "each transfer moves money between the accounts its kind allows"
                ),
                ("UPDATE lessons SET value_fen = value_fen - 1", "each lesson record is worth its lessons"),
                (
                    "UPDATE contracts SET document = document || '\\x20'::bytea",
                    "each contract's document hashes to its recorded hash"
                ),
                (
                    """
                    WITH insider AS (INSERT INTO guardians (id, name, created_at) VALUES (gen_random_uuid(), '内鬼', now()) RETURNING id)
                    UPDATE enrollments e SET guardian_id = (SELECT id FROM insider)
                    WHERE NOT EXISTS (SELECT 1 FROM policies p WHERE p.enrollment_id = e.id)
                      AND NOT EXISTS (SELECT 1 FROM claims c WHERE c.enrollment_id = e.id)
                    """,
                    "each enrollment's guardian is its student's"
                ),
                ("UPDATE policies SET remaining_fen = remaining_fen - 100", "what is left of each policy is its sum insured"),
                (
                    """
                    UPDATE claims SET claimed_fen = claimed_fen + 100, approvable_fen = approvable_fen + 100, approved_fen = approved_fen + 100,
                        paid_fen = paid_fen + 100, escrow_paid_fen = escrow_paid_fen + 100
                    WHERE status = 'paid'
                    """,
                    "each paid claim moved exactly what it paid"
                ),
                (
                    "UPDATE enrollments SET lessons_bought = 5, price_per_lesson_fen = price_per_lesson_fen * 2 WHERE id = '\(second.id.uuid)'",
                    "payment payment:\(second.id): logged 10 lessons, recorded 5"
                ),
            ]
            for (tampering, expected) in cases {
                let found = try await reported(store, tampering)
                #expect(found.contains { $0.hasPrefix(expected) }, "\(tampering.prefix(60)): \(found)")
            }
            #expect(try await reconcile(store) == [])
            #expect(try await InvariantAudit(store: store).breaches() == [])
        }
    }
}
