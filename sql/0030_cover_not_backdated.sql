-- Cover is never backdated, not even to the start of the day a policy is bought: a policy starting today is in force
-- from the instant it was bought, so it cannot insure a collapse earlier that day. Rows written before this migration
-- started at midnight and are left as they are (NOT VALID checks only new and updated rows).
ALTER TABLE policies ADD CONSTRAINT cover_not_backdated CHECK (period_start >= created_at) NOT VALID;
