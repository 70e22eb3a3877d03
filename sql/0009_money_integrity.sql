-- Money integrity (issue 10): one position per enrollment, read by every path that returns money; the defunct mark
-- closes the institution; post-effective payments are returned; a case that cannot pay says why; claims carry the
-- disputed value a person may add back and tell their whole story.

-- The enrollment's counters of what went back to the guardian other than refunds, and when it was paid. Kept in the
-- transaction of the transfers that move them; the invariant audit recomputes them from the transfers.
ALTER TABLE enrollments
    ADD COLUMN paid_at timestamptz,
    -- Paid back on claims and defunct settlements, every layer (payout transfers on this enrollment).
    ADD COLUMN returned_fen bigint NOT NULL DEFAULT 0 CHECK (returned_fen >= 0),
    -- The part of returned_fen that left the supervised (escrow) account.
    ADD COLUMN escrow_returned_fen bigint NOT NULL DEFAULT 0,
    -- Lessons recorded at or after the institution's defunct effective time: never counted against the guardian.
    -- Set by the fast-track's plan, after the mark: no lesson can be recorded after the mark.
    ADD COLUMN lessons_after_defunct int NOT NULL DEFAULT 0;

UPDATE enrollments e SET paid_at = t.at
FROM (SELECT enrollment_id, min(created_at) AS at FROM transfers WHERE kind = 'payment' GROUP BY enrollment_id) t
WHERE t.enrollment_id = e.id;

UPDATE enrollments e SET returned_fen = x.total, escrow_returned_fen = x.escrow
FROM (
    SELECT t.enrollment_id, sum(t.amount_fen) AS total, coalesce(sum(t.amount_fen) FILTER (WHERE a.kind = 'escrow'), 0) AS escrow
    FROM transfers t JOIN accounts a ON a.id = t.debit_account_id
    WHERE t.kind = 'payout' AND t.enrollment_id IS NOT NULL GROUP BY t.enrollment_id) x
WHERE x.enrollment_id = e.id;

UPDATE enrollments e SET lessons_after_defunct = x.n
FROM (
    SELECT l.enrollment_id, sum(l.lessons) AS n FROM lessons l JOIN defunct_cases dc ON dc.institution_id = l.institution_id
    WHERE l.recorded_at >= dc.effective_at GROUP BY l.enrollment_id) x
WHERE x.enrollment_id = e.id;

ALTER TABLE enrollments
    ADD CONSTRAINT paid_at_when_paid CHECK ((paid_fen > 0) = (paid_at IS NOT NULL)),
    ADD CONSTRAINT escrow_returned_within_returned CHECK (
        escrow_returned_fen BETWEEN 0 AND returned_fen AND (supervision_mode = 'escrow' OR escrow_returned_fen = 0)),
    ADD CONSTRAINT lessons_after_defunct_within_consumed CHECK (lessons_after_defunct BETWEEN 0 AND lessons_consumed),
    -- Per-enrollment escrow held never goes below zero.
    ADD CONSTRAINT escrow_held_not_negative CHECK (
        supervision_mode <> 'escrow' OR paid_fen - released_fen - refunded_fen - escrow_returned_fen >= 0);

-- The one position of an enrollment (mirrored by `EnrollmentPosition` in TuitionCore/Ledger.swift; the store tests
-- check both agree). Lessons count against the guardian only when recorded before the defunct effective time;
-- a payment made at or after that time is owed back in full (`return_due_fen`), never entitled to the waterfall.
CREATE VIEW enrollment_positions AS
SELECT e.id AS enrollment_id, e.institution_id, e.guardian_id, e.course_id, e.supervision_mode, e.price_per_lesson_fen,
    e.paid_fen, e.paid_at, dc.effective_at AS defunct_effective_at,
    (e.lessons_consumed - e.lessons_after_defunct)::bigint * e.price_per_lesson_fen AS consumed_fen,
    e.refunded_fen, e.returned_fen, e.escrow_returned_fen,
    o.outstanding AS outstanding_fen,
    CASE WHEN e.paid_fen > 0 AND NOT o.paid_after_defunct THEN greatest(0, o.outstanding) ELSE 0 END AS entitlement_fen,
    CASE WHEN o.paid_after_defunct THEN greatest(0, o.outstanding) ELSE 0 END AS return_due_fen,
    CASE WHEN e.supervision_mode = 'escrow' THEN e.paid_fen - e.released_fen - e.refunded_fen - e.escrow_returned_fen ELSE 0 END
        AS escrow_held_fen
