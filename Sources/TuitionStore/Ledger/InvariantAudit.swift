import PostgresNIO

/// Re-derives every ledger invariant of DESIGN.md §2 from the transfers themselves and lists each breach.
/// An empty result means the ledger is sound. Used by tests and by `tuitionguard audit`.
public struct InvariantAudit: Sendable {
    let store: Store

    public init(store: Store) { self.store = store }

    /// Each check is a query returning one row per breach, described in words.
    static let checks: [(name: String, sql: String)] = [
        (
            "each transfer moves money between the accounts its kind allows, of its own enrollment's parties",
            """
            SELECT t.kind || ' transfer ' || t.id || ' (' || t.idempotency_key || '): ' || d.kind || ' -> ' || c.kind
                || ' does not fit its kind, enrollment or institution'
            FROM transfers t
            JOIN accounts d ON d.id = t.debit_account_id
            JOIN accounts c ON c.id = t.credit_account_id
            LEFT JOIN enrollments e ON e.id = t.enrollment_id
            WHERE (CASE t.kind
                WHEN 'payment' THEN d.kind = 'guardian_bank' AND d.guardian_id = e.guardian_id
                    AND c.kind IN ('escrow', 'operating') AND c.institution_id = e.institution_id
                WHEN 'release' THEN d.kind = 'escrow' AND c.kind = 'operating'
                    AND d.institution_id = e.institution_id AND c.institution_id = e.institution_id
                WHEN 'refund' THEN d.kind IN ('escrow', 'operating') AND d.institution_id = e.institution_id
                    AND c.kind = 'guardian_bank' AND c.guardian_id = e.guardian_id
                WHEN 'payout' THEN c.kind = 'guardian_bank' AND c.guardian_id = e.guardian_id
                    AND (d.kind = 'insurer_claims' OR (d.kind IN ('escrow', 'reserve', 'operating') AND d.institution_id = e.institution_id))
                WHEN 'reserve_topup' THEN t.enrollment_id IS NULL AND d.kind = 'institution_bank' AND c.kind = 'reserve'
                    AND d.institution_id = c.institution_id
                WHEN 'premium' THEN c.kind = 'insurer_claims' AND d.kind IN ('institution_bank', 'guardian_bank')
                ELSE false END
                AND (t.enrollment_id IS NULL OR t.institution_id IS NOT DISTINCT FROM e.institution_id)) IS NOT TRUE
            """
        ),
        (
            "restricted totals match their transfers and are never negative",
            """
            WITH moved AS (
                SELECT account_id, sum(debit_fen) AS debits, sum(credit_fen) AS credits
                FROM (
                    SELECT debit_account_id AS account_id, amount_fen AS debit_fen, 0::bigint AS credit_fen FROM transfers
                    UNION ALL
                    SELECT credit_account_id, 0, amount_fen FROM transfers) m
                GROUP BY account_id),
            derived AS (
                SELECT a.id, a.kind, a.debits_fen, a.credits_fen, coalesce(m.debits, 0) AS debits, coalesce(m.credits, 0) AS credits
                FROM accounts a LEFT JOIN moved m ON m.account_id = a.id WHERE a.restricted)
            SELECT 'account ' || id || ' (' || kind || '): posted ' || debits_fen || '/' || credits_fen
                || ', transfers ' || debits || '/' || credits
            FROM derived WHERE debits <> debits_fen OR credits <> credits_fen OR debits > credits
            """
        ),
        (
            // The stored document is what was signed and logged (`contract_signed` carries its hash, reconciled): one
            // rewritten in the table, its hash left, would be served and verified as the contract of record.
            "each contract's document hashes to its recorded hash, the one its last signature recorded",
            """
            SELECT 'contract ' || k.id || ': document hashes to ' || encode(sha256(k.document), 'hex') || ', recorded '
                || k.document_sha256 || coalesce(', last signed ' || s.document_sha256, '')
            FROM contracts k
            LEFT JOIN LATERAL (
                SELECT document_sha256 FROM contract_signatures WHERE contract_id = k.id ORDER BY position DESC LIMIT 1) s ON true
            WHERE encode(sha256(k.document), 'hex') <> k.document_sha256
               OR (s.document_sha256 IS NOT NULL AND s.document_sha256 <> k.document_sha256)
            """
        ),
        (
            // Every payment, refund and payout checks its account against the enrollment's guardian: an enrollment moved to
            // another guardian (with its payment's account) would send the refunds and the fast-track's payouts there.
            "each enrollment's guardian is its student's",
            """
            SELECT 'enrollment ' || e.id || ': guardian ' || e.guardian_id || ', its student''s ' || s.guardian_id
            FROM enrollments e JOIN students s ON s.id = e.student_id
            WHERE s.guardian_id <> e.guardian_id
            """
        ),
        (
            "each enrollment's counters match its transfers, lessons and refunds",
            """
            SELECT 'enrollment ' || e.id || ' counters disagree with the ledger'
            FROM enrollments e
            LEFT JOIN LATERAL (
                SELECT coalesce(sum(t.amount_fen) FILTER (WHERE t.kind = 'payment'), 0) AS paid,
                       min(t.created_at) FILTER (WHERE t.kind = 'payment') AS paid_at,
                       coalesce(sum(t.amount_fen) FILTER (WHERE t.kind = 'release'), 0) AS released,
                       coalesce(sum(t.amount_fen) FILTER (WHERE t.kind = 'refund'), 0) AS refunded,
                       coalesce(sum(t.amount_fen) FILTER (WHERE t.kind = 'payout'), 0) AS returned,
                       coalesce(sum(t.amount_fen) FILTER (WHERE t.kind = 'payout' AND d.kind = 'escrow'), 0) AS escrow_returned
                FROM transfers t JOIN accounts d ON d.id = t.debit_account_id WHERE t.enrollment_id = e.id) t ON true
            LEFT JOIN LATERAL (SELECT coalesce(sum(lessons), 0) AS lessons FROM lessons WHERE enrollment_id = e.id) l ON true
            LEFT JOIN LATERAL (SELECT coalesce(sum(lessons), 0) AS lessons FROM refunds WHERE enrollment_id = e.id) r ON true
            -- Claims' add-backs are paid out but return nothing the enrollment was owed (sql/0039).
            LEFT JOIN LATERAL (
                SELECT coalesce(sum(added_back_fen), 0) AS fen FROM claims WHERE enrollment_id = e.id AND status = 'paid') ab ON true
            WHERE t.paid <> e.paid_fen OR t.released <> e.released_fen OR t.refunded <> e.refunded_fen
               OR t.returned - ab.fen <> e.returned_fen OR t.escrow_returned <> e.escrow_returned_fen
               OR t.paid_at IS DISTINCT FROM e.paid_at
               OR l.lessons <> e.lessons_consumed OR r.lessons <> e.lessons_refunded
            """
        ),
        (
            // The enrollment's CHECK ties its counters together; this ties them to the lessons themselves, so releases
            // with no lesson behind them (escrow drained before a collapse) show even where the constraint was bypassed.
            "each enrollment's releases are the value of its lessons (escrow mode), or none (reserve mode)",
            """
            SELECT 'enrollment ' || e.id || ' (' || e.supervision_mode || '): released ' || e.released_fen
                || ' for lessons worth ' || v.value
            FROM enrollments e
            CROSS JOIN LATERAL (SELECT coalesce(sum(value_fen), 0) AS value FROM lessons WHERE enrollment_id = e.id) v
            WHERE e.released_fen <> CASE WHEN e.supervision_mode = 'escrow' THEN v.value ELSE 0 END
            """
        ),
        (
            "escrow held for an enrollment never exceeds its unconsumed tuition, what was paid back on it counted like a refund",
            """
            SELECT 'enrollment ' || e.id || ': escrow held ' || held || ' > unconsumed ' || unconsumed
                || CASE WHEN e.escrow_excess_allowed_fen > 0 THEN ' + ' || e.escrow_excess_allowed_fen || ' left by payouts before sql/0036' ELSE '' END
            FROM enrollments e
            CROSS JOIN LATERAL (
                SELECT coalesce(sum(CASE WHEN c.kind = 'escrow' THEN t.amount_fen ELSE 0 END)
                              - sum(CASE WHEN d.kind = 'escrow' THEN t.amount_fen ELSE 0 END), 0) AS held,
                       coalesce(sum(t.amount_fen) FILTER (WHERE t.kind = 'payment'), 0)
                         - coalesce(sum(t.amount_fen) FILTER (WHERE t.kind = 'refund'), 0)
                         - coalesce(sum(t.amount_fen) FILTER (WHERE t.kind = 'payout'), 0)
                         + (SELECT coalesce(sum(added_back_fen), 0) FROM claims WHERE enrollment_id = e.id AND status = 'paid')
                         - (SELECT coalesce(sum(value_fen), 0) FROM lessons WHERE enrollment_id = e.id) AS unconsumed
                FROM transfers t JOIN accounts d ON d.id = t.debit_account_id JOIN accounts c ON c.id = t.credit_account_id
                WHERE t.enrollment_id = e.id) x
            WHERE held > greatest(0, unconsumed) + e.escrow_excess_allowed_fen
            """
        ),
        (
            "escrow held for an enrollment is never below zero",
            """
            SELECT 'enrollment ' || e.id || ': escrow held ' || held
            FROM enrollments e
            CROSS JOIN LATERAL (
                SELECT coalesce(sum(CASE WHEN c.kind = 'escrow' THEN t.amount_fen ELSE 0 END)
                              - sum(CASE WHEN d.kind = 'escrow' THEN t.amount_fen ELSE 0 END), 0) AS held
                FROM transfers t JOIN accounts d ON d.id = t.debit_account_id JOIN accounts c ON c.id = t.credit_account_id
                WHERE t.enrollment_id = e.id) x
            WHERE held < 0
            """
        ),
        (
            "lessons consumed never exceed lessons bought",
            """
            SELECT 'enrollment ' || e.id || ': ' || consumed || ' consumed + ' || e.lessons_refunded || ' refunded > '
                || e.lessons_bought || ' bought'
            FROM enrollments e
            CROSS JOIN LATERAL (SELECT coalesce(sum(lessons), 0) AS consumed FROM lessons WHERE enrollment_id = e.id) l
            WHERE consumed + e.lessons_refunded > e.lessons_bought
            """
        ),
        (
            "a guardian is never paid back more than the enrollment's unconsumed tuition",
            """
            SELECT 'enrollment ' || e.id || ': paid back ' || back || ' > owed ' || owed
            FROM enrollments e
            CROSS JOIN LATERAL (
                SELECT coalesce(sum(t.amount_fen) FILTER (WHERE t.kind IN ('refund', 'payout')), 0) AS back,
                       coalesce(sum(t.amount_fen) FILTER (WHERE t.kind = 'payment'), 0)
                         - (SELECT coalesce(sum(value_fen), 0) FROM lessons
                            WHERE enrollment_id = e.id AND recorded_at < coalesce(
                                (SELECT effective_at FROM defunct_cases WHERE institution_id = e.institution_id), 'infinity'))
                         -- Contested lessons a person found not given and added back to a paid claim, with a reason.
                         + (SELECT coalesce(sum(greatest(0, approved_fen - approvable_fen)), 0) FROM claims
                            WHERE enrollment_id = e.id AND status = 'paid') AS owed
                FROM transfers t WHERE t.enrollment_id = e.id) x
            WHERE back > owed
            """
        ),
        (
            "each policy's premium moved once, from its payer's bank to its insurer's claims account",
            """
            SELECT 'policy ' || p.number || ': premium ' || p.premium_fen || ' but transfer '
                || coalesce(t.kind || ' ' || t.amount_fen || ' ' || d.kind || ' -> ' || c.kind, 'missing')
            FROM policies p
            LEFT JOIN transfers t ON t.id = p.premium_transfer_id
            LEFT JOIN accounts d ON d.id = t.debit_account_id
            LEFT JOIN accounts c ON c.id = t.credit_account_id
            WHERE t.id IS NULL OR t.kind <> 'premium' OR t.amount_fen <> p.premium_fen
               OR c.kind <> 'insurer_claims' OR c.insurer_id <> p.insurer_id
               OR NOT ((p.kind = 'institution_risk' AND d.kind = 'institution_bank' AND d.institution_id = p.institution_id)
                    OR (p.kind = 'student_tuition' AND d.kind = 'guardian_bank' AND d.guardian_id = p.guardian_id))
            UNION ALL
            SELECT 'premium transfer ' || t.id || ' belongs to no policy'
            FROM transfers t WHERE t.kind = 'premium' AND NOT EXISTS (SELECT 1 FROM policies p WHERE p.premium_transfer_id = t.id)
            """
        ),
        (
            "what is left of a policy's sum insured is never negative nor above the sum insured",
            """
            SELECT 'policy ' || number || ': remaining ' || remaining_fen || ' of ' || sum_insured_fen
            FROM policies WHERE remaining_fen < 0 OR remaining_fen > sum_insured_fen
            """
        ),
        (
            "each paid claim moved exactly what it paid: the escrow's part from the enrollment's escrow, the rest from its insurer",
            """
            SELECT 'claim ' || cl.id || ' (' || cl.status || '): paid ' || cl.paid_fen || ', escrow ' || cl.escrow_paid_fen
                || ', but transfers ' || coalesce(it.amount_fen, 0) || ' from ' || coalesce(id.kind, 'nothing') || ' + '
                || coalesce(et.amount_fen, 0) || ' from ' || coalesce(ed.kind, 'nothing')
            FROM claims cl
            LEFT JOIN transfers it ON it.id = cl.payout_transfer_id
            LEFT JOIN accounts id ON id.id = it.debit_account_id
            LEFT JOIN transfers et ON et.id = cl.escrow_transfer_id
            LEFT JOIN accounts ed ON ed.id = et.debit_account_id
            WHERE (cl.status = 'paid' OR it.id IS NOT NULL OR et.id IS NOT NULL) AND (
                cl.status <> 'paid'
                OR coalesce(it.amount_fen, 0) <> cl.paid_fen - cl.escrow_paid_fen OR coalesce(et.amount_fen, 0) <> cl.escrow_paid_fen
                OR (it.id IS NOT NULL AND (it.kind <> 'payout' OR id.kind <> 'insurer_claims' OR id.insurer_id <> cl.insurer_id
                    OR it.enrollment_id IS DISTINCT FROM cl.enrollment_id))
                OR (et.id IS NOT NULL AND (et.kind <> 'payout' OR ed.kind <> 'escrow' OR et.enrollment_id IS DISTINCT FROM cl.enrollment_id)))
            """
        ),
        (
            "what is left of each policy is its sum insured less what its insurer paid on its claims",
            """
            SELECT 'policy ' || p.number || ': remaining ' || p.remaining_fen || ' but sum insured ' || p.sum_insured_fen
                || ' less paid ' || x.paid
            FROM policies p
            CROSS JOIN LATERAL (
                SELECT coalesce(sum(cl.paid_fen - cl.escrow_paid_fen), 0) AS paid FROM claims cl
                WHERE cl.policy_id = p.id AND cl.status = 'paid') x
            WHERE p.remaining_fen <> p.sum_insured_fen - x.paid
            """
        ),
        (
            "each lesson record is worth its lessons at the enrollment's frozen price",
            """
            SELECT 'lesson ' || l.id || ': value ' || l.value_fen || ' for ' || l.lessons || ' at ' || e.price_per_lesson_fen
            FROM lessons l JOIN enrollments e ON e.id = l.enrollment_id
            WHERE l.value_fen <> l.lessons::bigint * e.price_per_lesson_fen
            """
        ),
        (
            "each settled defunct-case layer moved exactly its planned amount to the guardian",
            """
            SELECT 'case ' || s.case_id || ', enrollment ' || s.enrollment_id || ': ' || layer.name || ' planned '
                || layer.planned || ' but moved ' || coalesce(t.amount_fen, 0)
            FROM defunct_settlements s
            CROSS JOIN LATERAL (VALUES
                ('escrow', s.escrow_fen, 'escrow'), ('reserve', s.reserve_fen, 'reserve'),
                ('risk_policy', CASE WHEN s.status = 'paid' THEN s.risk_policy_fen ELSE 0 END, 'insurer_claims'),
                ('tuition_policy', CASE WHEN s.status = 'paid' THEN s.tuition_policy_fen ELSE 0 END, 'insurer_claims'),
                ('return:escrow', s.return_escrow_fen, 'escrow'), ('return:operating', s.return_operating_fen, 'operating')
            ) AS layer (name, planned, source)
            LEFT JOIN transfers t ON t.idempotency_key = 'defunct:' || s.case_id || ':' || s.enrollment_id || ':' || layer.name
            LEFT JOIN accounts d ON d.id = t.debit_account_id
            LEFT JOIN accounts c ON c.id = t.credit_account_id
            WHERE s.status <> 'pending' AND (
                coalesce(t.amount_fen, 0) <> layer.planned
                OR (t.id IS NOT NULL AND (d.kind <> layer.source OR c.kind <> 'guardian_bank' OR c.guardian_id <> s.guardian_id)))
            """
        ),
        (
            "each case's figures equal its transfers, layer by layer",
            """
            SELECT 'case ' || dc.id || ': figures ' || dc.paid_escrow_fen || '/' || dc.paid_reserve_fen || '/'
                || dc.paid_risk_policy_fen || '/' || dc.paid_tuition_policy_fen || '/' || dc.paid_return_fen
                || ' but transfers ' || x.escrow || '/' || x.reserve || '/' || x.risk || '/' || x.tuition || '/' || x.returned
            FROM defunct_cases dc
            CROSS JOIN LATERAL (
                SELECT coalesce(sum(t.amount_fen) FILTER (WHERE t.idempotency_key LIKE '%:escrow' AND t.idempotency_key NOT LIKE '%:return:escrow'), 0) AS escrow,
                    coalesce(sum(t.amount_fen) FILTER (WHERE t.idempotency_key LIKE '%:reserve'), 0) AS reserve,
                    coalesce(sum(t.amount_fen) FILTER (WHERE t.idempotency_key LIKE '%:return:%'), 0) AS returned,
                    coalesce(sum(t.amount_fen) FILTER (WHERE t.idempotency_key LIKE '%:risk_policy'), 0)
                        + (SELECT coalesce(sum(p.amount_fen), 0) FROM claims cl JOIN transfers p ON p.id = cl.payout_transfer_id
                           WHERE cl.defunct_case_id = dc.id AND cl.layer = 'risk_policy' AND p.idempotency_key LIKE 'claim:%') AS risk,
                    coalesce(sum(t.amount_fen) FILTER (WHERE t.idempotency_key LIKE '%:tuition_policy'), 0)
                        + (SELECT coalesce(sum(p.amount_fen), 0) FROM claims cl JOIN transfers p ON p.id = cl.payout_transfer_id
                           WHERE cl.defunct_case_id = dc.id AND cl.layer = 'tuition_policy' AND p.idempotency_key LIKE 'claim:%') AS tuition
                FROM transfers t WHERE t.institution_id = dc.institution_id AND t.idempotency_key LIKE 'defunct:' || dc.id || ':%') x
            WHERE (x.escrow, x.reserve, x.risk, x.tuition, x.returned)
                IS DISTINCT FROM (dc.paid_escrow_fen, dc.paid_reserve_fen, dc.paid_risk_policy_fen, dc.paid_tuition_policy_fen, dc.paid_return_fen)
            """
        ),
        (
            "no idempotency key moved money twice",
            """
            SELECT 'idempotency key ' || idempotency_key || ' used ' || count(*) || ' times'
            FROM transfers GROUP BY idempotency_key HAVING count(*) > 1
            """
        ),
    ]

    /// Every breach found, as "invariant: what was found".
    public func breaches(on transaction: StoreTransaction? = nil) async throws -> [String] {
        var found: [String] = []
        for check in Self.checks {
            let rows = try await store.query(PostgresQuery(unsafeSQL: check.sql), on: transaction)
            for try await breach in rows.decode(String.self) { found.append("\(check.name): \(breach)") }
        }
        return found
    }
}
