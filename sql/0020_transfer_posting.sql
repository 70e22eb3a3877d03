-- Issue #14 (one home per rule), preparing issue #15's money path: the one place the posted totals of restricted
-- accounts (an institution's escrow, operating and reserve: `accounts.debits_fen`/`credits_fen`, read through
-- `account_totals`) move. Every writer only INSERTs its transfers; this trigger posts them, once per INSERT statement
-- (a payment's one row, a class session's hundreds of releases, a fast-track chunk's tens of thousands of payouts):
-- the new rows are summed per restricted account and each account's row is updated once. Unrestricted accounts
-- (banks outside, insurer claims) keep no totals and are neither locked nor updated.
--
-- The touched account rows are locked first, in id order, `FOR NO KEY UPDATE`: a small table is read by a sequential
-- scan whose order changes as rows are rewritten, so an UPDATE alone could lock two rows of one institution in either
-- order and deadlock against another posting to the same institution (the randomized test caught it once); and the
-- weaker lock leaves other transactions free to check their transfers' foreign keys on these rows meanwhile. The
-- totals then change in a single-table UPDATE, under a fresh snapshot (each statement of a volatile function takes
-- one under READ COMMITTED), so a row a concurrent posting committed is read as committed, never lost.
--
-- `restricted_account_not_negative` (sql/0001) still refuses a restricted account going negative: the UPDATE fails
-- the INSERT statement that fired it, and the whole statement's rows with it.
CREATE FUNCTION post_transfers() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM FROM accounts a
    WHERE a.restricted AND a.id IN (SELECT debit_account_id FROM new_transfers UNION SELECT credit_account_id FROM new_transfers)
    ORDER BY a.id FOR NO KEY UPDATE OF a;
    UPDATE accounts a SET debits_fen = a.debits_fen + m.debits_fen, credits_fen = a.credits_fen + m.credits_fen
    FROM (
        SELECT account_id, sum(debit_fen) AS debits_fen, sum(credit_fen) AS credits_fen
        FROM (
            SELECT debit_account_id AS account_id, amount_fen AS debit_fen, 0::bigint AS credit_fen FROM new_transfers
            UNION ALL
            SELECT credit_account_id, 0, amount_fen FROM new_transfers) moves
        GROUP BY account_id) m
    WHERE a.id = m.account_id AND a.restricted;
    RETURN NULL;
END $$;

CREATE TRIGGER transfers_post_totals AFTER INSERT ON transfers REFERENCING NEW TABLE AS new_transfers
    FOR EACH STATEMENT EXECUTE FUNCTION post_transfers();
-- The fast-track's bulk inserts run with `session_replication_role = replica` to skip the per-row foreign-key
-- triggers (`ReferenceCheckedInserts`), which silences ordinary triggers too: posting must fire whatever the role.
ALTER TABLE transfers ENABLE ALWAYS TRIGGER transfers_post_totals;
