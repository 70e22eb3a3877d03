-- `escrow_within_outstanding` (sql/0036) was added NOT VALID, but PostgreSQL checks it on every new row version: an
-- enrollment where an insurer paid a claim before 0036 (the escrow kept the guardian's money, X more than owed) could
-- then not be written at all, and its institution's fast-track would block on it. What such a payout left is recorded
-- once here, as the excess each enrollment may keep; no write can make an escrow's excess larger than that (0 for every
-- other enrollment, and for every enrollment created from now on). The money stays where it is, as before this change:
-- moving it (to the insurers who paid, say) is a decision for the operator, which `tuitionguard audit` reports.
ALTER TABLE enrollments DROP CONSTRAINT escrow_within_outstanding;

ALTER TABLE enrollments ADD COLUMN escrow_excess_allowed_fen bigint NOT NULL DEFAULT 0 CHECK (escrow_excess_allowed_fen >= 0);

UPDATE enrollments e SET escrow_excess_allowed_fen = x.excess
FROM (
    SELECT id, paid_fen - released_fen - refunded_fen - escrow_returned_fen
        - greatest(0, enrollment_outstanding_fen(paid_fen, lessons_consumed, lessons_after_defunct, price_per_lesson_fen,
            refunded_fen, returned_fen)) AS excess
    FROM enrollments WHERE supervision_mode = 'escrow') x
WHERE e.id = x.id AND x.excess > 0;

ALTER TABLE enrollments ADD CONSTRAINT escrow_within_outstanding CHECK (
    supervision_mode <> 'escrow'
    OR paid_fen - released_fen - refunded_fen - escrow_returned_fen
        <= greatest(0, enrollment_outstanding_fen(paid_fen, lessons_consumed, lessons_after_defunct, price_per_lesson_fen,
            refunded_fen, returned_fen)) + escrow_excess_allowed_fen);
