import Foundation
import NIOCore
import PostgresNIO
import TuitionCore
import TuitionWire

// The fast-track's chunks (see `FastTrackJob`): each chunk's rows are written one statement per table, set-based, and
// its evidence events in the statements that write the rows they tell of, built by `evidence_entry` (sql/0019), which
// encodes exactly as `EvidenceEvent.canonicalBytes()` (pinned by FastTrackEvidenceTests).
extension FastTrackJob {
    /// Pays one chunk of pending settlements in one transaction; returns how many it settled (0: none left).
    /// Chunks of one case may run at once: each takes settlements no other chunk holds and writes its own rows; the rows
    /// all chunks share are taken in one order — the case row, then the policies, then at COMMIT the institution's
    /// accounts (posted there from what the transfers' INSERT noted, sql/0024) — so chunks queue behind each other
    /// without deadlock.
    func settleChunk(_ id: DefunctCase.ID, waitingForOthers: Bool = false) async throws -> Int {
        try await store.transaction { connection in
            guard let context = try await chunkContext(id, on: connection) else { throw NotFound() }
            guard let ids = try await pendingSettlements(id, waitingForOthers: waitingForOthers, on: connection) else { return 0 }
            // The chunk's enrollments, in id order: a guardian filing a claim on one of them holds it, so that claim is
            // either committed (and closed below) or filed after this chunk, against the position it leaves.
            try await connection.run(
                """
                SELECT count(*) FROM (
                    SELECT 1 FROM enrollments WHERE id BETWEEN \(ids.low) AND \(ids.high) AND id = ANY(\(ids.all))
                    ORDER BY id FOR UPDATE
                ) AS locked
                """,
                logger: logger)
            // A chunk's events are sorted before they are queued: in memory, not on disk.
            try await connection.run("SELECT set_config('work_mem', '64MB', true)", logger: logger)
            let stamp = EventStamp(now: store.dependencies.now(), institution: context.institution)
            try await mappingRejections {
                try await countReturned(id, ids: ids, on: connection)
                let payouts = try await insertTransfers(id, ids: ids, context: context, stamp: stamp, on: connection)
                let closed = try await closeEarlierClaims(ids: ids, stamp: stamp, on: connection)
                try await insertClaims(id, ids: ids, context: context, payouts: payouts, stamp: stamp, on: connection)
                try await point(closed, to: id, on: connection)
                try await markSettled(id, ids: ids, at: stamp.now, on: connection)
                try await reducePolicies(id, ids: ids, riskPolicy: context.riskPolicy, on: connection)
            }
            return ids.all.count
        }
    }

    /// A chunk's enrollments, in id order, and the range they lie in: every statement of the chunk names both, so that
    /// it reads only the chunk's stretch of the case's settlements (its index range), not all of them with a filter.
    fileprivate struct ChunkEnrollments {
        var all: [UUID]
        var low: UUID
        var high: UUID
    }

