import Foundation
import NIOCore
import PostgresNIO
import TuitionCore
import TuitionWire

/// The defunct fast-track: plans every entitled enrollment's waterfall in one set-based statement, then pays the plan
/// in chunks. It runs the core's rules (`entitlement(of:asOf:)`, `assessSettlement`, `waterfall(_:)`,
/// `riskPolicyInForce`, `tuitionPolicyCover`) as SQL over all enrollments at once; the tests check both give the same
/// payout to the fen.
///
/// Crash safety and idempotency: the plan is one transaction, skipped once the case has one. Each chunk is one
/// transaction that takes pending settlements no other chunk holds, writes their transfers (keys
/// `defunct:<case>:<enrollment>:<layer>`, unique), claims, statuses, the case's counters, account totals and policy
/// reductions.
/// A crash rolls back the chunk in flight; running again continues with what is still pending and pays nothing twice.
///
/// Referred enrollments (a consumption spike before the collapse, or disputed lessons) still receive the institution's
/// own funds, escrow and reserve: those amounts are exact and at most what the guardian is owed whatever a person later
/// finds. Their insurance layers become `referred` claims in the insurers' queues, approvable up to the planned amount.
public struct FastTrackJob: Sendable {
    let store: Store
    public var chunkSize: Int
    /// Chunks paid at once, each on its own connection: the inserts run in parallel, the shared rows (the case's
    /// counters, the institution's accounts, the risk policy) are taken one chunk at a time.
    public var workers: Int

    public init(store: Store, chunkSize: Int = 5_000, workers: Int = 2) {
        precondition(chunkSize > 0 && workers > 0, "a chunk settles at least one enrollment, with at least one worker")
        self.store = store
        self.chunkSize = chunkSize
        self.workers = workers
    }

    var logger: Logger { store.logger }

