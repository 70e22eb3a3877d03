-- TuitionGuard foundation: parties, courses, enrollments, lessons, the double-entry fund ledger,
-- principals and idempotent requests. Every ledger invariant that fits a row is a constraint here,
-- so a bug in the application cannot write a broken row.

CREATE TABLE districts (
    code text PRIMARY KEY CHECK (code ~ '^[0-9]{6}$'),
    name text NOT NULL DEFAULT '',
    -- District caps on one prepaid charge; national caps are 60 lessons, 3 months, ¥5,000.
    charge_lessons_max int NOT NULL DEFAULT 60 CHECK (charge_lessons_max BETWEEN 1 AND 60),
    charge_term_months_max int NOT NULL DEFAULT 3 CHECK (charge_term_months_max BETWEEN 1 AND 3),
    charge_amount_max_fen bigint NOT NULL DEFAULT 500000 CHECK (charge_amount_max_fen BETWEEN 1 AND 500000),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE institutions (
    id uuid PRIMARY KEY,
    district_code text NOT NULL REFERENCES districts (code),
    licence_number text NOT NULL UNIQUE CHECK (length(licence_number) BETWEEN 1 AND 64),
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    address text NOT NULL DEFAULT '',
    credit_code text NOT NULL DEFAULT '',
    licence_valid_until date,
    supervision_mode text NOT NULL CHECK (supervision_mode IN ('escrow', 'reserve')),
    reserve_ratio_bp int NOT NULL DEFAULT 0 CHECK (
        (supervision_mode = 'escrow' AND reserve_ratio_bp = 0)
        OR (supervision_mode = 'reserve' AND reserve_ratio_bp BETWEEN 1 AND 10000)),
    supervised_bank text NOT NULL DEFAULT '',
    supervised_account_number text NOT NULL DEFAULT '',
    status text NOT NULL DEFAULT 'active'
        CHECK (status IN ('active', 'warned', 'suspended', 'defunct', 'blacklisted')),
    created_at timestamptz NOT NULL
);
CREATE INDEX institutions_by_district ON institutions (district_code, status, id);

CREATE TABLE guardians (
    id uuid PRIMARY KEY,
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    phone text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL
);

CREATE TABLE insurers (
    id uuid PRIMARY KEY,
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at timestamptz NOT NULL
);

CREATE TABLE students (
    id uuid PRIMARY KEY,
    guardian_id uuid NOT NULL REFERENCES guardians (id),
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    relationship text NOT NULL DEFAULT '',
    school text NOT NULL DEFAULT '',
    grade text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL
);
CREATE INDEX students_by_guardian ON students (guardian_id, id);

CREATE TABLE courses (
    id uuid PRIMARY KEY,
    institution_id uuid NOT NULL REFERENCES institutions (id),
    title text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    category text NOT NULL CHECK (category IN ('academic', 'non_academic')),
    price_per_lesson_fen bigint NOT NULL CHECK (price_per_lesson_fen > 0),
    lesson_minutes int NOT NULL CHECK (lesson_minutes > 0),
    lessons_per_week int NOT NULL DEFAULT 1 CHECK (lessons_per_week BETWEEN 1 AND 21),
    teacher text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL,
    UNIQUE (id, institution_id)
);
CREATE INDEX courses_by_institution ON courses (institution_id, id);

-- An enrollment is one order: lessons at a price frozen at purchase, charged once.
-- Its ledger counters are kept in the same transaction as the transfers that move them;
-- the invariant audit recomputes them from the transfers.
CREATE TABLE enrollments (
    id uuid PRIMARY KEY,
    institution_id uuid NOT NULL REFERENCES institutions (id),
    course_id uuid NOT NULL,
    student_id uuid NOT NULL REFERENCES students (id),
    guardian_id uuid NOT NULL REFERENCES guardians (id),
    supervision_mode text NOT NULL CHECK (supervision_mode IN ('escrow', 'reserve')),
    lessons_bought int NOT NULL CHECK (lessons_bought BETWEEN 1 AND 60),
    price_per_lesson_fen bigint NOT NULL CHECK (price_per_lesson_fen > 0),
    amount_fen bigint NOT NULL CHECK (amount_fen > 0 AND amount_fen <= 500000),
    term_start date NOT NULL,
    term_end date NOT NULL,
    lessons_consumed int NOT NULL DEFAULT 0 CHECK (lessons_consumed >= 0),
    lessons_refunded int NOT NULL DEFAULT 0 CHECK (lessons_refunded >= 0),
    paid_fen bigint NOT NULL DEFAULT 0,
    released_fen bigint NOT NULL DEFAULT 0,
    refunded_fen bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL,
    FOREIGN KEY (course_id, institution_id) REFERENCES courses (id, institution_id),
    CONSTRAINT amount_is_lessons_times_price CHECK (amount_fen = lessons_bought * price_per_lesson_fen),
    CONSTRAINT term_within_three_months CHECK (term_end >= term_start AND term_end <= term_start + interval '3 months'),
    CONSTRAINT paid_once_in_full CHECK (paid_fen IN (0, amount_fen)),
    CONSTRAINT lessons_consumed_within_bought CHECK (lessons_consumed + lessons_refunded <= lessons_bought),
    CONSTRAINT nothing_consumed_before_payment CHECK (paid_fen > 0 OR (lessons_consumed = 0 AND lessons_refunded = 0)),
    CONSTRAINT refund_at_frozen_price CHECK (refunded_fen = lessons_refunded * price_per_lesson_fen),
    CONSTRAINT release_matches_consumption CHECK (
        (supervision_mode = 'escrow' AND released_fen = lessons_consumed * price_per_lesson_fen)
        OR (supervision_mode = 'reserve' AND released_fen = 0)),
    -- Escrow held for the enrollment never exceeds its unconsumed tuition.
    CONSTRAINT escrow_within_unconsumed CHECK (
        (CASE WHEN supervision_mode = 'escrow' THEN paid_fen - released_fen - refunded_fen ELSE 0 END)
        <= paid_fen - lessons_consumed * price_per_lesson_fen - refunded_fen)
);
CREATE INDEX enrollments_by_institution ON enrollments (institution_id, id);
CREATE INDEX enrollments_by_guardian ON enrollments (guardian_id, id);

CREATE TABLE lessons (
    id uuid PRIMARY KEY,
    enrollment_id uuid NOT NULL REFERENCES enrollments (id),
    institution_id uuid NOT NULL REFERENCES institutions (id),
    lessons int NOT NULL CHECK (lessons > 0),
    taken_on date NOT NULL,
    value_fen bigint NOT NULL CHECK (value_fen > 0),
    recorded_at timestamptz NOT NULL,
    status text NOT NULL DEFAULT 'recorded' CHECK (status IN ('recorded', 'confirmed', 'disputed')),
    answered_at timestamptz,
    dispute_reason text,
    CHECK ((status = 'recorded') = (answered_at IS NULL))
);
CREATE INDEX lessons_by_enrollment ON lessons (enrollment_id, id);

CREATE TABLE refunds (
    id uuid PRIMARY KEY,
    enrollment_id uuid NOT NULL REFERENCES enrollments (id),
    institution_id uuid NOT NULL REFERENCES institutions (id),
    lessons int NOT NULL CHECK (lessons > 0),
    amount_fen bigint NOT NULL CHECK (amount_fen > 0),
    reason text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL
);
CREATE INDEX refunds_by_enrollment ON refunds (enrollment_id, id);

-- Accounts. Restricted accounts (an institution's escrow, operating, reserve) keep their posted totals
-- here, updated in the transfer's transaction, and may never go negative. Unrestricted accounts
-- (banks outside, insurer claims) are only appended to: their rows are never locked, their balance
-- is the sum of their transfers.
CREATE TABLE accounts (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('escrow', 'operating', 'reserve', 'guardian_bank',
                                       'institution_bank', 'insurer_claims', 'insurer_bank')),
    institution_id uuid REFERENCES institutions (id),
    guardian_id uuid REFERENCES guardians (id),
    insurer_id uuid REFERENCES insurers (id),
    restricted boolean NOT NULL,
    debits_fen bigint NOT NULL DEFAULT 0 CHECK (debits_fen >= 0),
    credits_fen bigint NOT NULL DEFAULT 0 CHECK (credits_fen >= 0),
    CONSTRAINT restricted_by_kind CHECK (restricted = (kind IN ('escrow', 'operating', 'reserve'))),
    CONSTRAINT one_owner CHECK (
        (kind IN ('escrow', 'operating', 'reserve', 'institution_bank')
            AND institution_id IS NOT NULL AND guardian_id IS NULL AND insurer_id IS NULL)
        OR (kind = 'guardian_bank' AND guardian_id IS NOT NULL AND institution_id IS NULL AND insurer_id IS NULL)
        OR (kind IN ('insurer_claims', 'insurer_bank')
            AND insurer_id IS NOT NULL AND institution_id IS NULL AND guardian_id IS NULL)),
    CONSTRAINT restricted_account_not_negative CHECK (NOT restricted OR debits_fen <= credits_fen),
    CONSTRAINT unrestricted_totals_not_kept CHECK (restricted OR (debits_fen = 0 AND credits_fen = 0))
);
CREATE UNIQUE INDEX accounts_institution_kind ON accounts (institution_id, kind) WHERE institution_id IS NOT NULL;
CREATE UNIQUE INDEX accounts_guardian_kind ON accounts (guardian_id, kind) WHERE guardian_id IS NOT NULL;
CREATE UNIQUE INDEX accounts_insurer_kind ON accounts (insurer_id, kind) WHERE insurer_id IS NOT NULL;

CREATE TABLE transfers (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    idempotency_key text NOT NULL UNIQUE CHECK (length(idempotency_key) BETWEEN 1 AND 300),
    kind text NOT NULL CHECK (kind IN ('payment', 'release', 'reserve_topup', 'refund', 'premium', 'payout')),
    debit_account_id bigint NOT NULL REFERENCES accounts (id),
    credit_account_id bigint NOT NULL REFERENCES accounts (id),
    amount_fen bigint NOT NULL CHECK (amount_fen > 0),
    institution_id uuid REFERENCES institutions (id),
    enrollment_id uuid REFERENCES enrollments (id),
    created_at timestamptz NOT NULL,
    CHECK (debit_account_id <> credit_account_id)
);
CREATE INDEX transfers_by_enrollment ON transfers (enrollment_id, id) WHERE enrollment_id IS NOT NULL;
CREATE INDEX transfers_by_institution ON transfers (institution_id, id);
CREATE INDEX transfers_by_debit ON transfers (debit_account_id);
CREATE INDEX transfers_by_credit ON transfers (credit_account_id);

-- Transfers are history: a mistake is corrected by a reversing transfer, never by editing one.
CREATE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = 'raise_exception';
END
$$;
CREATE TRIGGER transfers_append_only BEFORE UPDATE OR DELETE ON transfers
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER transfers_no_truncate BEFORE TRUNCATE ON transfers
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

CREATE TABLE principals (
    id uuid PRIMARY KEY,
    role text NOT NULL CHECK (role IN ('regulator', 'institution', 'guardian', 'insurer')),
    district_code text REFERENCES districts (code),
    institution_id uuid REFERENCES institutions (id),
    guardian_id uuid REFERENCES guardians (id),
    insurer_id uuid REFERENCES insurers (id),
    token_sha256 bytea NOT NULL UNIQUE CHECK (length(token_sha256) = 32),
    label text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL,
    revoked_at timestamptz,
    CHECK (
        (role = 'regulator' AND district_code IS NOT NULL AND num_nonnulls(institution_id, guardian_id, insurer_id) = 0)
        OR (role = 'institution' AND institution_id IS NOT NULL AND num_nonnulls(district_code, guardian_id, insurer_id) = 0)
        OR (role = 'guardian' AND guardian_id IS NOT NULL AND num_nonnulls(district_code, institution_id, insurer_id) = 0)
        OR (role = 'insurer' AND insurer_id IS NOT NULL AND num_nonnulls(district_code, institution_id, guardian_id) = 0))
);

-- The first response to a request carrying an Idempotency-Key, replayed for the same key and body.
CREATE TABLE idempotent_requests (
    principal_id uuid NOT NULL REFERENCES principals (id),
    key text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    request_sha256 bytea NOT NULL,
    status_code int NOT NULL,
    response_body bytea NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (principal_id, key)
);
