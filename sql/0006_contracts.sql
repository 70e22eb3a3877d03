-- Contracts: the platform CA, signers' certificates with their encrypted private keys, contracts rendered
-- from versioned templates and the signatures on them. Payment of an enrollment needs a contract signed by
-- both parties (checked by the payment path, and here by a trigger, so no bug can skip it).

-- The platform CA: one row. Its private key is sealed with AES-256-GCM under the key-encryption key from
-- configuration (TUITIONGUARD_CA_KEK_FILE); the database alone never reveals it.
CREATE TABLE platform_ca (
    id int PRIMARY KEY CHECK (id = 1),
    certificate_der bytea NOT NULL,
    private_key_sealed bytea NOT NULL,
    created_at timestamptz NOT NULL
);

-- Signing certificates issued by the platform CA to institutions and guardians, with their sealed keys.
-- A revoked certificate signs nothing more; signatures made before its revocation stay valid.
CREATE TABLE certificates (
    serial text PRIMARY KEY CHECK (serial ~ '^[0-9A-F]+$'),
    holder text NOT NULL CHECK (holder IN ('institution', 'guardian')),
    institution_id uuid REFERENCES institutions (id),
    guardian_id uuid REFERENCES guardians (id),
    algorithm text NOT NULL CHECK (algorithm IN ('ecdsa-p256', 'rsa-2048')),
    subject text NOT NULL,
    certificate_der bytea NOT NULL,
    private_key_sealed bytea NOT NULL,
    not_before timestamptz NOT NULL,
    not_after timestamptz NOT NULL CHECK (not_after > not_before),
    issued_at timestamptz NOT NULL,
    revoked_at timestamptz,
    revocation_reason text,
    CONSTRAINT one_holder CHECK (
        (holder = 'institution' AND institution_id IS NOT NULL AND guardian_id IS NULL)
        OR (holder = 'guardian' AND guardian_id IS NOT NULL AND institution_id IS NULL)),
    CONSTRAINT revocation_has_reason CHECK ((revoked_at IS NULL) = (revocation_reason IS NULL))
);
-- At most one live certificate per holder and algorithm.
CREATE UNIQUE INDEX certificates_live_institution ON certificates (institution_id, algorithm)
    WHERE revoked_at IS NULL AND institution_id IS NOT NULL;
CREATE UNIQUE INDEX certificates_live_guardian ON certificates (guardian_id, algorithm)
    WHERE revoked_at IS NULL AND guardian_id IS NOT NULL;

-- One contract per enrollment that is not void. `fields` are the values rendered into the template, so the
-- contract can be rendered again from the template its id, version and SHA-256 name.
CREATE TABLE contracts (
    id uuid PRIMARY KEY,
    enrollment_id uuid NOT NULL REFERENCES enrollments (id),
    institution_id uuid NOT NULL REFERENCES institutions (id),
    guardian_id uuid NOT NULL REFERENCES guardians (id),
    template_id text NOT NULL CHECK (length(template_id) BETWEEN 1 AND 64),
    template_version int NOT NULL CHECK (template_version > 0),
    template_sha256 text NOT NULL CHECK (template_sha256 ~ '^[0-9a-f]{64}$'),
    fields jsonb NOT NULL,
    document bytea NOT NULL,
    document_sha256 text NOT NULL CHECK (document_sha256 ~ '^[0-9a-f]{64}$'),
    status text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'institution_signed', 'signed', 'void')),
    created_at timestamptz NOT NULL,
    institution_signed_at timestamptz,
    guardian_signed_at timestamptz,
    voided_at timestamptz,
    CONSTRAINT signing_times_follow_status CHECK (
        (institution_signed_at IS NOT NULL) = (status IN ('institution_signed', 'signed')
                                               OR (status = 'void' AND institution_signed_at IS NOT NULL))
        AND (guardian_signed_at IS NOT NULL) = (status = 'signed')
        AND (voided_at IS NOT NULL) = (status = 'void'))
);
CREATE UNIQUE INDEX contracts_one_live_per_enrollment ON contracts (enrollment_id) WHERE status <> 'void';
CREATE INDEX contracts_by_institution ON contracts (institution_id, id);
CREATE INDEX contracts_by_guardian ON contracts (guardian_id, id);
CREATE INDEX contracts_by_document ON contracts (document_sha256);

-- A contract signed by both parties is final.
CREATE TRIGGER signed_contracts_are_final BEFORE UPDATE OR DELETE ON contracts
    FOR EACH ROW WHEN (OLD.status = 'signed') EXECUTE FUNCTION refuse_change();

-- Each signature as made: who, with which certificate, its values, and the document's hash after it.
CREATE TABLE contract_signatures (
    contract_id uuid NOT NULL REFERENCES contracts (id),
    position int NOT NULL CHECK (position IN (0, 1)),
    signer text NOT NULL CHECK (signer IN ('institution', 'guardian')),
    institution_id uuid NOT NULL REFERENCES institutions (id),
    certificate_serial text NOT NULL REFERENCES certificates (serial),
    algorithm text NOT NULL,
    digest_value text NOT NULL,
    signature_value text NOT NULL,
    document_sha256 text NOT NULL CHECK (document_sha256 ~ '^[0-9a-f]{64}$'),
    signed_at timestamptz NOT NULL,
    PRIMARY KEY (contract_id, position),
    CHECK ((position = 0) = (signer = 'institution'))
);
CREATE TRIGGER contract_signatures_append_only BEFORE UPDATE OR DELETE ON contract_signatures
    FOR EACH ROW EXECUTE FUNCTION refuse_change();

-- No payment without a contract signed by both parties.
CREATE FUNCTION refuse_payment_without_signed_contract() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.paid_fen > 0 AND OLD.paid_fen = 0 AND NOT EXISTS (
        SELECT 1 FROM contracts c WHERE c.enrollment_id = NEW.id AND c.status = 'signed') THEN
        RAISE EXCEPTION 'enrollment % has no contract signed by both parties', NEW.id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'payment_needs_signed_contract';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER payment_needs_signed_contract BEFORE UPDATE OF paid_fen ON enrollments
    FOR EACH ROW EXECUTE FUNCTION refuse_payment_without_signed_contract();