    /// Plans the case if it has no plan yet, settles every pending enrollment, and marks the case completed.
    /// `progress` is called after the plan and after each chunk with the case as committed. A blocked case runs again
    /// only when a person asks (`resumingBlocked`, as `tuitionguard defunct run` does); the service's runs leave it be,
    /// even one found running when its sweep began and blocked by another run since.
    @discardableResult
    public func run(
        _ id: DefunctCase.ID, resumingBlocked: Bool = true, progress: (@Sendable (DefunctCaseRecord) async -> Void)? = nil
    ) async throws -> DefunctCaseRecord {
        if resumingBlocked {
            try await resume(id)
        } else {
            let current = try await record(id)
            if current.status == .blocked { return current }
        }
        do {
            try await plan(id)
            if let progress { await progress(try await record(id)) }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<workers {
                    group.addTask {
                        while try await settleChunk(id) > 0 {
                            if let progress { await progress(try await record(id)) }
                        }
                    }
                }
                try await group.waitForAll()
            }
            // Settlements another runner still holds were skipped above; wait for them, then settle any it left.
            while try await settleChunk(id, waitingForOthers: true) > 0 {
                if let progress { await progress(try await record(id)) }
            }
            try await complete(id)
        } catch let error where CaseBlock(error) != nil {
            // A chunk the ledger refuses would be refused again on every retry: the case says why and waits for a person.
            try await block(id, because: CaseBlock(error)!)
        }
        let finished = try await record(id)
        if let progress { await progress(finished) }
        return finished
    }

    /// A blocked case asked to run again goes back to running first.
    private func resume(_ id: DefunctCase.ID) async throws {
        try await store.query(
            """
            UPDATE defunct_cases SET status = 'running', blocked_reason = NULL, blocked_at = NULL
            WHERE id = \(id.uuid) AND status = 'blocked'
            """)
    }

    /// Records why the case cannot go on, in one transaction with its evidence event.
    private func block(_ id: DefunctCase.ID, because reason: CaseBlock) async throws {
        logger.error("fast-track blocked", metadata: ["case": "\(id)", "reason": "\(reason.text)"])
        try await store.transaction { connection in
            let now = store.dependencies.now()
            let rows = try await connection.query(
                """
                UPDATE defunct_cases SET status = 'blocked', blocked_reason = \(reason.text), blocked_at = \(now)
                WHERE id = \(id.uuid) AND status = 'running' RETURNING institution_id
                """, logger: logger)
            for try await institution in rows.decode(UUID.self) {
                try await EvidenceQueue(store: store).enqueue(
                    EvidenceEvent(
                        kind: .defunctCaseBlocked, occurredAt: now, institution: .init(institution),
                        reference: "defunct:\(id):\(reason.code)"),
                    on: connection)
            }
        }
    }

    func record(_ id: DefunctCase.ID) async throws -> DefunctCaseRecord {
        guard let found = try await find(id) else { throw NotFound() }
        return found
    }

    func find(_ id: DefunctCase.ID) async throws -> DefunctCaseRecord? {
        let rows = try await store.query("SELECT \(unescaped: DefunctCaseRecord.columns) FROM defunct_cases dc WHERE dc.id = \(id.uuid)")
        for try await row in rows { return try DefunctCaseRecord(row: row) }
        return nil
    }

    // MARK: Plan

    /// Computes and stores every entitled enrollment's settlement, once.
    func plan(_ id: DefunctCase.ID) async throws {
        try await store.transaction { connection in
            let rows = try await connection.query(
                "SELECT institution_id, effective_at, planned_at IS NOT NULL FROM defunct_cases WHERE id = \(id.uuid) FOR UPDATE",
                logger: logger)
            var found: (UUID, Date, Bool)?
            for try await row in rows.decode((UUID, Date, Bool).self) { found = row }
            guard let (institution, effectiveAt, planned) = found else { throw NotFound() }
            if planned { return }
            // A money movement that read the institution as operating just before the mark may still be in flight;
            // it holds its enrollment's lock, so taking every enrollment's lock waits it out. In id order, as a class
            // session and a chunk take theirs, so the plan never deadlocks with one whatever plan PostgreSQL picks.
            try await connection.run(
                """
                SELECT count(*) FROM (SELECT 1 FROM enrollments WHERE institution_id = \(institution) ORDER BY id FOR UPDATE)
                    AS waited
                """,
                logger: logger)
            // The lessons recorded from the effective time on are final now (no lesson can be recorded after the mark):
            // counted once, they never count against the guardian. (The mark itself does not touch enrollments: a money
            // path holds its enrollment before the institution, so the mark, holding the institution, would deadlock.)
            try await connection.query(
                """
                UPDATE enrollments e SET lessons_after_defunct = x.n
                FROM (SELECT enrollment_id, sum(lessons)::int AS n FROM lessons
                      WHERE institution_id = \(institution) AND recorded_at >= \(effectiveAt) GROUP BY enrollment_id) x
                WHERE e.id = x.enrollment_id AND e.lessons_after_defunct <> x.n
                """, logger: logger)
            let reserve = try await balance(of: institution, .reserve, on: connection)
            let operating = try await balance(of: institution, .operating, on: connection)
            let risk = try await riskPolicy(of: institution, at: effectiveAt, on: connection)
            try await ReferenceCheckedInserts(logger: logger).run(into: "defunct_settlements", keyColumn: "case_id", on: connection) {
                try await insertPlan(
                    id, institution: institution, effectiveAt: effectiveAt, reserve: reserve, operating: operating, risk: risk,
                    on: connection)
                return KeyRange(low: id.uuid, high: id.uuid)
            }
            let now = store.dependencies.now()
            try await connection.query(
                """
                UPDATE defunct_cases dc SET planned_at = \(now), reserve_balance_fen = \(reserve), risk_policy_id = \(risk?.id),
                    operating_balance_fen = \(operating), enrollments_total = x.n, entitled_fen = x.entitled,
                    return_due_fen = x.return_due
                FROM (SELECT count(*)::int AS n, coalesce(sum(entitlement_fen), 0)::bigint AS entitled,
                          coalesce(sum(return_due_fen), 0)::bigint AS return_due
                      FROM defunct_settlements WHERE case_id = \(id.uuid)) x
                WHERE dc.id = \(id.uuid)
                """, logger: logger)
        }
    }

    private func balance(of institution: UUID, _ kind: AccountKind, on connection: PostgresConnection) async throws -> Int64 {
        let rows = try await connection.query(
            "SELECT balance_fen FROM account_totals WHERE institution_id = \(institution) AND kind = \(kind.rawValue)",
            logger: logger)
        for try await balance in rows.decode(Int64.self) { return balance }
        throw CorruptRow(value: "institution \(institution) has no \(kind.rawValue) account")
    }

    private struct RiskCover {
        var id: UUID
        var coveredShareBasisPoints: Int
        var remaining: Int64
    }

    /// `riskPolicyInForce` in SQL: in force at the effective time, something left, the most left first, then the lowest id.
    private func riskPolicy(of institution: UUID, at effectiveAt: Date, on connection: PostgresConnection) async throws -> RiskCover? {
        let rows = try await connection.query(
            """
            SELECT p.id, ip.covered_share_bp, p.remaining_fen
            FROM policies p JOIN insurance_products ip ON ip.id = p.product_id
            WHERE p.institution_id = \(institution) AND p.kind = 'institution_risk' AND p.remaining_fen > 0
              AND policy_in_force(p.period_start, p.period_end, p.cancelled_at, \(effectiveAt))
            ORDER BY p.remaining_fen DESC, p.id LIMIT 1
            FOR UPDATE OF p
            """, logger: logger)
        for try await (id, share, remaining) in rows.decode((UUID, Int, Int64).self) {
            return RiskCover(id: id, coveredShareBasisPoints: share, remaining: remaining)
        }
        return nil
    }

    /// The plan: the ledger facts of every enrollment as of the effective time (`EnrollmentLedgerFacts`), the entitlement,
    /// the checks, and the waterfall's layers, in one statement (`SettlementPlan`, its named steps).
    private func insertPlan(
        _ id: DefunctCase.ID, institution: UUID, effectiveAt: Date, reserve: Int64, operating: Int64, risk: RiskCover?,
        on connection: PostgresConnection
    ) async throws {
        let plan = SettlementPlan.query(
            case: id.uuid, institution: institution, effectiveAt: effectiveAt, reserve: reserve, operating: operating,
            risk: risk.map { ($0.id, $0.coveredShareBasisPoints, $0.remaining) }, checks: SettlementChecks())
        try await connection.query(plan, logger: logger)
    }

    // MARK: Complete

    /// Marks the case completed once nothing is pending; a no-op when it already is. In the same statement the
    /// guardians' own claims still open at the institution are closed, each with its `claim_decided` event: the chunks
    /// closed those on the enrollments they settled, and one on an enrollment owed nothing at the mark could otherwise
    /// stay open for ever (nobody may approve or pay it from the mark on).
    func complete(_ id: DefunctCase.ID) async throws {
        var institution: UUID?
        for try await found in try await store.query("SELECT institution_id FROM defunct_cases WHERE id = \(id.uuid)").decode(UUID.self) {
            institution = found
        }
        guard let institution else { return }
        let stamp = EventStamp(now: store.dependencies.now(), institution: institution)
        try await store.query(
            """
            WITH done AS (
                UPDATE defunct_cases SET status = 'completed', completed_at = \(stamp.now)
                WHERE id = \(id.uuid) AND status = 'running' AND planned_at IS NOT NULL
                  AND NOT EXISTS (SELECT 1 FROM defunct_settlements WHERE case_id = \(id.uuid) AND status = 'pending')
                RETURNING institution_id),
            closed AS (
                UPDATE claims c SET status = 'closed', decided_at = \(stamp.now),
                    decision_reason = left('superseded_by_fast_track' || coalesce(': ' || c.decision_reason, ''), 1000)
                FROM done
                WHERE c.institution_id = done.institution_id AND c.status NOT IN ('paid', 'rejected', 'closed')
                  AND c.defunct_case_id IS NULL
                RETURNING c.id, c.enrollment_id)
            INSERT INTO evidence_queue (entry, queued_at)
            SELECT evidence_entry(\(EvidenceKind.claimDecided.rawValue), \(stamp.milliseconds), \(institution), enrollment_id, NULL, NULL,
                'claim:' || id || ':closed'), \(stamp.now)
            FROM closed ORDER BY enrollment_id, id
            """)
    }
}

