-- Claims: a guardian claims against a policy for an enrollment's unconsumed tuition. The automatic checks run
-- when the claim is filed and are stored with it; the insurer approves (all or part) or rejects, then pays with
-- one ledger transfer (kind 'payout', insurer_claims -> guardian_bank, keyed 'claim:<id>').

CREATE SEQUENCE claim_numbers;

CREATE TABLE claims (
    id uuid PRIMARY KEY,
    number text NOT NULL UNIQUE CHECK (length(number) BETWEEN 1 AND 64),
    guardian_id uuid NOT NULL REFERENCES guardians (id),
    enrollment_id uuid NOT NULL,
    -- The enrollment's institution: every large table carries institution_id (DESIGN.md §4).
    institution_id uuid NOT NULL REFERENCES institutions (id),
    policy_id uuid NOT NULL REFERENCES policies (id),
    insurer_id uuid NOT NULL REFERENCES insurers (id),
    reason text NOT NULL CHECK (reason IN ('institution_defunct', 'refund_refused')),
    claimed_fen bigint NOT NULL CHECK (claimed_fen > 0),
    entitlement_fen bigint NOT NULL CHECK (entitlement_fen >= 0),
    -- min(claimed, entitlement) as the checks computed it: the most an approval may grant.
    approvable_fen bigint NOT NULL CHECK (approvable_fen >= 0),
    approved_fen bigint NOT NULL DEFAULT 0 CHECK (approved_fen >= 0),
    paid_fen bigint NOT NULL DEFAULT 0 CHECK (paid_fen >= 0),
    status text NOT NULL CHECK (status IN ('filed', 'verified', 'approved', 'paid', 'referred', 'rejected')),
    -- Each check's outcome and reason code, in check order: [{"check":…,"outcome":…,"code":…}].
    checks jsonb NOT NULL CHECK (jsonb_typeof(checks) = 'array'),
    decision_reason text CHECK (length(decision_reason) <= 1000),
    event_time timestamptz NOT NULL,
    created_at timestamptz NOT NULL,
    decided_at timestamptz,
    paid_at timestamptz,
    payout_transfer_id bigint UNIQUE REFERENCES transfers (id),
    FOREIGN KEY (enrollment_id, institution_id, guardian_id) REFERENCES enrollments (id, institution_id, guardian_id),
    CONSTRAINT approvable_within_claim CHECK (approvable_fen <= claimed_fen AND approvable_fen <= entitlement_fen),
    CONSTRAINT approved_within_claimed CHECK (approved_fen <= claimed_fen AND approved_fen <= approvable_fen),
    CONSTRAINT paid_within_approved CHECK (paid_fen <= approved_fen),
    CONSTRAINT approved_claim_has_amount CHECK (status NOT IN ('approved', 'paid') OR approved_fen > 0),
    CONSTRAINT paid_claim_is_paid_in_full CHECK (
        (status = 'paid') = (paid_fen > 0) AND (status = 'paid') = (payout_transfer_id IS NOT NULL)
        AND (status <> 'paid' OR (paid_fen = approved_fen AND paid_at IS NOT NULL)))
);
CREATE INDEX claims_by_insurer ON claims (insurer_id, status, id);
CREATE INDEX claims_by_guardian ON claims (guardian_id, id);
CREATE INDEX claims_by_institution ON claims (institution_id, id);
-- One open claim per enrollment and policy: a paid or rejected claim no longer blocks a new one.
CREATE UNIQUE INDEX claims_one_open_per_enrollment_policy ON claims (enrollment_id, policy_id)
    WHERE status NOT IN ('paid', 'rejected');
