-- Supervision: early warnings with district thresholds, annual inspections, credit grades, reviews and complaints,
-- and the regulator's sanctions. The rules themselves are documented in TuitionCore/Warnings.swift; their
-- set-based SQL lives in TuitionStore/WarningEvaluator.swift.

-- A district's warning thresholds. A district without a row uses these defaults (the same as WarningThresholds.defaults).
CREATE TABLE district_warning_settings (
    district_code text PRIMARY KEY REFERENCES districts (code),
    -- escrow_shortfall: escrow held below this share of unconsumed tuition (escrow mode). 10000 = 100 %.
    escrow_coverage_min_bp int NOT NULL DEFAULT 10000 CHECK (escrow_coverage_min_bp BETWEEN 1 AND 10000),
    -- sales_spike: prepaid sales in the last 7 days above this multiple of the trailing 8-week weekly average
    -- (30000 = 3×), and at least sales_spike_min_fen (so a tiny institution's first sales are not a spike).
    sales_spike_ratio_bp int NOT NULL DEFAULT 30000 CHECK (sales_spike_ratio_bp BETWEEN 10000 AND 1000000),
    sales_spike_min_fen bigint NOT NULL DEFAULT 1000000 CHECK (sales_spike_min_fen >= 0),
    -- lessons_over_schedule: lessons taken in the last 7 days above this multiple of the schedule
    -- (Σ lessons_per_week of the enrollments that took them; 15000 = 1.5×), and at least this many lessons over.
    lessons_over_schedule_ratio_bp int NOT NULL DEFAULT 15000 CHECK (lessons_over_schedule_ratio_bp BETWEEN 10000 AND 1000000),
    lessons_over_schedule_min int NOT NULL DEFAULT 10 CHECK (lessons_over_schedule_min >= 1),
    -- refunds_overdue: a paid enrollment whose term ended more than this many days ago with unconsumed tuition left.
    refund_grace_days int NOT NULL DEFAULT 30 CHECK (refund_grace_days BETWEEN 0 AND 365),
    -- licence_expiring / risk_policy_expiring: warn this many days before the end date.
    expiry_notice_days int NOT NULL DEFAULT 30 CHECK (expiry_notice_days BETWEEN 0 AND 365),
    -- A new warning's deadline: opened date (Asia/Shanghai) + deadline_days.
    deadline_days int NOT NULL DEFAULT 15 CHECK (deadline_days BETWEEN 1 AND 365),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE warnings (
    id uuid PRIMARY KEY,
    institution_id uuid NOT NULL REFERENCES institutions (id),
    district_code text NOT NULL REFERENCES districts (code),
    rule text NOT NULL CHECK (rule IN ('escrow_shortfall', 'reserve_shortfall', 'sales_spike', 'lessons_over_schedule',
                                       'refunds_overdue', 'licence_expiring', 'risk_policy_expiring')),
    severity text NOT NULL CHECK (severity IN ('notice', 'serious', 'critical')),
    status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved', 'escalated')),
    -- The figures that opened the warning, and the latest figures while it stays unresolved.
    figures jsonb NOT NULL CHECK (jsonb_typeof(figures) = 'object'),
    latest_figures jsonb NOT NULL CHECK (jsonb_typeof(latest_figures) = 'object'),
    deadline date NOT NULL,
    opened_at timestamptz NOT NULL,
    evaluated_at timestamptz NOT NULL,
    resolved_at timestamptz,
    -- 'cleared' when the condition cleared on evaluation, 'regulator' when a regulator resolved it.
    resolved_by text CHECK (resolved_by IN ('cleared', 'regulator')),
    resolution_note text CHECK (length(resolution_note) <= 2000),
    escalated_at timestamptz,
    CONSTRAINT resolution_matches_status CHECK (
        (status = 'resolved') = (resolved_at IS NOT NULL) AND (status = 'resolved') = (resolved_by IS NOT NULL)),
    CONSTRAINT escalation_recorded CHECK (status <> 'escalated' OR escalated_at IS NOT NULL)
);
-- One unresolved (open or escalated) warning per institution and rule: evaluating twice opens nothing twice.
CREATE UNIQUE INDEX warnings_one_open_per_rule ON warnings (institution_id, rule) WHERE status <> 'resolved';
CREATE INDEX warnings_by_district ON warnings (district_code, status, id);
CREATE INDEX warnings_by_institution ON warnings (institution_id, id);

-- Annual inspection (年检) result and star rating, entered by the regulator; one per institution and year.
CREATE TABLE institution_inspections (
    institution_id uuid NOT NULL REFERENCES institutions (id),
    year int NOT NULL CHECK (year BETWEEN 2000 AND 2100),
    result text NOT NULL CHECK (result IN ('qualified', 'basically_qualified', 'unqualified')),
    star_rating int NOT NULL CHECK (star_rating BETWEEN 1 AND 5),
    note text NOT NULL DEFAULT '' CHECK (length(note) <= 2000),
    recorded_at timestamptz NOT NULL,
    PRIMARY KEY (institution_id, year)
);

-- The latest credit grade of each institution, with every component and its points.
CREATE TABLE credit_grades (
    institution_id uuid PRIMARY KEY REFERENCES institutions (id),
    grade text NOT NULL CHECK (grade IN ('A', 'B', 'C', 'D')),
    points int NOT NULL CHECK (points BETWEEN 0 AND 100),
    components jsonb NOT NULL CHECK (jsonb_typeof(components) = 'array'),
    computed_at timestamptz NOT NULL
);

-- A guardian rates a paid enrollment once.
CREATE TABLE reviews (
    id uuid PRIMARY KEY,
    enrollment_id uuid NOT NULL UNIQUE,
    institution_id uuid NOT NULL REFERENCES institutions (id),
    course_id uuid NOT NULL,
    guardian_id uuid NOT NULL REFERENCES guardians (id),
    teaching int NOT NULL CHECK (teaching BETWEEN 1 AND 5),
    environment int NOT NULL CHECK (environment BETWEEN 1 AND 5),
    curriculum int NOT NULL CHECK (curriculum BETWEEN 1 AND 5),
    text text NOT NULL DEFAULT '' CHECK (length(text) <= 2000),
    created_at timestamptz NOT NULL,
    FOREIGN KEY (enrollment_id, institution_id, guardian_id) REFERENCES enrollments (id, institution_id, guardian_id),
    FOREIGN KEY (course_id, institution_id) REFERENCES courses (id, institution_id)
);
CREATE INDEX reviews_by_institution ON reviews (institution_id, id);
CREATE INDEX reviews_by_course ON reviews (course_id);

CREATE TABLE complaints (
    id uuid PRIMARY KEY,
    enrollment_id uuid NOT NULL,
    institution_id uuid NOT NULL REFERENCES institutions (id),
    guardian_id uuid NOT NULL REFERENCES guardians (id),
    text text NOT NULL CHECK (length(text) BETWEEN 1 AND 4000),
    answer text CHECK (length(answer) BETWEEN 1 AND 4000),
    answered_at timestamptz,
    status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'answered', 'upheld', 'not_upheld')),
    closing_note text CHECK (length(closing_note) BETWEEN 1 AND 2000),
    closed_at timestamptz,
    created_at timestamptz NOT NULL,
    FOREIGN KEY (enrollment_id, institution_id, guardian_id) REFERENCES enrollments (id, institution_id, guardian_id),
    CONSTRAINT answer_recorded CHECK ((answer IS NULL) = (answered_at IS NULL)),
    CONSTRAINT closing_recorded CHECK (
        (status IN ('upheld', 'not_upheld')) = (closed_at IS NOT NULL)
        AND (status IN ('upheld', 'not_upheld')) = (closing_note IS NOT NULL))
);
CREATE INDEX complaints_by_institution ON complaints (institution_id, status, id);
CREATE INDEX complaints_by_guardian ON complaints (guardian_id, id);

