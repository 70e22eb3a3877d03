-- A chain with :n paid enrollments for tools/bench fast-track, written set-based so that it takes seconds.
-- Prints the institution's id. The ledger is consistent: the audit passes on it.
\set ON_ERROR_STOP 1
BEGIN;
INSERT INTO districts (code, name) VALUES ('330299', '基准测试区');
CREATE TEMP TABLE ids ON COMMIT DROP AS
SELECT uuid_v7() AS institution, uuid_v7() AS course, uuid_v7() AS insurer, uuid_v7() AS risk_product,
       uuid_v7() AS tuition_product, uuid_v7() AS risk_policy;

INSERT INTO institutions (id, district_code, licence_number, name, supervision_mode, reserve_ratio_bp, created_at)
SELECT institution, '330299', '教民BENCH' || institution, '连锁培训机构', 'reserve', 2000, now() - interval '400 days' FROM ids;
INSERT INTO accounts (kind, institution_id, restricted)
SELECT kind, institution, kind <> 'institution_bank' FROM ids, unnest(ARRAY['escrow', 'operating', 'reserve', 'institution_bank']) kind;
INSERT INTO courses (id, institution_id, title, category, price_per_lesson_fen, lesson_minutes, lessons_per_week, created_at)
SELECT course, institution, '小学数学', 'academic', 5000, 45, 2, now() - interval '400 days' FROM ids;
INSERT INTO insurers (id, name, created_at) SELECT insurer, '基准保险', now() - interval '400 days' FROM ids;
INSERT INTO accounts (kind, insurer_id, restricted) SELECT kind, insurer, false FROM ids, unnest(ARRAY['insurer_claims', 'insurer_bank']) kind;
INSERT INTO insurance_products (id, insurer_id, kind, premium_rate_bp, covered_share_bp, limit_fen, created_at)
SELECT risk_product, insurer, 'institution_risk', 100, 8000, 10000000000, now() - interval '400 days' FROM ids
UNION ALL SELECT tuition_product, insurer, 'student_tuition', 200, NULL, NULL, now() - interval '400 days' FROM ids;

-- One row per enrollment: two enrollments per guardian; even n escrow mode (before the switch), odd n reserve mode.
CREATE TEMP TABLE seed ON COMMIT DROP AS
SELECT n, uuid_v7() AS enrollment, g.guardian, g.student,
       CASE WHEN n % 2 = 0 THEN 'escrow' ELSE 'reserve' END AS mode,
       20 + n % 41 AS bought,
       (n * 7) % (20 + n % 41) AS consumed,
       n % 4 < 2 AS insured
FROM generate_series(1, :n) AS n
JOIN (SELECT m, uuid_v7() AS guardian, uuid_v7() AS student FROM generate_series(0, :n / 2) AS m) g ON g.m = n / 2;

INSERT INTO guardians (id, name, created_at) SELECT DISTINCT guardian, '家长', now() - interval '60 days' FROM seed;
INSERT INTO accounts (kind, guardian_id, restricted) SELECT DISTINCT 'guardian_bank', guardian, false FROM seed;
INSERT INTO students (id, guardian_id, name, created_at) SELECT DISTINCT student, guardian, '学生', now() - interval '60 days' FROM seed;
INSERT INTO enrollments (id, institution_id, course_id, student_id, guardian_id, supervision_mode, lessons_bought,
    price_per_lesson_fen, amount_fen, term_start, term_end, lessons_consumed, paid_fen, released_fen, created_at, paid_at)
SELECT s.enrollment, ids.institution, ids.course, s.student, s.guardian, s.mode, s.bought, 5000, s.bought * 5000,
    current_date - 40, current_date + 40, s.consumed, s.bought * 5000,
    CASE WHEN s.mode = 'escrow' THEN s.consumed * 5000 ELSE 0 END, now() - interval '40 days',
    now() - interval '40 days' + s.n * interval '1 millisecond'
FROM seed s, ids;

-- Payments: into escrow before the switch, into operating after it.
INSERT INTO transfers (idempotency_key, kind, debit_account_id, credit_account_id, amount_fen, institution_id, enrollment_id, created_at)
SELECT 'payment:' || s.enrollment, 'payment', g.id, a.id, s.bought * 5000, ids.institution, s.enrollment,
    now() - interval '40 days' + s.n * interval '1 millisecond'
FROM seed s CROSS JOIN ids
JOIN accounts g ON g.guardian_id = s.guardian AND g.kind = 'guardian_bank'
JOIN accounts a ON a.institution_id = ids.institution AND a.kind = CASE WHEN s.mode = 'escrow' THEN 'escrow' ELSE 'operating' END;

