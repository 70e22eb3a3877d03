-- Contracts that hold up years later (issue 12): the platform's RFC 3161 time-stamping authority, the trusted time
-- of each signature, lookup of a contract by its signatures, and the district's approving authority (审批机关).

-- The time-stamping authority: its own key (sealed like the CA's, context 'platform-tsa') and a certificate
-- from the platform CA with the critical extended key usage timeStamping.
CREATE TABLE platform_tsa (
    id int PRIMARY KEY CHECK (id = 1),
    certificate_der bytea NOT NULL,
    private_key_sealed bytea NOT NULL,
    created_at timestamptz NOT NULL
);

-- The genTime of each signature's timestamp token (millisecond precision): the time revocation and expiry are
-- judged at. Null only for signatures made before timestamps existed.
ALTER TABLE contract_signatures ADD COLUMN timestamped_at timestamptz;

-- Verification finds the stored contract by its signature values, whatever the bytes around them.
CREATE INDEX contract_signatures_by_value ON contract_signatures (signature_value);

-- 审批机关: set by the district's regulator (PUT /v1/district), never taken from a token's label.
ALTER TABLE districts ADD COLUMN approving_authority text
    CHECK (approving_authority IS NULL OR length(approving_authority) BETWEEN 1 AND 100);
