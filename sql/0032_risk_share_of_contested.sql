-- A referred settlement's contested value (lessons a person may find not given) is added back by the insurance layers:
-- the risk-control policy pays its covered share of it (as it would on a guardian's own claim on that policy), the
-- tuition policy the rest. The plan records the risk policy's part; the chunk files each layer's claim with its part.
ALTER TABLE defunct_settlements ADD COLUMN risk_contested_fen bigint NOT NULL DEFAULT 0
    CHECK (risk_contested_fen >= 0 AND risk_contested_fen <= contested_fen);
