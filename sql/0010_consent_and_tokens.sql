-- Issue #11, second half: consent to orders and risk-control policies, the token lifecycle, and idempotency keys
-- that belong to the principal's entity rather than to one of its tokens.

-- Tokens expire. Rows from before this migration get the default lifetime from their creation; revoked_at (0001)
-- is now written by revocation, rotation and blacklisting.
ALTER TABLE principals ADD COLUMN expires_at timestamptz;
UPDATE principals SET expires_at = created_at + interval '90 days';
ALTER TABLE principals ALTER COLUMN expires_at SET NOT NULL;
ALTER TABLE principals ADD CONSTRAINT expires_after_creation CHECK (expires_at > created_at);
CREATE INDEX principals_by_institution ON principals (institution_id) WHERE institution_id IS NOT NULL;
CREATE INDEX principals_by_district ON principals (district_code) WHERE district_code IS NOT NULL;

-- An Idempotency-Key belongs to the entity a token acts for ('institution:<uuid>', 'regulator:<district>', …), so
-- two tokens of one institution sending the same key and body replay, and never move money twice.
ALTER TABLE idempotent_requests ADD COLUMN owner text;
UPDATE idempotent_requests r
SET owner = p.role || ':' || coalesce(p.district_code, p.institution_id::text, p.guardian_id::text, p.insurer_id::text)
FROM principals p WHERE p.id = r.principal_id;
ALTER TABLE idempotent_requests ALTER COLUMN owner SET NOT NULL;
ALTER TABLE idempotent_requests ADD CONSTRAINT owner_is_an_entity CHECK (owner ~ '^(regulator|institution|guardian|insurer):.+$');
ALTER TABLE idempotent_requests DROP CONSTRAINT idempotent_requests_pkey;
ALTER TABLE idempotent_requests ADD PRIMARY KEY (owner, key);

-- An order the institution proposes to a guardian, by the reference the guardian gave it (its id, shown in the
-- parent's app). It names no student: the guardian names its own on accepting, and only then does the enrollment
-- (with the proposal's id) exist. The price is frozen here. guardian_id has no foreign key on purpose: a proposal
-- to an id that names no guardian is accepted like any other (and never answered), so proposing is no oracle.
CREATE TABLE enrollment_proposals (
    id uuid PRIMARY KEY,
    institution_id uuid NOT NULL REFERENCES institutions (id),
    guardian_id uuid NOT NULL,
    course_id uuid NOT NULL,
    lessons int NOT NULL CHECK (lessons BETWEEN 1 AND 60),
    price_per_lesson_fen bigint NOT NULL CHECK (price_per_lesson_fen > 0),
    amount_fen bigint NOT NULL CHECK (amount_fen > 0 AND amount_fen <= 500000),
    term_start date NOT NULL,
    term_end date NOT NULL CHECK (term_end >= term_start),
    status text NOT NULL DEFAULT 'proposed' CHECK (status IN ('proposed', 'accepted', 'rejected')),
    created_at timestamptz NOT NULL,
    answered_at timestamptz,
    FOREIGN KEY (course_id, institution_id) REFERENCES courses (id, institution_id),
    CONSTRAINT proposal_amount_is_lessons_times_price CHECK (amount_fen = lessons * price_per_lesson_fen),
    CONSTRAINT proposal_answered_once CHECK ((status = 'proposed') = (answered_at IS NULL))
);
CREATE INDEX enrollment_proposals_by_institution ON enrollment_proposals (institution_id, id);
CREATE INDEX enrollment_proposals_by_guardian ON enrollment_proposals (guardian_id, id);

-- A risk-control policy an insurer proposes to an institution. Nothing is charged or counted until the institution
-- accepts it; acceptance writes the premium transfer and the policy (with the proposal's id) in one transaction.
CREATE TABLE risk_policy_proposals (
    id uuid PRIMARY KEY,
    product_id uuid NOT NULL,
    insurer_id uuid NOT NULL REFERENCES insurers (id),
    kind text NOT NULL DEFAULT 'institution_risk' CHECK (kind = 'institution_risk'),
    institution_id uuid NOT NULL REFERENCES institutions (id),
    sum_insured_fen bigint NOT NULL CHECK (sum_insured_fen > 0),
    premium_fen bigint NOT NULL CHECK (premium_fen > 0 AND premium_fen <= sum_insured_fen),
    period_start date NOT NULL,
    period_end date NOT NULL CHECK (period_end > period_start),
    status text NOT NULL DEFAULT 'proposed' CHECK (status IN ('proposed', 'accepted', 'rejected')),
    created_at timestamptz NOT NULL,
    answered_at timestamptz,
    FOREIGN KEY (product_id, insurer_id, kind) REFERENCES insurance_products (id, insurer_id, kind),
    CONSTRAINT risk_proposal_answered_once CHECK ((status = 'proposed') = (answered_at IS NULL))
);
CREATE INDEX risk_policy_proposals_by_institution ON risk_policy_proposals (institution_id, id);
CREATE INDEX risk_policy_proposals_by_insurer ON risk_policy_proposals (insurer_id, id);

-- A risk-control policy stands in for the reserve only when what it would pay (its covered share of the unconsumed
-- tuition, at most what is left of it) reaches the reserve requirement (ratio × unconsumed). Mirrors the core's
-- riskCoverExcusesReserve; the agreement test feeds both the same table.
CREATE FUNCTION risk_cover_excuses_reserve(remaining_fen bigint, covered_share_bp int, unconsumed_fen bigint, reserve_ratio_bp int)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT least(remaining_fen::numeric * 10000, greatest(unconsumed_fen, 0)::numeric * covered_share_bp)
        >= greatest(unconsumed_fen, 0)::numeric * reserve_ratio_bp
$$;
