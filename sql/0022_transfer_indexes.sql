-- Issue #15: every transfer INSERT (a payment, a lesson's release, a class session's hundreds, a fast-track chunk's tens
-- of thousands of payouts) maintained two indexes no reader needs. The posted totals of restricted accounts live on
-- `accounts` (sql/0020), so nothing looks up an account's transfers by account any more: the invariant audit re-derives
-- every restricted account's totals in one grouped scan of the transfers, and accounts are never deleted (the foreign
-- keys' reverse checks, which would want these indexes, never run).
DROP INDEX transfers_by_debit;
DROP INDEX transfers_by_credit;