-- The regulator's sanctions and their reversal, as history (the current state is institutions.status).
CREATE TABLE institution_sanctions (
    id uuid PRIMARY KEY,
    institution_id uuid NOT NULL REFERENCES institutions (id),
    action text NOT NULL CHECK (action IN ('suspend', 'reinstate', 'blacklist')),
    note text NOT NULL CHECK (length(note) BETWEEN 1 AND 2000),
    created_at timestamptz NOT NULL
);
CREATE INDEX institution_sanctions_by_institution ON institution_sanctions (institution_id, created_at);

-- The rules read these windows; without them a district-wide evaluation scans every transfer and lesson.
CREATE INDEX transfers_payments_by_time ON transfers (institution_id, created_at) WHERE kind = 'payment';
CREATE INDEX lessons_by_institution_recorded ON lessons (institution_id, recorded_at);

-- Parents' average ratings per course and per institution (overall = the mean of the three ratings), for the API,
-- the credit grade and the public pages alike.
CREATE VIEW course_review_averages AS
SELECT course_id, institution_id, count(*)::int AS reviews,
    round(avg(teaching), 2) AS teaching, round(avg(environment), 2) AS environment, round(avg(curriculum), 2) AS curriculum,
    round(avg((teaching + environment + curriculum) / 3.0), 2) AS overall
FROM reviews GROUP BY course_id, institution_id;

CREATE VIEW institution_review_averages AS
SELECT institution_id, count(*)::int AS reviews,
    round(avg(teaching), 2) AS teaching, round(avg(environment), 2) AS environment, round(avg(curriculum), 2) AS curriculum,
    round(avg((teaching + environment + curriculum) / 3.0), 2) AS overall
FROM reviews GROUP BY institution_id;