FROM enrollments e
LEFT JOIN defunct_cases dc ON dc.institution_id = e.institution_id
CROSS JOIN LATERAL (SELECT
    e.paid_fen - (e.lessons_consumed - e.lessons_after_defunct)::bigint * e.price_per_lesson_fen - e.refunded_fen - e.returned_fen
        AS outstanding,
    coalesce(dc.effective_at IS NOT NULL AND e.paid_at >= dc.effective_at, false) AS paid_after_defunct) o;

-- Claims: the value of disputed and burst lessons a person may add back (with a reason), the fast-track's claims
-- named by case and layer, and a closed state for claims merged into the fast-track's or left on an exhausted policy.
ALTER TABLE claims
    ADD COLUMN contested_fen bigint NOT NULL DEFAULT 0 CHECK (contested_fen >= 0),
    ADD COLUMN defunct_case_id uuid REFERENCES defunct_cases (id),
    ADD COLUMN layer text CHECK (layer IN ('risk_policy', 'tuition_policy')),
    ADD COLUMN superseded_by uuid REFERENCES claims (id),
    ADD CONSTRAINT job_claim_has_layer CHECK ((defunct_case_id IS NULL) = (layer IS NULL));
ALTER TABLE claims DROP CONSTRAINT claims_status_check;
ALTER TABLE claims ADD CONSTRAINT claims_status_check
    CHECK (status IN ('filed', 'verified', 'approved', 'paid', 'referred', 'rejected', 'closed'));
ALTER TABLE claims DROP CONSTRAINT approved_within_claimed;
ALTER TABLE claims ADD CONSTRAINT approved_within_reach CHECK (approved_fen <= approvable_fen + contested_fen);
ALTER TABLE claims ADD CONSTRAINT added_back_with_reason CHECK (approved_fen <= approvable_fen OR decision_reason IS NOT NULL);
ALTER TABLE claims ADD CONSTRAINT closed_with_reason CHECK (status <> 'closed' OR decision_reason IS NOT NULL);
DROP INDEX claims_one_open_per_enrollment_policy;
CREATE UNIQUE INDEX claims_one_open_per_enrollment_policy ON claims (enrollment_id, policy_id)
    WHERE status NOT IN ('paid', 'rejected', 'closed');
CREATE INDEX claims_by_case ON claims (defunct_case_id) WHERE defunct_case_id IS NOT NULL;

-- Cases: a blocked state that says why a chunk could not pay, the returns of post-effective payments, the operating
-- balance the plan drew returns from.
ALTER TABLE defunct_cases DROP CONSTRAINT defunct_cases_status_check;
ALTER TABLE defunct_cases ADD CONSTRAINT defunct_cases_status_check CHECK (status IN ('running', 'blocked', 'completed'));
ALTER TABLE defunct_cases
    ADD COLUMN blocked_reason text CHECK (length(blocked_reason) <= 2000),
    ADD COLUMN blocked_at timestamptz,
    ADD COLUMN operating_balance_fen bigint CHECK (operating_balance_fen >= 0),
    ADD COLUMN return_due_fen bigint NOT NULL DEFAULT 0 CHECK (return_due_fen >= 0),
    ADD COLUMN paid_return_fen bigint NOT NULL DEFAULT 0 CHECK (paid_return_fen >= 0),
    ADD COLUMN return_uncovered_fen bigint NOT NULL DEFAULT 0 CHECK (return_uncovered_fen >= 0),
    ADD CONSTRAINT blocked_says_why CHECK ((status = 'blocked') = (blocked_reason IS NOT NULL AND blocked_at IS NOT NULL));

ALTER TABLE defunct_settlements DROP CONSTRAINT defunct_settlements_entitlement_fen_check;
ALTER TABLE defunct_settlements
    ADD CONSTRAINT entitlement_not_negative CHECK (entitlement_fen >= 0),
    -- A payment made at or after the effective time, owed back in full: from escrow, then operating; the rest uncovered.
    ADD COLUMN return_due_fen bigint NOT NULL DEFAULT 0 CHECK (return_due_fen >= 0),
    ADD COLUMN return_escrow_fen bigint NOT NULL DEFAULT 0 CHECK (return_escrow_fen >= 0),
    ADD COLUMN return_operating_fen bigint NOT NULL DEFAULT 0 CHECK (return_operating_fen >= 0),
    ADD COLUMN return_uncovered_fen bigint NOT NULL DEFAULT 0 CHECK (return_uncovered_fen >= 0),
    -- The value of disputed and burst lessons a person may add back to a referred settlement's claims.
    ADD COLUMN contested_fen bigint NOT NULL DEFAULT 0 CHECK (contested_fen >= 0),
    ADD CONSTRAINT returns_add_up CHECK (return_escrow_fen + return_operating_fen + return_uncovered_fen = return_due_fen),
    ADD CONSTRAINT owed_something CHECK (entitlement_fen > 0 OR return_due_fen > 0);
