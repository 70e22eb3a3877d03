import PostgresNIO

/// Reconciles the ledger with the evidence log. Every money movement (each transfer but the per-lesson releases, whose
/// lessons are logged instead), every lesson record, every policy, every claim filed, every institution registered,
/// every contract both parties signed and every defunct mark must have exactly one event, logged or still queued, with the same amount; every such event must name a fact
/// that happened, with that amount. Every claim's status and approved amount are what its last logged word says.
///
/// `InvariantAudit` re-derives the ledger's counters from its transfers, and `log audit` the log from its signed head;
/// neither sees a transfer written without its event, an event deleted from the queue before it was sequenced, an event
/// queued for nothing, or an amount rewritten consistently in the ledger after it was logged. This does.
public struct LedgerLogReconciliation: Sendable {
    let store: Store

    public init(store: Store) { self.store = store }

    /// One line per disagreement; empty when the ledger and the log tell the same story.
    public func breaches(on transaction: StoreTransaction? = nil) async throws -> [String] {
        let rows = try await store.query(PostgresQuery(unsafeSQL: Self.sql), on: transaction)
        var found: [String] = []
        for try await line in rows.decode(String.self) { found.append(line) }
        return found
    }

    /// An instant's whole milliseconds since 1970, as its event carries them (`wholeMilliseconds`).
    private static func milliseconds(_ column: String) -> String { "floor(extract(epoch FROM \(column)) * 1000)::bigint" }

