import Foundation
import NIOCore
import PostgresNIO
import TuitionCore

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
    /// `progress` is called after the plan and after each chunk with the case as committed.
    @discardableResult
    public func run(_ id: DefunctCase.ID, progress: (@Sendable (DefunctCaseRecord) async -> Void)? = nil) async throws
        -> DefunctCaseRecord
    {
        try await resume(id)
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

    /// A blocked case runs again only when asked (`tuitionguard defunct run`, or `run` called directly): its state goes
    /// back to running first.
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
            // it holds its enrollment's lock, so taking every enrollment's lock waits it out.
            try await connection.run(
                "SELECT count(*) FROM (SELECT 1 FROM enrollments WHERE institution_id = \(institution) FOR UPDATE) AS waited",
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
            _ = try await ReferenceCheckedInserts(logger: logger).run(into: "defunct_settlements", keyColumn: "case_id", on: connection) {
                try await insertPlan(
                    id, institution: institution, effectiveAt: effectiveAt, reserve: reserve, operating: operating, risk: risk,
                    on: connection)
                return [id.uuid]
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
            "SELECT credits_fen - debits_fen FROM accounts WHERE institution_id = \(institution) AND kind = \(kind.rawValue)",
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
              AND p.period_start <= \(effectiveAt) AND \(effectiveAt) < p.period_end
              AND (p.cancelled_at IS NULL OR p.cancelled_at > \(effectiveAt))
            ORDER BY p.remaining_fen DESC, p.id LIMIT 1
            FOR UPDATE OF p
            """, logger: logger)
        for try await (id, share, remaining) in rows.decode((UUID, Int, Int64).self) {
            return RiskCover(id: id, coveredShareBasisPoints: share, remaining: remaining)
        }
        return nil
    }

    /// The plan: the ledger facts of every enrollment as of the effective time (`EnrollmentLedgerFacts`), the entitlement,
    /// the checks, and the waterfall's layers (`allocate_pro_rata` is its pro-rata rule), in one statement.
    private func insertPlan(
        _ id: DefunctCase.ID, institution: UUID, effectiveAt: Date, reserve: Int64, operating: Int64, risk: RiskCover?,
        on connection: PostgresConnection
    ) async throws {
        let checks = SettlementChecks()
        let window = Int(consumptionSpikeWindow)
        try await connection.query(
            """
            WITH consumed AS (
                SELECT enrollment_id,
                    (sum(lessons) FILTER (WHERE recorded_at >= \(effectiveAt) - make_interval(secs => \(window))
                                            AND recorded_at < \(effectiveAt)))::bigint AS recent,
                    (sum(lessons) FILTER (WHERE status = 'disputed' AND recorded_at < \(effectiveAt)))::bigint AS disputed_lessons,
                    (sum(lessons) FILTER (WHERE status <> 'disputed' AND recorded_at >= \(effectiveAt) - make_interval(secs => \(window))
                                            AND recorded_at < \(effectiveAt)))::bigint AS recent_undisputed
                FROM lessons WHERE institution_id = \(institution) GROUP BY enrollment_id),
            tuition_cover AS (
                SELECT DISTINCT ON (enrollment_id) enrollment_id, id, remaining_fen FROM policies
                WHERE institution_id = \(institution) AND kind = 'student_tuition'
                  AND period_start <= \(effectiveAt) AND \(effectiveAt) < period_end
                  AND (cancelled_at IS NULL OR cancelled_at > \(effectiveAt))
                ORDER BY enrollment_id, id),
            -- The enrollment's position (the view `enrollment_positions`, the one definition) and its checks.
            facts AS (
                SELECT p.enrollment_id AS id, p.institution_id, p.guardian_id, p.escrow_held_fen AS escrow_held,
                    p.entitlement_fen AS entitled, p.return_due_fen AS return_due, p.price_per_lesson_fen AS price,
                    7 * coalesce(l.recent, 0) > 60 * c.lessons_per_week AS spike,
                    coalesce(l.disputed_lessons, 0) > 0 AS disputed,
                    coalesce(l.disputed_lessons, 0) AS disputed_lessons, coalesce(l.recent_undisputed, 0) AS recent_undisputed,
                    tp.id AS tuition_policy_id, coalesce(tp.remaining_fen, 0) AS tuition_cover
                FROM enrollment_positions p
                JOIN courses c ON c.id = p.course_id
                LEFT JOIN consumed l ON l.enrollment_id = p.enrollment_id
                LEFT JOIN tuition_cover tp ON tp.enrollment_id = p.enrollment_id
                WHERE p.institution_id = \(institution)),
            entitled AS (
                SELECT f.*, least(f.escrow_held, f.entitled) AS escrow_part FROM facts f WHERE f.entitled > 0),
            reserve_split AS (
                SELECT a.id, a.part FROM (
                    SELECT least(\(reserve)::bigint, coalesce(sum(entitled - escrow_part), 0))::bigint AS pool,
                        array_agg(id ORDER BY id) AS ids, array_agg(entitled - escrow_part ORDER BY id) AS weights
                    FROM entitled) x
                CROSS JOIN LATERAL allocate_pro_rata(x.pool, x.ids, x.weights) a),
            after_reserve AS (
                SELECT e.*, r.part AS reserve_part,
                    least(e.entitled - e.escrow_part - r.part, (e.entitled * \(risk?.coveredShareBasisPoints ?? 0)) / 10000) AS risk_cap
                FROM entitled e JOIN reserve_split r ON r.id = e.id),
            risk_split AS (
                SELECT a.id, a.part FROM (
                    SELECT least(\(risk?.remaining ?? 0)::bigint, coalesce(sum(risk_cap), 0))::bigint AS pool,
                        array_agg(id ORDER BY id) AS ids, array_agg(risk_cap ORDER BY id) AS weights
                    FROM after_reserve) x
                CROSS JOIN LATERAL allocate_pro_rata(x.pool, x.ids, x.weights) a),
            planned AS (
                SELECT ar.*, rs.part AS risk_part,
                    least(ar.entitled - ar.escrow_part - ar.reserve_part - rs.part, ar.tuition_cover) AS tuition_part
                FROM after_reserve ar JOIN risk_split rs ON rs.id = ar.id),
            -- Payments made at or after the effective time go back in full: from the escrow held for them, then from
            -- the operating account pro rata; what neither holds is uncovered.
            returns AS (
                SELECT f.*, least(f.escrow_held, f.return_due) AS return_escrow FROM facts f WHERE f.return_due > 0),
            return_split AS (
                SELECT a.id, a.part FROM (
                    SELECT least(\(operating)::bigint, coalesce(sum(return_due - return_escrow), 0))::bigint AS pool,
                        array_agg(id ORDER BY id) AS ids, array_agg(return_due - return_escrow ORDER BY id) AS weights
                    FROM returns) x
                CROSS JOIN LATERAL allocate_pro_rata(x.pool, x.ids, x.weights) a)
            INSERT INTO defunct_settlements (case_id, enrollment_id, institution_id, guardian_id, entitlement_fen, escrow_fen,
                reserve_fen, risk_policy_fen, tuition_policy_fen, uncovered_fen, tuition_policy_id, checks, decision, contested_fen,
                return_due_fen, return_escrow_fen, return_operating_fen, return_uncovered_fen)
            SELECT \(id.uuid), id, institution_id, guardian_id, entitled, escrow_part, reserve_part, risk_part, tuition_part,
                entitled - escrow_part - reserve_part - risk_part - tuition_part,
                CASE WHEN tuition_part > 0 THEN tuition_policy_id END,
                (CASE WHEN spike AND disputed THEN \(checks.spikeAndDisputes) WHEN spike THEN \(checks.spike)
                      WHEN disputed THEN \(checks.disputes) ELSE \(checks.clean) END)::jsonb,
                CASE WHEN spike OR disputed THEN 'refer' ELSE 'approve' END,
                -- `contestedValue`: the disputed lessons' value, and the burst's undisputed ones when there is a burst.
                CASE WHEN spike OR disputed THEN price * (disputed_lessons + CASE WHEN spike THEN recent_undisputed ELSE 0 END) ELSE 0 END,
                0, 0, 0, 0
            FROM planned
            UNION ALL
            SELECT \(id.uuid), r.id, r.institution_id, r.guardian_id, 0, 0, 0, 0, 0, 0, NULL, '[]'::jsonb, 'approve', 0,
                r.return_due, r.return_escrow, s.part, r.return_due - r.return_escrow - s.part
            FROM returns r JOIN return_split s ON s.id = r.id
            """, logger: logger)
    }

    // MARK: Settle

    /// Pays one chunk of pending settlements in one transaction; returns how many it settled (0: none left).
    /// Chunks of one case may run at once: each takes settlements no other chunk holds, writes its own rows, and only
    /// then updates the rows all chunks share, the case row first, so those updates queue behind each other without
    /// deadlock.
    func settleChunk(_ id: DefunctCase.ID, waitingForOthers: Bool = false) async throws -> Int {
        try await store.transaction { connection in
            guard let context = try await chunkContext(id, on: connection) else { throw NotFound() }
            let chunk = try await pendingSettlements(id, waitingForOthers: waitingForOthers, on: connection)
            guard !chunk.isEmpty else { return 0 }
            let ids = chunk.map(\.enrollment)
            // The chunk's enrollments, in id order: a guardian filing a claim on one of them holds it, so that claim is
            // either committed (and closed below) or filed after this chunk, against the position it leaves.
            try await connection.run(
                "SELECT count(*) FROM (SELECT 1 FROM enrollments WHERE id = ANY(\(ids)) ORDER BY id FOR UPDATE) AS locked",
                logger: logger)
            let now = store.dependencies.now()
            var events: [EvidenceEvent] = []
            try await mappingRejections {
                let checked = ReferenceCheckedInserts(logger: logger)
                _ = try await checked.run(into: "transfers", keyColumn: "id", on: connection) {
                    try await insertTransfers(id, ids: ids, context: context, at: now, on: connection)
                }
                let closed = try await closeEarlierClaims(ids: ids, institution: context.institution, at: now, on: connection)
                var filed: [JobClaim] = []
                _ = try await checked.run(into: "claims", keyColumn: "id", on: connection) {
                    filed = try await insertClaims(id, ids: ids, context: context, at: now, on: connection)
                    return filed.map(\.id)
                }
                try await point(closed, to: filed, on: connection)
                try await countReturned(id, ids: ids, on: connection)
                try await markSettled(id, ids: ids, at: now, on: connection)
                try await debitInstitutionAccounts(chunk, institution: context.institution, on: connection)
                try await reducePolicies(id, ids: ids, riskPolicy: context.riskPolicy, on: connection)
                events = closed.map { $0.event(.claimDecided, status: "closed", institution: context.institution, at: now) }
                events += filed.flatMap { $0.events(institution: context.institution, at: now) }
            }
            events += fundEvents(id, chunk: chunk, institution: context.institution, at: now)
            try await EvidenceQueue(store: store).enqueue(events, at: now, on: connection)
            return chunk.count
        }
    }

    private struct ChunkContext {
        var institution: UUID
        var effectiveAt: Date
        var riskPolicy: UUID?
        var riskInsurerAccount: Int64?
        var escrowAccount: Int64
        var reserveAccount: Int64
        var operatingAccount: Int64
    }

    /// What every chunk needs, fixed once the case is planned.
    private func chunkContext(_ id: DefunctCase.ID, on connection: PostgresConnection) async throws -> ChunkContext? {
        let rows = try await connection.query(
            """
            SELECT dc.institution_id, dc.effective_at, dc.risk_policy_id, ra.id, esc.id, res.id, op.id
            FROM defunct_cases dc
            JOIN accounts esc ON esc.institution_id = dc.institution_id AND esc.kind = 'escrow'
            JOIN accounts res ON res.institution_id = dc.institution_id AND res.kind = 'reserve'
            JOIN accounts op ON op.institution_id = dc.institution_id AND op.kind = 'operating'
            LEFT JOIN policies rp ON rp.id = dc.risk_policy_id
            LEFT JOIN accounts ra ON ra.insurer_id = rp.insurer_id AND ra.kind = 'insurer_claims'
            WHERE dc.id = \(id.uuid) AND dc.planned_at IS NOT NULL
            """, logger: logger)
        for try await (institution, effectiveAt, risk, riskAccount, escrow, reserve, operating) in rows.decode(
            (UUID, Date, UUID?, Int64?, Int64, Int64, Int64).self)
        {
            return ChunkContext(
                institution: institution, effectiveAt: effectiveAt, riskPolicy: risk, riskInsurerAccount: riskAccount,
                escrowAccount: escrow, reserveAccount: reserve, operatingAccount: operating)
        }
        return nil
    }

    private struct PendingSettlement {
        var enrollment: UUID
        var escrow: Int64
        var reserve: Int64
        var returnEscrow: Int64
        var returnOperating: Int64
    }

    /// Up to `chunkSize` pending settlements, locked: those another chunk holds are skipped, or waited for (and then,
    /// settled by it, no longer pending) when `waitingForOthers`.
    private func pendingSettlements(_ id: DefunctCase.ID, waitingForOthers: Bool, on connection: PostgresConnection) async throws
        -> [PendingSettlement]
    {
        let rows = try await connection.query(
            """
            SELECT enrollment_id, escrow_fen, reserve_fen, return_escrow_fen, return_operating_fen
            FROM defunct_settlements WHERE case_id = \(id.uuid) AND status = 'pending'
            ORDER BY enrollment_id LIMIT \(chunkSize) FOR UPDATE \(unescaped: waitingForOthers ? "" : "SKIP LOCKED")
            """, logger: logger)
        var chunk: [PendingSettlement] = []
        for try await (enrollment, escrow, reserve, returnEscrow, returnOperating) in rows.decode((UUID, Int64, Int64, Int64, Int64).self) {
            chunk.append(
                PendingSettlement(
                    enrollment: enrollment, escrow: escrow, reserve: reserve, returnEscrow: returnEscrow, returnOperating: returnOperating))
        }
        return chunk
    }

    /// One payout transfer per layer with money in it: escrow and reserve for every settlement, the insurance layers
    /// only for approved ones, and the return of a post-effective payment from escrow and from operating.
    private func insertTransfers(_ id: DefunctCase.ID, ids: [UUID], context: ChunkContext, at now: Date, on connection: PostgresConnection)
        async throws -> [Int64]
    {
        let rows = try await connection.query(
            """
            INSERT INTO transfers (idempotency_key, kind, debit_account_id, credit_account_id, amount_fen, institution_id,
                enrollment_id, created_at)
            SELECT 'defunct:' || s.case_id || ':' || s.enrollment_id || ':' || leg.layer, 'payout', leg.debit, g.id, leg.amount,
                s.institution_id, s.enrollment_id, \(now)
            FROM defunct_settlements s
            JOIN accounts g ON g.guardian_id = s.guardian_id AND g.kind = 'guardian_bank'
            LEFT JOIN policies tp ON tp.id = s.tuition_policy_id
            LEFT JOIN accounts ti ON ti.insurer_id = tp.insurer_id AND ti.kind = 'insurer_claims'
            CROSS JOIN LATERAL (VALUES
                ('escrow', s.escrow_fen, \(context.escrowAccount)::bigint),
                ('reserve', s.reserve_fen, \(context.reserveAccount)::bigint),
                ('risk_policy', CASE WHEN s.decision = 'approve' THEN s.risk_policy_fen ELSE 0 END, \(context.riskInsurerAccount)::bigint),
                ('tuition_policy', CASE WHEN s.decision = 'approve' THEN s.tuition_policy_fen ELSE 0 END, ti.id),
                ('return:escrow', s.return_escrow_fen, \(context.escrowAccount)::bigint),
                ('return:operating', s.return_operating_fen, \(context.operatingAccount)::bigint)
            ) AS leg (layer, amount, debit)
            WHERE s.case_id = \(id.uuid) AND s.enrollment_id = ANY(\(ids)) AND leg.amount > 0
            RETURNING id
            """, logger: logger)
        var written: [Int64] = []
        for try await transfer in rows.decode(Int64.self) { written.append(transfer) }
        return written
    }

    /// A claim per insurance layer with money in it, against the risk-control or the tuition policy, filed by the platform
    /// for the case: paid (with its transfer) when the settlement was approved, referred otherwise, carrying the contested
    /// value (on its first layer) a person may add back. Earlier open claims on these enrollments were closed just before.
    private func insertClaims(_ id: DefunctCase.ID, ids: [UUID], context: ChunkContext, at now: Date, on connection: PostgresConnection)
        async throws -> [JobClaim]
    {
        let policyPassed = sortedJSON(ClaimCheckRecord(ClaimCheckResult(check: .policy, outcome: .passed, code: .policyCoversEnrollment)))
        let rows = try await connection.query(
            """
            INSERT INTO claims (id, number, guardian_id, enrollment_id, institution_id, policy_id, insurer_id, reason, claimed_fen,
                entitlement_fen, approvable_fen, approved_fen, paid_fen, status, checks, decision_reason, event_time, created_at,
                decided_at, paid_at, payout_transfer_id, contested_fen, defunct_case_id, layer)
            SELECT uuid_v7_at(\(now)),
                'TGC' || to_char(\(now)::timestamptz AT TIME ZONE 'Asia/Shanghai', 'YYYY') || lpad(nextval('claim_numbers')::text, 8, '0'), s.guardian_id, s.enrollment_id, s.institution_id, layer.policy_id,
                p.insurer_id, 'institution_defunct', layer.amount, s.entitlement_fen, layer.amount,
                CASE WHEN approved THEN layer.amount ELSE 0 END, CASE WHEN approved THEN layer.amount ELSE 0 END,
                CASE WHEN approved THEN 'paid' ELSE 'referred' END,
                jsonb_set(s.checks, '{1}', \(policyPassed)::jsonb),
                CASE WHEN NOT approved THEN (
                    SELECT string_agg(c ->> 'code', ',') FROM jsonb_array_elements(s.checks) AS c WHERE c ->> 'outcome' = 'referred')
                END,
                \(context.effectiveAt), \(now), CASE WHEN approved THEN \(now)::timestamptz END,
                CASE WHEN approved THEN \(now)::timestamptz END, t.id,
                CASE WHEN approved OR (layer.name = 'tuition_policy' AND s.risk_policy_fen > 0) THEN 0 ELSE s.contested_fen END,
                s.case_id, layer.name
            FROM defunct_settlements s
            CROSS JOIN LATERAL (SELECT s.decision = 'approve' AS approved) d
            CROSS JOIN LATERAL (VALUES
                ('risk_policy', \(context.riskPolicy)::uuid, s.risk_policy_fen),
                ('tuition_policy', s.tuition_policy_id, s.tuition_policy_fen)
            ) AS layer (name, policy_id, amount)
            JOIN policies p ON p.id = layer.policy_id
            LEFT JOIN transfers t ON d.approved AND t.idempotency_key = 'defunct:' || s.case_id || ':' || s.enrollment_id || ':' || layer.name
            WHERE s.case_id = \(id.uuid) AND s.enrollment_id = ANY(\(ids)) AND layer.amount > 0
            RETURNING id, enrollment_id, policy_id, claimed_fen, status
            """, logger: logger)
        var filed: [JobClaim] = []
        for try await (claim, enrollment, policy, amount, status) in rows.decode((UUID, UUID, UUID, Int64, String).self) {
            filed.append(JobClaim(id: claim, enrollment: enrollment, policy: policy, amount: amount, paid: status == "paid"))
        }
        return filed
    }

    /// Open claims the guardians filed on these enrollments before the mark: the fast-track settles the whole
    /// entitlement, so each is closed, pointing (below) to the case's own claim on the same policy when there is one.
    private func closeEarlierClaims(ids: [UUID], institution: UUID, at now: Date, on connection: PostgresConnection) async throws
        -> [JobClaim]
    {
        let rows = try await connection.query(
            """
            UPDATE claims SET status = 'closed', decided_at = \(now),
                decision_reason = 'superseded_by_fast_track' || coalesce(': ' || decision_reason, '')
            WHERE enrollment_id = ANY(\(ids)) AND status NOT IN ('paid', 'rejected', 'closed') AND defunct_case_id IS NULL
              AND institution_id = \(institution)
            RETURNING id, enrollment_id, policy_id, claimed_fen
            """, logger: logger)
        var closed: [JobClaim] = []
        for try await (claim, enrollment, policy, amount) in rows.decode((UUID, UUID, UUID, Int64).self) {
            closed.append(JobClaim(id: claim, enrollment: enrollment, policy: policy, amount: amount, paid: false))
        }
        return closed
    }

    /// Each closed claim points to the case's claim on the same enrollment and policy, when there is one.
    private func point(_ closed: [JobClaim], to filed: [JobClaim], on connection: PostgresConnection) async throws {
        let successors = Dictionary(filed.map { (JobClaim.Key($0), $0.id) }, uniquingKeysWith: { first, _ in first })
        let pairs = closed.compactMap { old in successors[JobClaim.Key(old)].map { (old.id, $0) } }
        guard !pairs.isEmpty else { return }
        try await connection.query(
            """
            UPDATE claims SET superseded_by = p.new
            FROM unnest(\(pairs.map(\.0))::uuid[], \(pairs.map(\.1))::uuid[]) AS p (old, new) WHERE claims.id = p.old
            """, logger: logger)
    }

    /// The enrollments' counters of what went back to their guardians, as the transfers just written moved it.
    private func countReturned(_ id: DefunctCase.ID, ids: [UUID], on connection: PostgresConnection) async throws {
        try await connection.query(
            """
            UPDATE enrollments e SET returned_fen = e.returned_fen + x.total, escrow_returned_fen = e.escrow_returned_fen + x.escrow
            FROM (
                SELECT enrollment_id, escrow_fen + return_escrow_fen AS escrow,
                    escrow_fen + reserve_fen + return_escrow_fen + return_operating_fen
                        + CASE WHEN decision = 'approve' THEN risk_policy_fen + tuition_policy_fen ELSE 0 END AS total
                FROM defunct_settlements WHERE case_id = \(id.uuid) AND enrollment_id = ANY(\(ids))) x
            WHERE e.id = x.enrollment_id AND x.total > 0
            """, logger: logger)
    }

    /// The escrow, reserve and operating accounts' posted totals, in one statement; the database refuses any going negative.
    private func debitInstitutionAccounts(_ chunk: [PendingSettlement], institution: UUID, on connection: PostgresConnection) async throws {
        let escrow = chunk.reduce(Int64(0)) { $0 + $1.escrow + $1.returnEscrow }
        let reserve = chunk.reduce(Int64(0)) { $0 + $1.reserve }
        let operating = chunk.reduce(Int64(0)) { $0 + $1.returnOperating }
        try await connection.query(
            """
            UPDATE accounts SET debits_fen = debits_fen
                + CASE kind WHEN 'escrow' THEN \(escrow) WHEN 'reserve' THEN \(reserve) ELSE \(operating) END
            WHERE institution_id = \(institution) AND kind IN ('escrow', 'reserve', 'operating')
            """, logger: logger)
    }

    /// What is left of each policy, reduced by the approved insurance layers; the database refuses going below zero.
    private func reducePolicies(_ id: DefunctCase.ID, ids: [UUID], riskPolicy: UUID?, on connection: PostgresConnection) async throws {
        try await connection.query(
            """
            UPDATE policies p SET remaining_fen = p.remaining_fen - x.fen
            FROM (
                SELECT layer.policy_id, sum(layer.amount) AS fen
                FROM defunct_settlements s
                CROSS JOIN LATERAL (VALUES (\(riskPolicy)::uuid, s.risk_policy_fen), (s.tuition_policy_id, s.tuition_policy_fen))
                    AS layer (policy_id, amount)
                WHERE s.case_id = \(id.uuid) AND s.enrollment_id = ANY(\(ids)) AND s.decision = 'approve' AND layer.amount > 0
                GROUP BY layer.policy_id) x
            WHERE p.id = x.policy_id
            """, logger: logger)
    }

    /// The settlements' statuses and the case's progress counters, in one statement.
    private func markSettled(_ id: DefunctCase.ID, ids: [UUID], at now: Date, on connection: PostgresConnection) async throws {
        try await connection.query(
            """
            WITH settled AS (
                UPDATE defunct_settlements s
                SET status = CASE WHEN s.decision = 'approve' THEN 'paid' ELSE 'referred' END, settled_at = \(now)
                WHERE s.case_id = \(id.uuid) AND s.enrollment_id = ANY(\(ids)) AND s.status = 'pending'
                RETURNING s.*)
            UPDATE defunct_cases dc SET
                enrollments_done = dc.enrollments_done + x.n,
                paid_escrow_fen = dc.paid_escrow_fen + x.escrow,
                paid_reserve_fen = dc.paid_reserve_fen + x.reserve,
                paid_risk_policy_fen = dc.paid_risk_policy_fen + x.risk,
                paid_tuition_policy_fen = dc.paid_tuition_policy_fen + x.tuition,
                referred_count = dc.referred_count + x.referred,
                referred_fen = dc.referred_fen + x.referred_fen,
                uncovered_fen = dc.uncovered_fen + x.uncovered,
                paid_return_fen = dc.paid_return_fen + x.returned,
                return_uncovered_fen = dc.return_uncovered_fen + x.return_uncovered
            FROM (
                SELECT count(*)::int AS n, coalesce(sum(escrow_fen), 0) AS escrow, coalesce(sum(reserve_fen), 0) AS reserve,
                    coalesce(sum(risk_policy_fen) FILTER (WHERE decision = 'approve'), 0) AS risk,
                    coalesce(sum(tuition_policy_fen) FILTER (WHERE decision = 'approve'), 0) AS tuition,
                    (count(*) FILTER (WHERE decision = 'refer'))::int AS referred,
                    coalesce(sum(risk_policy_fen + tuition_policy_fen) FILTER (WHERE decision = 'refer'), 0) AS referred_fen,
                    coalesce(sum(uncovered_fen), 0) AS uncovered,
                    coalesce(sum(return_escrow_fen + return_operating_fen), 0) AS returned,
                    coalesce(sum(return_uncovered_fen), 0) AS return_uncovered
                FROM settled) x
            WHERE dc.id = \(id.uuid)
            """, logger: logger)
    }

    /// One `funds_returned` event per leg paid from the institution's own accounts (escrow, reserve, the return of a
    /// post-effective payment), keyed by its transfer; insurance layers are told by their claims' own events.
    private func fundEvents(_ id: DefunctCase.ID, chunk: [PendingSettlement], institution: UUID, at now: Date) -> [EvidenceEvent] {
        chunk.flatMap { settlement in
            [
                ("escrow", settlement.escrow), ("reserve", settlement.reserve), ("return:escrow", settlement.returnEscrow),
                ("return:operating", settlement.returnOperating),
            ]
            .filter { $0.1 > 0 }
            .map { layer, amount in
                EvidenceEvent(
                    kind: .fundsReturned, occurredAt: now, institution: .init(institution), enrollment: .init(settlement.enrollment),
                    amount: Money(fen: amount), reference: "defunct:\(id):\(settlement.enrollment.uuidString.lowercased()):\(layer)")
            }
        }
    }

    // MARK: Complete

    /// Marks the case completed once nothing is pending; a no-op when it already is.
    func complete(_ id: DefunctCase.ID) async throws {
        try await store.query(
            """
            UPDATE defunct_cases SET status = 'completed', completed_at = \(store.dependencies.now())
            WHERE id = \(id.uuid) AND status = 'running' AND planned_at IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM defunct_settlements WHERE case_id = \(id.uuid) AND status = 'pending')
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

/// A claim the chunk filed or closed, for its evidence events.
struct JobClaim {
    var id: UUID
    var enrollment: UUID
    var policy: UUID
    var amount: Int64
    var paid: Bool

    func event(_ kind: EvidenceKind, status: String?, institution: UUID, at now: Date) -> EvidenceEvent {
        EvidenceEvent(
            kind: kind, occurredAt: now, institution: .init(institution), enrollment: .init(enrollment), amount: Money(fen: amount),
            reference: "claim:\(id.uuidString.lowercased())" + (status.map { ":" + $0 } ?? ""))
    }

    struct Key: Hashable {
        var enrollment: UUID
        var policy: UUID
        init(_ claim: JobClaim) {
            enrollment = claim.enrollment
            policy = claim.policy
        }
    }

    /// Filed by the platform, decided (paid claims approved, the others referred), and paid when it was.
    func events(institution: UUID, at now: Date) -> [EvidenceEvent] {
        [
            event(.claimFiled, status: "platform", institution: institution, at: now),
            event(.claimDecided, status: paid ? "approved" : "referred", institution: institution, at: now),
        ] + (paid ? [event(.claimPaid, status: nil, institution: institution, at: now)] : [])
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
