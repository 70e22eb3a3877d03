-- A district for tools/bench warnings, built set-based: :institutions institutions (70 % escrow, 30 % reserve),
-- 2 courses each, :enrollments enrollments of their own students and guardians, paid over the last 90 days, with
-- lessons consumed and their releases, some reserve top-ups and risk-control policies, licences some of which
-- expire soon. Account totals are posted by the transfers' INSERT, as the ledger keeps them (sql/0020).
-- psql variables: district, institutions, enrollments.
\set ON_ERROR_STOP on
BEGIN;
INSERT INTO districts (code, name) VALUES (:'district', 'bench') ON CONFLICT DO NOTHING;

CREATE TEMP TABLE bench_inst AS
SELECT n, gen_random_uuid() AS id, CASE WHEN n % 10 < 7 THEN 'escrow' ELSE 'reserve' END AS mode
FROM generate_series(1, :institutions) AS n;

INSERT INTO institutions (id, district_code, licence_number, name, licence_valid_until, supervision_mode, reserve_ratio_bp,
    supervised_bank, created_at)
SELECT id, :'district', 'BENCH-' || :'district' || '-' || n, '基准机构' || n,
    current_date + (CASE WHEN n % 50 = 0 THEN 10 WHEN n % 97 = 0 THEN -5 ELSE 400 + n % 300 END),
    mode, CASE WHEN mode = 'reserve' THEN 2000 ELSE 0 END, '宁波银行', now() - interval '400 days'
FROM bench_inst;

INSERT INTO accounts (kind, institution_id, restricted)
SELECT kind, id, kind <> 'institution_bank'
FROM bench_inst CROSS JOIN unnest(ARRAY['escrow', 'operating', 'reserve', 'institution_bank']) AS kind;

INSERT INTO courses (id, institution_id, title, category, price_per_lesson_fen, lesson_minutes, lessons_per_week, teacher, created_at)
SELECT gen_random_uuid(), i.id, '课程' || c, CASE WHEN c = 1 THEN 'academic' ELSE 'non_academic' END,
    4000 + (i.n % 5) * 500, 60, 2, '老师' || c, now() - interval '400 days'
FROM bench_inst i CROSS JOIN generate_series(1, 2) AS c;

-- One guardian and one student per enrollment, spread round-robin over institutions and their two courses.
CREATE TEMP TABLE bench_enr AS
SELECT e, gen_random_uuid() AS id, gen_random_uuid() AS guardian_id, gen_random_uuid() AS student_id,
    (e % :institutions) + 1 AS inst_n, (e / :institutions) % 2 + 1 AS course_n,
    20 + (e % 41) AS lessons,
    -- Paid 0–89 days ago; every 40th institution sold a burst in the last week.
    CASE WHEN (e % :institutions) % 40 = 0 AND e % 3 = 0 THEN (e % 6) ELSE ((e::bigint * 7919) % 90)::int END AS days_ago
FROM generate_series(0, :enrollments - 1) AS e;

INSERT INTO guardians (id, name, created_at) SELECT guardian_id, '家长', now() FROM bench_enr;
INSERT INTO students (id, guardian_id, name, created_at) SELECT student_id, guardian_id, '学生', now() FROM bench_enr;
INSERT INTO accounts (kind, guardian_id, restricted) SELECT 'guardian_bank', guardian_id, false FROM bench_enr;

CREATE TEMP TABLE bench_course AS
SELECT c.id, c.institution_id, c.price_per_lesson_fen, row_number() OVER (PARTITION BY c.institution_id ORDER BY c.title) AS course_n
FROM courses c JOIN bench_inst i ON i.id = c.institution_id;

-- Consumption: about 2 lessons a week since payment, never more than bought.
INSERT INTO enrollments (id, institution_id, course_id, student_id, guardian_id, supervision_mode, lessons_bought,
    price_per_lesson_fen, amount_fen, term_start, term_end, lessons_consumed, paid_fen, paid_at, released_fen, created_at)
SELECT b.id, i.id, c.id, b.student_id, b.guardian_id, i.mode, b.lessons, c.price_per_lesson_fen, b.lessons * c.price_per_lesson_fen,
    current_date - b.days_ago - 10, current_date - b.days_ago - 10 + 60,
    b.consumed, b.lessons * c.price_per_lesson_fen, now() - make_interval(days => b.days_ago),
    CASE WHEN i.mode = 'escrow' THEN b.consumed * c.price_per_lesson_fen ELSE 0 END,
    now() - make_interval(days => b.days_ago)
FROM (
    -- Orders whose term ended over 30 days ago were used up, but for one in 500 (a refund the guardian is owed).
    SELECT *, CASE WHEN days_ago > 80 AND e % 500 <> 0 THEN lessons ELSE least(lessons, (days_ago * 2) / 7) END AS consumed
    FROM bench_enr) b
    JOIN bench_inst i ON i.n = b.inst_n JOIN bench_course c ON c.institution_id = i.id AND c.course_n = b.course_n;

