-- Issue #15 (scale of supervision): what the warning evaluation's plans need at a province's size.
-- Refunds overdue: the enrollments whose term ended long enough ago, found by their end date (never updated, so the
-- index costs the money path nothing).
CREATE INDEX enrollments_by_term_end ON enrollments (term_end);
-- Sales spikes: the payments of the last 63 days with their institution and amount, read from the index alone
-- (transfers are never updated, so their pages stay all-visible).
CREATE INDEX transfers_payments_covering ON transfers (created_at) INCLUDE (institution_id, amount_fen) WHERE kind = 'payment';
-- Lessons against the schedule: the lessons recorded in the last 7 days, with what the rule sums, from the index.
CREATE INDEX lessons_by_recorded_at ON lessons (recorded_at) INCLUDE (institution_id, enrollment_id, lessons);
