-- Issue #15 (money path) and #14 (one home per rule): the one place a reader learns an account's posted totals and
-- balance. Today it reads the counters `accounts` keeps; when the counters move (e.g. to per-account slots, so that
-- concurrent postings to one escrow account stop queueing on one row) only this view changes. New readers use it,
-- never `accounts.debits_fen`/`credits_fen` directly.
CREATE VIEW account_totals AS
SELECT a.id, a.kind, a.institution_id, a.guardian_id, a.insurer_id, a.restricted,
       a.debits_fen, a.credits_fen, a.credits_fen - a.debits_fen AS balance_fen
FROM accounts a;
