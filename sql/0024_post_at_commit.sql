-- Issue #15: transfers post their accounts' totals at COMMIT.
--
-- Until now `transfers_post_totals` (sql/0020) updated the restricted accounts' rows in the INSERT statement itself,
-- so their locks were held from that statement to the commit: a fast-track chunk held the institution's escrow and
-- reserve through its claims, settlements and policies (seconds), and every other chunk, payment or lesson of the
-- institution queued behind it from its own transfer on. Now the INSERT only notes, per restricted account, what its
-- statement moved (`account_postings_pending`, a row per statement and account, in the transaction's own rows), and a
-- deferred constraint trigger posts the notes at COMMIT, after every other statement: the account rows are locked
-- only through the commit itself, like pgbench's branch row.
--
-- Lock order: every transaction that writes transfers now takes the account rows last, all at once, in id order, and
-- takes no other lock after them (the commit follows). So the accounts can close no cycle of waits: what was
-- deadlock-free before stays so, and the rows taken before them keep their order.
--
-- Refusals: `restricted_account_not_negative` (sql/0001) still guards the rows, now at COMMIT, whose failure rolls
-- the whole transaction back (nothing partial remains); `Store.transaction` maps it to the same
-- `accountWouldGoNegative` as before. The INSERT still refuses at once what it can already see: a statement taking a
-- restricted account below zero with the committed totals and its transaction's own notes raises the same error, with
-- the same constraint name. Only concurrent transactions, each fine alone but overdrawing together, meet the refusal
-- at COMMIT: the first to commit posts, the next is refused.
--
-- Readers: `account_totals` (sql/0016) shows committed totals. A transaction's own postings are in its notes until
-- it commits; no reader reads a balance after writing a transfer in the same transaction.

-- A transaction's notes: only its own are visible to it (others' are uncommitted, and each transaction deletes its own
-- before it commits), so none is ever committed. Keyed by the transaction id all the same, so that the poster finds
-- its notes through the index, not among the dead notes of other transactions not yet vacuumed.
CREATE TABLE account_postings_pending (
    xact xid8 NOT NULL DEFAULT pg_current_xact_id(),
    account_id bigint NOT NULL,
    debits_fen bigint NOT NULL,
    credits_fen bigint NOT NULL
);
CREATE INDEX account_postings_pending_by_xact ON account_postings_pending (xact);

-- The INSERT's statement trigger (`transfers_post_totals`, unchanged): notes what the statement moved per restricted
-- account, and refuses at once a move that takes one below zero with what it can already see.
CREATE OR REPLACE FUNCTION post_transfers() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    overdrawn bigint;
BEGIN
    INSERT INTO account_postings_pending (account_id, debits_fen, credits_fen)
    SELECT m.account_id, sum(m.debit_fen), sum(m.credit_fen)
    FROM (
        SELECT debit_account_id AS account_id, amount_fen AS debit_fen, 0::bigint AS credit_fen FROM new_transfers
        UNION ALL
        SELECT credit_account_id, 0, amount_fen FROM new_transfers) m
    WHERE m.account_id IN (SELECT a.id FROM accounts a WHERE a.restricted)
    GROUP BY m.account_id;
    -- The committed totals (a fresh snapshot: no lock taken, none waited for) and the transaction's notes.
    SELECT a.id INTO overdrawn
    FROM accounts a
    JOIN (SELECT p.account_id, sum(p.debits_fen) AS debits_fen, sum(p.credits_fen) AS credits_fen
          FROM account_postings_pending p WHERE p.xact = pg_current_xact_id() GROUP BY p.account_id) n ON n.account_id = a.id
    WHERE a.id IN (SELECT debit_account_id FROM new_transfers)
      AND a.debits_fen + n.debits_fen > a.credits_fen + n.credits_fen
    ORDER BY a.id LIMIT 1;
    IF overdrawn IS NOT NULL THEN
        RAISE EXCEPTION 'new row for relation "accounts" violates check constraint "restricted_account_not_negative"'
            USING ERRCODE = 'check_violation', TABLE = 'accounts', CONSTRAINT = 'restricted_account_not_negative',
                DETAIL = format('account %s would go below zero', overdrawn);
    END IF;
    RETURN NULL;
END $$;

-- At COMMIT (the first note's firing; the others find nothing left): the notes are taken and each touched account's
-- row is updated once. The rows are locked first, in id order, `FOR NO KEY UPDATE` (sql/0020 says why: a fixed order
-- against concurrent commits, and foreign-key checks of other transactions' transfers not held up); the UPDATE then
-- reads the totals under a fresh snapshot, so a total another transaction committed meanwhile is never lost.
CREATE FUNCTION post_pending_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM FROM accounts a
    WHERE a.id IN (SELECT p.account_id FROM account_postings_pending p WHERE p.xact = pg_current_xact_id())
    ORDER BY a.id FOR NO KEY UPDATE OF a;
    WITH taken AS (
        DELETE FROM account_postings_pending p WHERE p.xact = pg_current_xact_id()
        RETURNING p.account_id, p.debits_fen, p.credits_fen)
    UPDATE accounts a SET debits_fen = a.debits_fen + m.debits_fen, credits_fen = a.credits_fen + m.credits_fen
    FROM (SELECT account_id, sum(debits_fen)::bigint AS debits_fen, sum(credits_fen)::bigint AS credits_fen
          FROM taken GROUP BY account_id) m
    WHERE a.id = m.account_id;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER account_postings_at_commit AFTER INSERT ON account_postings_pending
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION post_pending_at_commit();
-- The fast-track's bulk inserts run with `session_replication_role = replica` (see sql/0020): posting fires whatever the role.
ALTER TABLE account_postings_pending ENABLE ALWAYS TRIGGER account_postings_at_commit;
