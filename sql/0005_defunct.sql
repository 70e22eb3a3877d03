-- The defunct fast-track. A regulator's mark opens one case per institution (the institution is frozen from then on);
-- the job plans every entitled enrollment's waterfall in one set-based statement (`defunct_settlements`), then pays
-- the plan in chunks, each chunk one transaction: its transfers, claims, policy reductions and the case's counters.
-- A crash loses at most the chunk in flight, whose transaction rolls back; the next run finds it still pending.

-- Time-ordered ids made in SQL (the layout of `UUID.timeOrdered`: UUIDv7, RFC 9562), for rows the job inserts in bulk.
CREATE FUNCTION uuid_v7() RETURNS uuid LANGUAGE sql VOLATILE AS $$
    SELECT encode(
        set_bit(set_bit(
            overlay(uuid_send(gen_random_uuid())
                    PLACING substring(int8send((extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
                    FROM 1 FOR 6),
            52, 1), 53, 1), 'hex')::uuid
$$;

CREATE TABLE defunct_cases (
    id uuid PRIMARY KEY,
    institution_id uuid NOT NULL UNIQUE REFERENCES institutions (id),
    district_code text NOT NULL REFERENCES districts (code),
    -- When the institution stopped serving: lessons recorded from then on do not count, payments from then on
    -- are not covered. It may lie before the mark (the owner ran away on Friday, the bureau marks on Monday).
    effective_at timestamptz NOT NULL,
    reason text NOT NULL CHECK (length(reason) BETWEEN 1 AND 1000),
    marked_at timestamptz NOT NULL,
    status text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'completed')),
    -- The plan's snapshot: what the reserve held and which risk-control policy was in force.
    planned_at timestamptz,
    reserve_balance_fen bigint CHECK (reserve_balance_fen >= 0),
    risk_policy_id uuid REFERENCES policies (id),
    -- Progress, written by each chunk's transaction.
    enrollments_total int NOT NULL DEFAULT 0 CHECK (enrollments_total >= 0),
    enrollments_done int NOT NULL DEFAULT 0 CHECK (enrollments_done >= 0),
    entitled_fen bigint NOT NULL DEFAULT 0 CHECK (entitled_fen >= 0),
    paid_escrow_fen bigint NOT NULL DEFAULT 0 CHECK (paid_escrow_fen >= 0),
    paid_reserve_fen bigint NOT NULL DEFAULT 0 CHECK (paid_reserve_fen >= 0),
    paid_risk_policy_fen bigint NOT NULL DEFAULT 0 CHECK (paid_risk_policy_fen >= 0),
    paid_tuition_policy_fen bigint NOT NULL DEFAULT 0 CHECK (paid_tuition_policy_fen >= 0),
    -- Referred enrollments: their insurance layers wait for the insurer's decision.
    referred_count int NOT NULL DEFAULT 0 CHECK (referred_count >= 0),
    referred_fen bigint NOT NULL DEFAULT 0 CHECK (referred_fen >= 0),
    uncovered_fen bigint NOT NULL DEFAULT 0 CHECK (uncovered_fen >= 0),
    completed_at timestamptz,
    CONSTRAINT effective_not_after_mark CHECK (effective_at <= marked_at),
    CONSTRAINT done_within_total CHECK (enrollments_done <= enrollments_total),
    CONSTRAINT completed_when_done CHECK ((status = 'completed') = (completed_at IS NOT NULL)
        AND (status <> 'completed' OR (planned_at IS NOT NULL AND enrollments_done = enrollments_total)))
);
CREATE INDEX defunct_cases_by_district ON defunct_cases (district_code, id);
CREATE INDEX defunct_cases_running ON defunct_cases (id) WHERE status = 'running';

-- One row per enrollment owed something at the effective time: the waterfall's plan, then what happened to it.
CREATE TABLE defunct_settlements (
    case_id uuid NOT NULL REFERENCES defunct_cases (id),
    enrollment_id uuid NOT NULL,
    institution_id uuid NOT NULL REFERENCES institutions (id),
    guardian_id uuid NOT NULL REFERENCES guardians (id),
    entitlement_fen bigint NOT NULL CHECK (entitlement_fen > 0),
    escrow_fen bigint NOT NULL CHECK (escrow_fen >= 0),
    reserve_fen bigint NOT NULL CHECK (reserve_fen >= 0),
    risk_policy_fen bigint NOT NULL CHECK (risk_policy_fen >= 0),
    tuition_policy_fen bigint NOT NULL CHECK (tuition_policy_fen >= 0),
    uncovered_fen bigint NOT NULL CHECK (uncovered_fen >= 0),
    tuition_policy_id uuid REFERENCES policies (id),
    -- The automatic checks, as claims store them: [{"check":…,"outcome":…,"code":…}].
    checks jsonb NOT NULL CHECK (jsonb_typeof(checks) = 'array'),
    decision text NOT NULL CHECK (decision IN ('approve', 'refer')),
    -- pending: planned, not yet paid; paid: every layer paid; referred: escrow and reserve paid, insurance layers
    -- filed as referred claims for the insurer to decide.
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'paid', 'referred')),
    settled_at timestamptz,
    PRIMARY KEY (case_id, enrollment_id),
    FOREIGN KEY (enrollment_id, institution_id, guardian_id) REFERENCES enrollments (id, institution_id, guardian_id),
    CONSTRAINT layers_add_up CHECK (
        escrow_fen + reserve_fen + risk_policy_fen + tuition_policy_fen + uncovered_fen = entitlement_fen),
    CONSTRAINT tuition_layer_has_policy CHECK (tuition_policy_fen = 0 OR tuition_policy_id IS NOT NULL),
    CONSTRAINT settled_when_not_pending CHECK ((status = 'pending') = (settled_at IS NULL))
);
CREATE INDEX defunct_settlements_pending ON defunct_settlements (case_id, enrollment_id) WHERE status = 'pending';
CREATE INDEX defunct_settlements_by_guardian ON defunct_settlements (guardian_id, case_id);
