-- Refunding everything refunds every unused lesson and what is still owed for them (`decideRefund`): less than their
-- price when an insurer already repaid part of the tuition, since a claim payout returns money, not lessons. Refunds
-- are still never above the frozen price of the lessons they return.
ALTER TABLE enrollments DROP CONSTRAINT refund_at_frozen_price,
    ADD CONSTRAINT refund_within_frozen_price CHECK (refunded_fen <= lessons_refunded * price_per_lesson_fen);