-- Payments (guardian bank -> escrow or operating) and releases (escrow -> operating) with one lessons row each.
INSERT INTO transfers (idempotency_key, kind, debit_account_id, credit_account_id, amount_fen, institution_id, enrollment_id, created_at)
SELECT 'payment:' || e.id, 'payment', g.id, a.id, e.paid_fen, e.institution_id, e.id, e.created_at
FROM enrollments e JOIN bench_enr b ON b.id = e.id
    JOIN accounts g ON g.guardian_id = e.guardian_id AND g.kind = 'guardian_bank'
    JOIN accounts a ON a.institution_id = e.institution_id AND a.kind = CASE WHEN e.supervision_mode = 'escrow' THEN 'escrow' ELSE 'operating' END;

INSERT INTO lessons (id, enrollment_id, institution_id, lessons, taken_on, value_fen, recorded_at, status, answered_at)
SELECT gen_random_uuid(), e.id, e.institution_id, e.lessons_consumed, current_date - b.days_ago / 2,
    e.lessons_consumed * e.price_per_lesson_fen,
    -- Recorded halfway between payment and now; every 50th institution recorded all of it in the last days (draining).
    CASE WHEN b.inst_n % 50 = 25 THEN now() - interval '2 days' ELSE e.created_at + (now() - e.created_at) / 2 END,
    'confirmed', now()
FROM enrollments e JOIN bench_enr b ON b.id = e.id WHERE e.lessons_consumed > 0;

INSERT INTO transfers (idempotency_key, kind, debit_account_id, credit_account_id, amount_fen, institution_id, enrollment_id, created_at)
SELECT 'release:' || e.id, 'release', s.id, o.id, e.released_fen, e.institution_id, e.id, now() - interval '1 day'
FROM enrollments e JOIN bench_enr b ON b.id = e.id
    JOIN accounts s ON s.institution_id = e.institution_id AND s.kind = 'escrow'
    JOIN accounts o ON o.institution_id = e.institution_id AND o.kind = 'operating'
WHERE e.released_fen > 0;

-- Reserve top-ups: two thirds of the reserve-mode institutions keep 25 % of their sales, the rest nothing.
INSERT INTO transfers (idempotency_key, kind, debit_account_id, credit_account_id, amount_fen, institution_id, created_at)
SELECT 'reserve_topup:bench:' || i.id, 'reserve_topup', bank.id, r.id, sum(e.paid_fen) / 4, i.id, now() - interval '30 days'
FROM bench_inst i JOIN enrollments e ON e.institution_id = i.id
    JOIN accounts bank ON bank.institution_id = i.id AND bank.kind = 'institution_bank'
    JOIN accounts r ON r.institution_id = i.id AND r.kind = 'reserve'
WHERE i.mode = 'reserve' AND i.n % 3 <> 0
GROUP BY i.id, bank.id, r.id;

-- Risk-control policies for a third of the reserve-mode institutions, a few ending within the month.
INSERT INTO insurers (id, name, created_at) VALUES ('00000000-0000-4000-8000-00000000be0c', '基准保险', now()) ON CONFLICT DO NOTHING;
INSERT INTO accounts (kind, insurer_id, restricted)
SELECT kind, '00000000-0000-4000-8000-00000000be0c', false FROM unnest(ARRAY['insurer_claims', 'insurer_bank']) AS kind
ON CONFLICT DO NOTHING;
INSERT INTO insurance_products (id, insurer_id, kind, premium_rate_bp, covered_share_bp, limit_fen, created_at)
VALUES ('00000000-0000-4000-8000-00000000be0d', '00000000-0000-4000-8000-00000000be0c', 'institution_risk', 150, 8000, 100000000, now())
ON CONFLICT DO NOTHING;
WITH insured AS (
    SELECT i.id, i.n, bank.id AS bank_id FROM bench_inst i JOIN accounts bank ON bank.institution_id = i.id AND bank.kind = 'institution_bank'
    WHERE i.mode = 'reserve' AND i.n % 10 = 7),
premium AS (
    INSERT INTO transfers (idempotency_key, kind, debit_account_id, credit_account_id, amount_fen, institution_id, created_at)
    SELECT 'premium:bench:' || insured.id, 'premium', insured.bank_id,
        (SELECT id FROM accounts WHERE insurer_id = '00000000-0000-4000-8000-00000000be0c' AND kind = 'insurer_claims'),
        150000, insured.id, now() - interval '300 days'
    FROM insured
    RETURNING id, institution_id)
INSERT INTO policies (id, number, product_id, insurer_id, kind, institution_id, sum_insured_fen, remaining_fen, premium_fen,
    premium_transfer_id, period_start, period_end, created_at)
SELECT gen_random_uuid(), 'BENCH-P-' || insured.n, '00000000-0000-4000-8000-00000000be0d', '00000000-0000-4000-8000-00000000be0c',
    'institution_risk', insured.id, 10000000, 10000000, 150000, premium.id, now() - interval '300 days',
    now() + CASE WHEN insured.n % 20 = 7 THEN interval '20 days' ELSE interval '65 days' END, now() - interval '300 days'
FROM insured JOIN premium ON premium.institution_id = insured.id;
COMMIT;
ANALYZE;