    fileprivate struct ChunkContext {
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

    /// The enrollments of up to `chunkSize` pending settlements, locked: those another chunk holds are skipped, or
    /// waited for (and then, settled by it, no longer pending) when `waitingForOthers`.
    private func pendingSettlements(_ id: DefunctCase.ID, waitingForOthers: Bool, on connection: PostgresConnection) async throws
        -> ChunkEnrollments?
    {
        let rows = try await connection.query(
            """
            SELECT enrollment_id FROM defunct_settlements WHERE case_id = \(id.uuid) AND status = 'pending'
            ORDER BY enrollment_id LIMIT \(chunkSize) FOR UPDATE \(unescaped: waitingForOthers ? "" : "SKIP LOCKED")
            """, logger: logger)
        var ids: [UUID] = []
        for try await enrollment in rows.decode(UUID.self) { ids.append(enrollment) }
        guard let low = ids.first, let high = ids.last else { return nil }
        return ChunkEnrollments(all: ids, low: low, high: high)
    }

    /// One payout transfer per layer with money in it: escrow and reserve for every settlement, the insurance layers
    /// only for approved ones, and the return of a post-effective payment from escrow and from operating. Their INSERT
    /// notes what the escrow, reserve and operating accounts move, posted once for the chunk at its COMMIT (sql/0024);
    /// the database refuses any going negative. Each leg paid
    /// from the institution's own accounts (escrow, reserve, the return of a post-effective payment) gets its
    /// `funds_returned` event, referenced by its transfer's key; insurance layers are told by their claims' own events.
    private func insertTransfers(
        _ id: DefunctCase.ID, ids: ChunkEnrollments, context: ChunkContext, stamp: EventStamp, on connection: PostgresConnection
    ) async throws -> KeyRange<Int64>? {
        try await ReferenceCheckedInserts(logger: logger).run(into: "transfers", keyColumn: "id", on: connection) {
            let rows = try await connection.query(
                """
                WITH written AS (
                    INSERT INTO transfers (idempotency_key, kind, debit_account_id, credit_account_id, amount_fen, institution_id,
                        enrollment_id, created_at)
                    SELECT 'defunct:' || s.case_id || ':' || s.enrollment_id || ':' || leg.layer, 'payout', leg.debit, g.id,
                        leg.amount, s.institution_id, s.enrollment_id, \(stamp.now)
                    FROM defunct_settlements s
                    JOIN accounts g ON g.guardian_id = s.guardian_id AND g.kind = 'guardian_bank'
                    LEFT JOIN policies tp ON tp.id = s.tuition_policy_id
                    LEFT JOIN accounts ti ON ti.insurer_id = tp.insurer_id AND ti.kind = 'insurer_claims'
                    CROSS JOIN LATERAL (VALUES
                        (1, 'escrow', s.escrow_fen, \(context.escrowAccount)::bigint),
                        (2, 'reserve', s.reserve_fen, \(context.reserveAccount)::bigint),
                        (3, 'risk_policy', CASE WHEN s.decision = 'approve' THEN s.risk_policy_fen ELSE 0 END,
                            \(context.riskInsurerAccount)::bigint),
                        (4, 'tuition_policy', CASE WHEN s.decision = 'approve' THEN s.tuition_policy_fen ELSE 0 END, ti.id),
                        (5, 'return:escrow', s.return_escrow_fen, \(context.escrowAccount)::bigint),
                        (6, 'return:operating', s.return_operating_fen, \(context.operatingAccount)::bigint)
                    ) AS leg (n, layer, amount, debit)
                    WHERE s.case_id = \(id.uuid) AND s.enrollment_id BETWEEN \(ids.low) AND \(ids.high)
                      AND s.enrollment_id = ANY(\(ids.all)) AND leg.amount > 0
                    ORDER BY s.enrollment_id, leg.n
                    RETURNING id, idempotency_key, debit_account_id, enrollment_id, amount_fen),
                queued AS (
                    INSERT INTO evidence_queue (entry, queued_at)
                    SELECT evidence_entry(\(EvidenceKind.fundsReturned.rawValue), \(stamp.milliseconds), \(stamp.institution),
                        w.enrollment_id, w.amount_fen, NULL, w.idempotency_key), \(stamp.now)
                    FROM written w
                    WHERE w.debit_account_id IN (\(context.escrowAccount), \(context.reserveAccount), \(context.operatingAccount))
                    ORDER BY w.id)
                SELECT min(id) AS low, max(id) AS high FROM written
                """, logger: logger)
            return try await KeyRange<Int64>.read(rows)
        }
    }

    /// A claim per insurance layer with money in it, against the risk-control or the tuition policy, filed by the platform
    /// for the case: paid (with its transfer) when the settlement was approved, referred otherwise, carrying the contested
    /// value a person may add back (the risk-control policy's covered share of it, the tuition policy the rest). Earlier
    /// open claims on these enrollments were closed just before.
    /// Each claim's events: filed by the platform, decided (paid claims approved, the others referred), and paid when it was.
    /// `payouts`: the ids of the transfers the chunk wrote, where the paid claims' transfers are found (the whole
    /// table would be read otherwise).
    private func insertClaims(
        _ id: DefunctCase.ID, ids: ChunkEnrollments, context: ChunkContext, payouts: KeyRange<Int64>?, stamp: EventStamp,
        on connection: PostgresConnection
    ) async throws {
        let policyPassed = sortedJSON(ClaimCheckRecord(ClaimCheckResult(check: .policy, outcome: .passed, code: .policyCoversEnrollment)))
        let now = stamp.now
        try await ReferenceCheckedInserts(logger: logger).run(into: "claims", keyColumn: "id", on: connection) {
            let rows = try await connection.query(
                """
                WITH filed AS (
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
                        -- The risk-control policy may add back its covered share of the contested value, the tuition
                        -- policy the rest (`SettlementPlan.planned`).
                        CASE WHEN approved THEN 0 WHEN layer.name = 'risk_policy' THEN s.risk_contested_fen
                             ELSE s.contested_fen - s.risk_contested_fen END,
                        s.case_id, layer.name
                    FROM defunct_settlements s
                    CROSS JOIN LATERAL (SELECT s.decision = 'approve' AS approved) d
                    CROSS JOIN LATERAL (VALUES
                        ('risk_policy', \(context.riskPolicy)::uuid, s.risk_policy_fen),
                        ('tuition_policy', s.tuition_policy_id, s.tuition_policy_fen)
                    ) AS layer (name, policy_id, amount)
                    JOIN policies p ON p.id = layer.policy_id
                    LEFT JOIN transfers t ON d.approved AND t.id BETWEEN \(payouts?.low ?? 0) AND \(payouts?.high ?? 0)
                        AND t.idempotency_key = 'defunct:' || s.case_id || ':' || s.enrollment_id || ':' || layer.name
                    WHERE s.case_id = \(id.uuid) AND s.enrollment_id BETWEEN \(ids.low) AND \(ids.high)
                      AND s.enrollment_id = ANY(\(ids.all)) AND layer.amount > 0
                    RETURNING id, enrollment_id, claimed_fen, status, layer),
                queued AS (
                    INSERT INTO evidence_queue (entry, queued_at)
                    -- An amount where one is claimed, approved or paid; a referral decides none (as `ClaimRepository`).
                    SELECT evidence_entry(e.kind, \(stamp.milliseconds), \(stamp.institution), f.enrollment_id,
                        CASE WHEN e.status IS DISTINCT FROM 'referred' THEN f.claimed_fen END, NULL,
                        'claim:' || f.id || coalesce(':' || e.status, '')), \(now)
                    FROM filed f
                    CROSS JOIN LATERAL (VALUES
                        (1, \(EvidenceKind.claimFiled.rawValue), 'platform'),
                        (2, \(EvidenceKind.claimDecided.rawValue), CASE WHEN f.status = 'paid' THEN 'approved' ELSE 'referred' END),
                        (3, \(EvidenceKind.claimPaid.rawValue), NULL)
                    ) AS e (n, kind, status)
                    WHERE e.n < 3 OR f.status = 'paid'
                    ORDER BY f.enrollment_id, f.layer, e.n)
                -- uuid has no min/max before PostgreSQL 16; its text form sorts as its bytes do.
                SELECT min(id::text)::uuid AS low, max(id::text)::uuid AS high FROM filed
                """, logger: logger)
            return try await KeyRange<UUID>.read(rows)
        }
    }

    /// Open claims the guardians filed on these enrollments before the mark, each with its `claim_decided` event: the
    /// fast-track settles the whole entitlement, so each is closed, pointing (`point`) to the case's own claim on the
    /// same policy when there is one. Returns the closed claims' ids.
    private func closeEarlierClaims(ids: ChunkEnrollments, stamp: EventStamp, on connection: PostgresConnection) async throws -> [UUID] {
        let rows = try await connection.query(
            """
            WITH closed AS (
                UPDATE claims SET status = 'closed', decided_at = \(stamp.now),
                    decision_reason = left('superseded_by_fast_track' || coalesce(': ' || decision_reason, ''), 1000)
                WHERE enrollment_id = ANY(\(ids.all)) AND status NOT IN ('paid', 'rejected', 'closed') AND defunct_case_id IS NULL
                  AND institution_id = \(stamp.institution)
                RETURNING id, enrollment_id, claimed_fen),
            queued AS (
                -- A closing moves nothing: no amount, as `ClaimRepository.close` writes it.
                INSERT INTO evidence_queue (entry, queued_at)
                SELECT evidence_entry(\(EvidenceKind.claimDecided.rawValue), \(stamp.milliseconds), \(stamp.institution),
                    enrollment_id, NULL, NULL, 'claim:' || id || ':closed'), \(stamp.now)
                FROM closed ORDER BY enrollment_id, id)
            SELECT id FROM closed
            """, logger: logger)
        var closed: [UUID] = []
        for try await claim in rows.decode(UUID.self) { closed.append(claim) }
        return closed
    }

    /// Each closed claim points to the case's claim on the same enrollment and policy, when there is one.
    private func point(_ closed: [UUID], to id: DefunctCase.ID, on connection: PostgresConnection) async throws {
        guard !closed.isEmpty else { return }
        try await connection.query(
            """
            UPDATE claims o SET superseded_by = n.id
            FROM claims n
            WHERE o.id = ANY(\(closed)) AND n.defunct_case_id = \(id.uuid) AND n.enrollment_id = o.enrollment_id
              AND n.policy_id = o.policy_id
            """, logger: logger)
    }

    /// The enrollments' counters of what went back to their guardians, as the chunk's transfers move it.
    private func countReturned(_ id: DefunctCase.ID, ids: ChunkEnrollments, on connection: PostgresConnection) async throws {
        try await connection.query(
            """
            UPDATE enrollments e SET returned_fen = e.returned_fen + x.total, escrow_returned_fen = e.escrow_returned_fen + x.escrow
            FROM (
                SELECT enrollment_id, escrow_fen + return_escrow_fen AS escrow,
                    escrow_fen + reserve_fen + return_escrow_fen + return_operating_fen
                        + CASE WHEN decision = 'approve' THEN risk_policy_fen + tuition_policy_fen ELSE 0 END AS total
                FROM defunct_settlements WHERE case_id = \(id.uuid) AND enrollment_id BETWEEN \(ids.low) AND \(ids.high)
                    AND enrollment_id = ANY(\(ids.all))) x
            WHERE e.id = x.enrollment_id AND x.total > 0
            """, logger: logger)
    }

    /// What is left of each policy, reduced by the approved insurance layers; the database refuses going below zero.
    private func reducePolicies(_ id: DefunctCase.ID, ids: ChunkEnrollments, riskPolicy: UUID?, on connection: PostgresConnection)
        async throws
    {
        try await connection.query(
            """
            UPDATE policies p SET remaining_fen = p.remaining_fen - x.fen
            FROM (
                SELECT layer.policy_id, sum(layer.amount) AS fen
                FROM defunct_settlements s
                CROSS JOIN LATERAL (VALUES (\(riskPolicy)::uuid, s.risk_policy_fen), (s.tuition_policy_id, s.tuition_policy_fen))
                    AS layer (policy_id, amount)
                WHERE s.case_id = \(id.uuid) AND s.enrollment_id BETWEEN \(ids.low) AND \(ids.high)
                  AND s.enrollment_id = ANY(\(ids.all)) AND s.decision = 'approve' AND layer.amount > 0
                GROUP BY layer.policy_id) x
            WHERE p.id = x.policy_id
            """, logger: logger)
    }

    /// The settlements' statuses and the case's progress counters, in one statement.
    private func markSettled(_ id: DefunctCase.ID, ids: ChunkEnrollments, at now: Date, on connection: PostgresConnection) async throws {
        try await connection.query(
            """
            WITH settled AS (
                UPDATE defunct_settlements s
                SET status = CASE WHEN s.decision = 'approve' THEN 'paid' ELSE 'referred' END, settled_at = \(now)
                WHERE s.case_id = \(id.uuid) AND s.enrollment_id BETWEEN \(ids.low) AND \(ids.high)
                  AND s.enrollment_id = ANY(\(ids.all)) AND s.status = 'pending'
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
}

/// When a chunk's rows were written and whose they are, as its evidence events carry it: the time in whole
/// milliseconds exactly as `EvidenceEvent` takes it from a `Date`.
struct EventStamp {
    var now: Date
    var institution: UUID
    var milliseconds: Int64

    init(now: Date, institution: UUID) {
        self.now = now
        self.institution = institution
        milliseconds = EvidenceEvent(kind: .fundsReturned, occurredAt: now, institution: .init(institution)).occurredAtMilliseconds
    }
}
