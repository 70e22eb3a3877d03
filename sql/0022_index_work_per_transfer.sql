-- Issue #15: less index work per money movement.
--
-- Every transfer INSERT (a payment, a lesson's release, a class session's hundreds, a fast-track chunk's tens of
-- thousands of payouts) maintained two indexes no reader needs. The posted totals of restricted accounts live on
-- `accounts` (sql/0020), so nothing looks up an account's transfers by account any more: the invariant audit re-derives
-- every restricted account's totals in one grouped scan of the transfers, and accounts are never deleted (the foreign
-- keys' reverse checks, which would want these indexes, never run).
DROP INDEX transfers_by_debit;
DROP INDEX transfers_by_credit;

-- Every payment, lesson, refund and settlement rewrites its enrollment's counters, and every posting its accounts'
-- totals; no index covers those columns, so the new row version can stay on its page (a heap-only update, no index
-- entry) when the page has room. Full pages made each such update insert into every index of the table (measured on a
-- class session: bottom-up index deletion alone was 5 % of PostgreSQL's time). Pages written from now on keep room.
ALTER TABLE enrollments SET (fillfactor = 80);
ALTER TABLE accounts SET (fillfactor = 50);