    /// The facts each event stands for, as (kind, reference, enrollment, amount, lessons, millisecond), beside the events
    /// as logged; each claim beside its last logged word; and, for the money that leaves to a guardian, whose bank it
    /// reached.
    static let sql = """
        WITH logged AS (
            -- Every event, logged or still queued, once, in the order it was logged (the queue after the log).
            SELECT convert_from(entry, 'UTF8')::jsonb AS e, index AS ord FROM log_entries
            UNION ALL
            SELECT convert_from(entry, 'UTF8')::jsonb, (1::bigint << 62) + id FROM evidence_queue),
        events AS (
            -- A claim is filed once, under `claim:<id>:<its status then>`; the status then is in no table, so the id says it.
            SELECT e ->> 'kind' AS kind,
                CASE WHEN e ->> 'kind' = 'claim_filed' THEN 'claim:' || split_part(e ->> 'reference', ':', 2) ELSE e ->> 'reference' END
                    AS reference,
                coalesce(e ->> 'enrollmentId', '') AS enrollment,
                (e ->> 'amountFen')::bigint AS amount, (e ->> 'lessons')::int AS lessons,
                CASE WHEN e ->> 'kind' IN ('payment', 'lessons_consumed') THEN (e ->> 'occurredAtMilliseconds')::bigint END AS at
            FROM logged
            WHERE e ->> 'kind' IN ('payment', 'lessons_consumed', 'refund', 'reserve_topup', 'policy_issued', 'premium_paid',
                                   'claim_paid', 'funds_returned', 'contract_signed', 'institution_defunct', 'claim_filed',
                                   'institution_registered')),
        facts AS (
            -- A payment is logged with the lessons it bought: an enrollment's lessons and price reshuffled to the same
            -- amount after the fact would release its tuition at another rate. It and each lesson record are logged at
            -- the millisecond they were written: the fast-track decides by those times (paid before the effective time,
            -- lessons before it, in the burst window), so moving one after the fact would move money.
            SELECT 'payment' AS kind, 'payment:' || t.enrollment_id AS reference, coalesce(t.enrollment_id::text, '') AS enrollment,
                t.amount_fen AS amount, e.lessons_bought AS lessons, \(milliseconds("t.created_at")) AS at
            FROM transfers t LEFT JOIN enrollments e ON e.id = t.enrollment_id WHERE t.kind = 'payment'
            UNION ALL
            SELECT 'refund', t.idempotency_key, coalesce(t.enrollment_id::text, ''), t.amount_fen, r.lessons, NULL
            FROM transfers t LEFT JOIN refunds r ON 'refund:' || r.id = t.idempotency_key WHERE t.kind = 'refund'
            UNION ALL
            SELECT 'reserve_topup', 'transfer:' || t.id, '', t.amount_fen, NULL, NULL FROM transfers t WHERE t.kind = 'reserve_topup'
            UNION ALL
            -- A premium is logged under its policy; one that bought no policy under its transfer, where no event is.
            SELECT 'premium_paid', coalesce('policy:' || p.id, 'transfer:' || t.id), coalesce(p.enrollment_id::text, ''),
                t.amount_fen, NULL, NULL
            FROM transfers t LEFT JOIN policies p ON p.premium_transfer_id = t.id WHERE t.kind = 'premium'
            UNION ALL
            -- A payout is a claim's insurer layer (a guardian's claim, or a defunct case's insurance layer), logged as
            -- the claim paid, or one from the institution's accounts (a case's, or a guardian's claim's escrow layer),
            -- logged under its transfer key.
            SELECT CASE WHEN c.id IS NULL THEN 'funds_returned' ELSE 'claim_paid' END,
                coalesce('claim:' || c.id, t.idempotency_key), coalesce(t.enrollment_id::text, ''), t.amount_fen, NULL, NULL
            FROM transfers t LEFT JOIN claims c ON c.payout_transfer_id = t.id WHERE t.kind = 'payout'
            UNION ALL
            -- A claim the escrow paid in full is logged paid with no insurer money.
            SELECT 'claim_paid', 'claim:' || c.id, c.enrollment_id::text, NULL, NULL, NULL
            FROM claims c WHERE c.status = 'paid' AND c.payout_transfer_id IS NULL
            UNION ALL
            SELECT 'lessons_consumed', 'lesson:' || l.id, l.enrollment_id::text, l.lessons * e.price_per_lesson_fen, l.lessons,
                \(milliseconds("l.recorded_at"))
            FROM lessons l JOIN enrollments e ON e.id = l.enrollment_id
            UNION ALL
            SELECT 'policy_issued', 'policy:' || p.id, coalesce(p.enrollment_id::text, ''), p.sum_insured_fen, NULL, NULL
            FROM policies p
            UNION ALL
            -- A contract both parties signed, once, with its signed document's hash and the order's amount: the signed
            -- contract a payment needs.
            SELECT 'contract_signed', 'contract:' || c.id || ':' || c.document_sha256, c.enrollment_id::text, e.amount_fen, NULL, NULL
            FROM contracts c JOIN enrollments e ON e.id = c.enrollment_id WHERE c.status = 'signed'
            UNION ALL
            -- A defunct mark, with the effective time its case was settled as of.
            SELECT 'institution_defunct', 'defunct:' || d.id || ':effective:' || \(milliseconds("d.effective_at")), '', NULL, NULL, NULL
            FROM defunct_cases d
            UNION ALL
            -- Every claim, a guardian's or a case's, filed once with the amount claimed.
            SELECT 'claim_filed', 'claim:' || c.id, c.enrollment_id::text, c.claimed_fen, NULL, NULL FROM claims c
            UNION ALL
            SELECT 'institution_registered', i.licence_number, '', NULL, NULL, NULL FROM institutions i),
        -- A claim's words in the log, in order: filed with its status then, decided with its decision (and the amount
        -- approved), paid.
        claim_words AS (
            SELECT split_part(e ->> 'reference', ':', 2) AS claim, e ->> 'kind' AS kind,
                CASE WHEN e ->> 'kind' = 'claim_paid' THEN 'paid' ELSE split_part(e ->> 'reference', ':', 3) END AS said,
                (e ->> 'amountFen')::bigint AS amount, ord
            FROM logged
            WHERE e ->> 'kind' IN ('claim_filed', 'claim_decided', 'claim_paid')),
        last_word AS (
            SELECT DISTINCT ON (claim) claim, said FROM claim_words ORDER BY claim, ord DESC),
        last_approval AS (
            SELECT DISTINCT ON (claim) claim, amount FROM claim_words WHERE kind = 'claim_decided' AND said = 'approved'
            ORDER BY claim, ord DESC),
        fact_totals AS (
            SELECT kind, reference, enrollment, count(*) AS n, sum(amount) AS amount, sum(lessons) AS lessons, min(at) AS at
            FROM facts GROUP BY kind, reference, enrollment),
        event_totals AS (
            SELECT kind, reference, enrollment, count(*) AS n, sum(amount) AS amount, sum(lessons) AS lessons, min(at) AS at
            FROM events GROUP BY kind, reference, enrollment)
        SELECT coalesce(f.kind, v.kind) || ' ' || coalesce(f.reference, v.reference, '(no reference)') || ': ' ||
            CASE WHEN v.n IS NULL THEN coalesce(f.amount::text, '?') || ' fen moved with no event'
                 WHEN f.n IS NULL THEN v.n || ' event(s) of ' || coalesce(v.amount::text, '?') || ' fen with nothing behind them'
                 WHEN v.n <> f.n THEN v.n || ' events for ' || f.n || ' movement(s)'
                 WHEN f.amount IS DISTINCT FROM v.amount THEN 'logged ' || coalesce(v.amount::text, 'no amount') || ' fen, moved ' || f.amount || ' fen'
                 WHEN f.lessons IS NOT NULL AND f.lessons IS DISTINCT FROM v.lessons
                     THEN 'logged ' || coalesce(v.lessons::text, 'no') || ' lessons, recorded ' || f.lessons
                 ELSE 'logged at ' || coalesce(v.at::text, 'no time') || ' ms, recorded at ' || f.at || ' ms' END
        FROM fact_totals f
        FULL JOIN event_totals v ON v.kind = f.kind AND v.reference = f.reference AND v.enrollment = f.enrollment
        WHERE f.n IS NULL OR v.n IS NULL OR f.n <> v.n OR f.amount IS DISTINCT FROM v.amount
           OR (f.lessons IS NOT NULL AND f.lessons IS DISTINCT FROM v.lessons) OR (f.at IS NOT NULL AND f.at IS DISTINCT FROM v.at)
        UNION ALL
        -- A claim is what its last word in the log says, and an approved or paid one approved what its last approval
        -- logged: a decision rewritten in the table after it was logged (a rejection made an approval, an amount
        -- lowered) shows.
        SELECT 'claim_decided claim:' || c.id || ': ' ||
            CASE WHEN w.said IS DISTINCT FROM c.status THEN 'logged ' || coalesce(w.said, 'nothing') || ', the claim is ' || c.status
                 ELSE 'approved ' || coalesce(a.amount::text, 'no amount') || ' fen in the log, ' || c.approved_fen || ' fen on the claim'
            END
        FROM claims c
        LEFT JOIN last_word w ON w.claim = c.id::text
        LEFT JOIN last_approval a ON a.claim = c.id::text
        WHERE w.said IS DISTINCT FROM c.status OR (c.status IN ('approved', 'paid') AND a.amount IS DISTINCT FROM c.approved_fen)
        UNION ALL
        -- Money returned on an enrollment reaches its own guardian's bank, whatever the event says.
        SELECT t.kind || ' transfer ' || t.id || ': credits account ' || t.credit_account_id
            || ', not the bank of the enrollment''s guardian'
        FROM transfers t JOIN enrollments e ON e.id = t.enrollment_id JOIN accounts a ON a.id = t.credit_account_id
        WHERE t.kind IN ('refund', 'payout') AND (a.kind <> 'guardian_bank' OR a.guardian_id IS DISTINCT FROM e.guardian_id)
        ORDER BY 1
        """
}