/// Why a case cannot go on: a refusal by the rules or the database's constraints, which a retry would meet again.
/// Anything else (a lost connection, a deadline) is left to the next run.
struct CaseBlock {
    var code: String
    var text: String

    init?(_ error: any Error) {
        if let rejection = error as? Rejection {
            code = rejection.rawValue
            text = "a chunk was refused: \(rejection.rawValue)"
        } else if let error = error as? PSQLError, let state = error.sqlState, state.hasPrefix("23") || state == "P0001" {
            let constraint = error.constraint ?? "none"
            let message = error.serverInfo?[.message] ?? ""
            code = "database_refusal"
            text = "the database refused a chunk (\(state), constraint \(constraint)): \(message)"
        } else {
            return nil
        }
    }
}

/// The settlement's checks in their four possible outcomes, as the JSON claims store. Every enrollment in the plan
/// is the guardian's own, paid before the effective time and owed something, claimed in full with no policy named;
/// only the consumption and dispute checks vary. The tests compare these with `assessSettlement`.
struct SettlementChecks {
    let clean = Self.json(consumptionSpike: false, disputes: false)
    let spike = Self.json(consumptionSpike: true, disputes: false)
    let disputes = Self.json(consumptionSpike: false, disputes: true)
    let spikeAndDisputes = Self.json(consumptionSpike: true, disputes: true)

    static func json(consumptionSpike: Bool, disputes: Bool) -> String {
        json([
            ClaimCheckResult(check: .claimant, outcome: .passed, code: .claimantIsGuardian),
            ClaimCheckResult(check: .policy, outcome: .notApplicable, code: .noPolicyClaimedAgainst),
            ClaimCheckResult(check: .payment, outcome: .passed, code: .paymentBeforeDefunct),
            ClaimCheckResult(check: .entitlement, outcome: .passed, code: .unconsumedTuitionRemains),
            ClaimCheckResult(check: .amount, outcome: .passed, code: .claimWithinEntitlement),
            consumptionSpike
                ? ClaimCheckResult(check: .consumption, outcome: .referred, code: .consumptionSpikeBeforeCollapse)
                : ClaimCheckResult(check: .consumption, outcome: .passed, code: .consumptionWithinSchedule),
            disputes
                ? ClaimCheckResult(check: .disputes, outcome: .referred, code: .disputedLessons)
                : ClaimCheckResult(check: .disputes, outcome: .passed, code: .noDisputedLessons),
        ])
    }

    static func json(_ checks: [ClaimCheckResult]) -> String { sortedJSON(checks.map(ClaimCheckRecord.init)) }
}

/// JSON with sorted keys, for values whose encoding cannot fail (plain enums and strings).
func sortedJSON(_ value: some Encodable) -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = .sortedKeys
    return String(decoding: try! encoder.encode(value), as: UTF8.self)
}