-- Lessons: recorded 35 days before the collapse; on 2 % a burst 3 days before it (a spike: referred); 1 % disputed.
INSERT INTO lessons (id, enrollment_id, institution_id, lessons, taken_on, value_fen, recorded_at, status, answered_at, dispute_reason)
SELECT uuid_v7(), s.enrollment, ids.institution, s.consumed,
    CASE WHEN s.n % 50 = 0 THEN current_date - 3 ELSE current_date - 35 END, s.consumed * 5000,
    CASE WHEN s.n % 50 = 0 THEN now() - interval '3 days' ELSE now() - interval '35 days' END,
    CASE WHEN s.n % 100 = 1 THEN 'disputed' ELSE 'recorded' END,
    CASE WHEN s.n % 100 = 1 THEN now() - interval '34 days' END,
    CASE WHEN s.n % 100 = 1 THEN '没有上课' END
FROM seed s, ids WHERE s.consumed > 0;
INSERT INTO transfers (idempotency_key, kind, debit_account_id, credit_account_id, amount_fen, institution_id, enrollment_id, created_at)
SELECT 'release:' || l.id, 'release', esc.id, op.id, l.value_fen, l.institution_id, l.enrollment_id, l.recorded_at
FROM lessons l JOIN enrollments e ON e.id = l.enrollment_id AND e.supervision_mode = 'escrow'
JOIN accounts esc ON esc.institution_id = l.institution_id AND esc.kind = 'escrow'
JOIN accounts op ON op.institution_id = l.institution_id AND op.kind = 'operating';

-- The reserve: a tenth of the reserve-mode unconsumed tuition (below the 20 % requirement; the risk policy stands in).
INSERT INTO transfers (idempotency_key, kind, debit_account_id, credit_account_id, amount_fen, institution_id, created_at)
SELECT 'reserve:bench', 'reserve_topup', b.id, r.id,
    (SELECT sum((bought - consumed) * 5000) / 10 FROM seed WHERE mode = 'reserve'), ids.institution, now() - interval '30 days'
FROM ids JOIN accounts b ON b.institution_id = ids.institution AND b.kind = 'institution_bank'
JOIN accounts r ON r.institution_id = ids.institution AND r.kind = 'reserve';

-- The risk-control policy: a fifth of all unconsumed tuition.
INSERT INTO transfers (idempotency_key, kind, debit_account_id, credit_account_id, amount_fen, institution_id, created_at)
SELECT 'premium:' || ids.risk_policy, 'premium', b.id, c.id, x.sum_insured / 100 + 1, ids.institution, now() - interval '30 days'
FROM ids JOIN accounts b ON b.institution_id = ids.institution AND b.kind = 'institution_bank'
JOIN accounts c ON c.insurer_id = ids.insurer AND c.kind = 'insurer_claims'
CROSS JOIN (SELECT sum((bought - consumed) * 5000) / 5 AS sum_insured FROM seed) x;
INSERT INTO policies (id, number, product_id, insurer_id, kind, institution_id, sum_insured_fen, remaining_fen, premium_fen,
    premium_transfer_id, period_start, period_end, created_at)
SELECT ids.risk_policy, 'BENCH-RISK', ids.risk_product, ids.insurer, 'institution_risk', ids.institution, t.amount_fen * 100 - 100,
    t.amount_fen * 100 - 100, t.amount_fen, t.id, now() - interval '30 days', now() + interval '335 days', now() - interval '30 days'
FROM ids JOIN transfers t ON t.idempotency_key = 'premium:' || ids.risk_policy;

-- Tuition policies on half the enrollments, for what was paid; premium at 2 %, rounded up.
INSERT INTO transfers (idempotency_key, kind, debit_account_id, credit_account_id, amount_fen, institution_id, enrollment_id, created_at)
SELECT 'premium:tuition:' || s.enrollment, 'premium', g.id, c.id, (s.bought * 5000 * 200 + 9999) / 10000, ids.institution,
    s.enrollment, now() - interval '35 days'
FROM seed s CROSS JOIN ids
JOIN accounts g ON g.guardian_id = s.guardian AND g.kind = 'guardian_bank'
JOIN accounts c ON c.insurer_id = ids.insurer AND c.kind = 'insurer_claims'
WHERE s.insured;
INSERT INTO policies (id, number, product_id, insurer_id, kind, institution_id, enrollment_id, guardian_id, sum_insured_fen,
    remaining_fen, premium_fen, premium_transfer_id, period_start, period_end, created_at)
SELECT uuid_v7(), 'BENCH-T' || s.n, ids.tuition_product, ids.insurer, 'student_tuition', ids.institution, s.enrollment, s.guardian,
    s.bought * 5000, s.bought * 5000, t.amount_fen, t.id, now() - interval '35 days', now() + interval '55 days', now() - interval '35 days'
FROM seed s CROSS JOIN ids JOIN transfers t ON t.idempotency_key = 'premium:tuition:' || s.enrollment
WHERE s.insured;

SELECT institution FROM ids;
COMMIT;
ANALYZE;
