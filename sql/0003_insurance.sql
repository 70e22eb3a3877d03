-- Insurance: insurers' products and the policies issued on them. A policy's premium is one ledger transfer
-- (kind 'premium') into the insurer's claims account, written in the same transaction as the policy row.
-- A policy's status is not stored: it follows from its period, cancellation and what is left of its sum insured.

CREATE TABLE insurance_products (
    id uuid PRIMARY KEY,
    insurer_id uuid NOT NULL REFERENCES insurers (id),
    kind text NOT NULL CHECK (kind IN ('institution_risk', 'student_tuition')),
    premium_rate_bp int NOT NULL CHECK (premium_rate_bp BETWEEN 1 AND 10000),
    covered_share_bp int,
    limit_fen bigint,
    created_at timestamptz NOT NULL,
    -- Mirrors checkProductTerms: a risk product has a share and a positive limit, a tuition product neither.
    -- IS NOT NULL is spelled out because a CHECK over NULL passes.
    CONSTRAINT cover_matches_kind CHECK (
        (kind = 'institution_risk' AND covered_share_bp IS NOT NULL AND limit_fen IS NOT NULL
            AND covered_share_bp BETWEEN 1 AND 10000 AND limit_fen > 0)
        OR (kind = 'student_tuition' AND covered_share_bp IS NULL AND limit_fen IS NULL)),
    UNIQUE (id, insurer_id, kind)
);
CREATE INDEX insurance_products_by_insurer ON insurance_products (insurer_id, id);

-- Lets a tuition policy name its enrollment together with that enrollment's institution and guardian.
ALTER TABLE enrollments ADD CONSTRAINT enrollments_id_institution_guardian UNIQUE (id, institution_id, guardian_id);

CREATE SEQUENCE policy_numbers;

CREATE TABLE policies (
    id uuid PRIMARY KEY,
    number text NOT NULL UNIQUE CHECK (length(number) BETWEEN 1 AND 64),
    product_id uuid NOT NULL,
    insurer_id uuid NOT NULL REFERENCES insurers (id),
    kind text NOT NULL CHECK (kind IN ('institution_risk', 'student_tuition')),
    -- The insured institution (institution_risk) or the insured enrollment's institution (student_tuition):
    -- every large table carries institution_id (DESIGN.md §4).
    institution_id uuid NOT NULL REFERENCES institutions (id),
    enrollment_id uuid,
    guardian_id uuid REFERENCES guardians (id),
    sum_insured_fen bigint NOT NULL CHECK (sum_insured_fen > 0),
    remaining_fen bigint NOT NULL,
    premium_fen bigint NOT NULL CHECK (premium_fen > 0),
    premium_transfer_id bigint NOT NULL UNIQUE REFERENCES transfers (id),
    period_start timestamptz NOT NULL,
    period_end timestamptz NOT NULL,
    cancelled_at timestamptz,
    created_at timestamptz NOT NULL,
    FOREIGN KEY (product_id, insurer_id, kind) REFERENCES insurance_products (id, insurer_id, kind),
    FOREIGN KEY (enrollment_id, institution_id, guardian_id) REFERENCES enrollments (id, institution_id, guardian_id),
    CONSTRAINT remaining_within_sum_insured CHECK (remaining_fen BETWEEN 0 AND sum_insured_fen),
    CONSTRAINT premium_within_sum_insured CHECK (premium_fen <= sum_insured_fen),
    CONSTRAINT period_ends_after_start CHECK (period_end > period_start),
    CONSTRAINT insured_matches_kind CHECK (
        (kind = 'institution_risk' AND enrollment_id IS NULL AND guardian_id IS NULL)
        OR (kind = 'student_tuition' AND enrollment_id IS NOT NULL AND guardian_id IS NOT NULL))
);
CREATE INDEX policies_by_institution ON policies (institution_id, id);
CREATE INDEX policies_by_insurer ON policies (insurer_id, id);
CREATE INDEX policies_by_guardian ON policies (guardian_id, id) WHERE guardian_id IS NOT NULL;
-- The waterfall's fourth layer is "the enrollment's tuition policy": one uncancelled policy per enrollment.
CREATE UNIQUE INDEX policies_one_per_enrollment ON policies (enrollment_id)
    WHERE enrollment_id IS NOT NULL AND cancelled_at IS NULL;
