-- tools/bench-dashboard/seed.sql — one district ('330200', 基准区) of 1,000 institutions and 200,000 paid enrollments,
-- written set-based in one transaction (about a minute). Row counters and account totals agree with each other;
-- no ledger transfers are written except the premiums that policies reference (the dashboard reads counters and
-- account totals, never the transfer history).
--   institutions k = 1…1000: escrow when k % 10 < 7, else reserve (20 %); status by k (defunct, blacklisted,
--   suspended, warned, active); grade by k (none when k % 9 = 0); one course each.
--   enrollment n = 1…200000 at institution (n % 1000) + 1: 40 lessons, n % 41 consumed.
--   reserve institutions keep (k % 5) × 5 % of what they took as reserve; every third one holds a risk policy;
--   every tenth enrollment has a tuition policy; every hundredth a claim; every other institution a warning.
\set ON_ERROR_STOP on
BEGIN;
SET LOCAL synchronous_commit = off;
INSERT INTO districts (code, name) VALUES ('330200', '基准区');

INSERT INTO institutions (id, district_code, licence_number, name, licence_valid_until, supervision_mode, reserve_ratio_bp,
                          supervised_bank, status, created_at)
SELECT md5('inst' || k)::uuid, '330200', '教民1330200' || lpad(k::text, 5, '0'), '基准培训学校' || k, current_date + (k % 700) - 30,
       CASE WHEN k % 10 < 7 THEN 'escrow' ELSE 'reserve' END, CASE WHEN k % 10 < 7 THEN 0 ELSE 2000 END, '宁波银行',
       CASE WHEN k % 100 = 1 THEN 'defunct' WHEN k % 50 = 2 THEN 'blacklisted' WHEN k % 25 = 3 THEN 'suspended'
            WHEN k % 10 = 4 THEN 'warned' ELSE 'active' END,
       now() - interval '1 year'
FROM generate_series(1, 1000) k;

INSERT INTO courses (id, institution_id, title, category, price_per_lesson_fen, lesson_minutes, lessons_per_week, teacher, created_at)
SELECT md5('course' || k)::uuid, md5('inst' || k)::uuid, '课程' || k, CASE WHEN k % 3 = 0 THEN 'academic' ELSE 'non_academic' END,
       5000 + (k % 8) * 1000, 60, 2, '老师' || k, now()
FROM generate_series(1, 1000) k;

INSERT INTO guardians (id, name, created_at) SELECT md5('g' || n)::uuid, '家长' || n, now() FROM generate_series(1, 200000) n;
INSERT INTO students (id, guardian_id, name, created_at)
SELECT md5('s' || n)::uuid, md5('g' || n)::uuid, '学生' || n, now() FROM generate_series(1, 200000) n;

INSERT INTO enrollments (id, institution_id, course_id, student_id, guardian_id, supervision_mode, lessons_bought,
                         price_per_lesson_fen, amount_fen, term_start, term_end, lessons_consumed, paid_fen, paid_at, released_fen, created_at)
SELECT md5('e' || n)::uuid, md5('inst' || k)::uuid, md5('course' || k)::uuid, md5('s' || n)::uuid, md5('g' || n)::uuid,
       CASE WHEN k % 10 < 7 THEN 'escrow' ELSE 'reserve' END, 40, price, 40 * price, current_date - 30, current_date + 60,
       n % 41, 40 * price, now(), CASE WHEN k % 10 < 7 THEN (n % 41) * price ELSE 0 END, now()
FROM (SELECT n, n % 1000 + 1 AS k, 5000 + ((n % 1000 + 1) % 8) * 1000 AS price FROM generate_series(1, 200000) n) e;

-- Account totals from the enrollments' counters.
INSERT INTO accounts (kind, institution_id, restricted, credits_fen, debits_fen)
SELECT 'escrow', i.id, true, coalesce(sum(e.paid_fen) FILTER (WHERE e.supervision_mode = 'escrow'), 0),
       coalesce(sum(e.released_fen), 0)
FROM institutions i LEFT JOIN enrollments e ON e.institution_id = i.id WHERE i.district_code = '330200' GROUP BY i.id;
INSERT INTO accounts (kind, institution_id, restricted, credits_fen)
SELECT 'operating', i.id, true,
       coalesce(sum(CASE WHEN e.supervision_mode = 'escrow' THEN e.released_fen ELSE e.paid_fen END), 0)
FROM institutions i LEFT JOIN enrollments e ON e.institution_id = i.id WHERE i.district_code = '330200' GROUP BY i.id;
INSERT INTO accounts (kind, institution_id, restricted, credits_fen)
SELECT 'reserve', i.id, true,
       CASE WHEN i.supervision_mode = 'reserve'
            THEN coalesce(sum(e.paid_fen), 0) * (substring(i.licence_number FROM 10)::int % 5) * 5 / 100 ELSE 0 END
FROM institutions i LEFT JOIN enrollments e ON e.institution_id = i.id WHERE i.district_code = '330200' GROUP BY i.id;
INSERT INTO accounts (kind, institution_id, restricted) SELECT 'institution_bank', id, false FROM institutions WHERE district_code = '330200';

-- Insurance: one insurer, a risk and a tuition product, premiums as transfers.
INSERT INTO insurers (id, name, created_at) VALUES (md5('insurer')::uuid, '基准财险', now());
INSERT INTO accounts (kind, insurer_id, restricted) VALUES ('insurer_claims', md5('insurer')::uuid, false);
INSERT INTO insurance_products (id, insurer_id, kind, premium_rate_bp, covered_share_bp, limit_fen, created_at) VALUES
    (md5('risk')::uuid, md5('insurer')::uuid, 'institution_risk', 100, 8000, 100000000, now()),
    (md5('tuition')::uuid, md5('insurer')::uuid, 'student_tuition', 200, NULL, NULL, now());

INSERT INTO transfers (idempotency_key, kind, debit_account_id, credit_account_id, amount_fen, institution_id, created_at)
SELECT 'bench:risk:' || k, 'premium', (SELECT id FROM accounts WHERE institution_id = md5('inst' || k)::uuid AND kind = 'institution_bank'),
       (SELECT id FROM accounts WHERE insurer_id = md5('insurer')::uuid AND kind = 'insurer_claims'), 50000, md5('inst' || k)::uuid, now()
FROM generate_series(1, 1000) k WHERE k % 10 >= 7 AND k % 3 = 0;
INSERT INTO policies (id, number, product_id, insurer_id, kind, institution_id, sum_insured_fen, remaining_fen, premium_fen,
                      premium_transfer_id, period_start, period_end, created_at)
SELECT md5('riskpolicy' || k)::uuid, 'BENCH-R-' || k, md5('risk')::uuid, md5('insurer')::uuid, 'institution_risk', md5('inst' || k)::uuid,
       5000000, 5000000, 50000, t.id, now() - interval '30 days', now() + interval '335 days', now()
FROM generate_series(1, 1000) k JOIN transfers t ON t.idempotency_key = 'bench:risk:' || k;

INSERT INTO accounts (kind, guardian_id, restricted) SELECT 'guardian_bank', md5('g' || n)::uuid, false FROM generate_series(10, 200000, 10) n;
INSERT INTO transfers (idempotency_key, kind, debit_account_id, credit_account_id, amount_fen, institution_id, enrollment_id, created_at)
SELECT 'bench:tuition:' || n, 'premium', a.id, (SELECT id FROM accounts WHERE insurer_id = md5('insurer')::uuid AND kind = 'insurer_claims'),
       1000, md5('inst' || (n % 1000 + 1))::uuid, md5('e' || n)::uuid, now()
FROM generate_series(10, 200000, 10) n JOIN accounts a ON a.guardian_id = md5('g' || n)::uuid AND a.kind = 'guardian_bank';
INSERT INTO policies (id, number, product_id, insurer_id, kind, institution_id, enrollment_id, guardian_id, sum_insured_fen, remaining_fen,
                      premium_fen, premium_transfer_id, period_start, period_end, created_at)
SELECT md5('tuitionpolicy' || n)::uuid, 'BENCH-T-' || n, md5('tuition')::uuid, md5('insurer')::uuid, 'student_tuition',
       md5('inst' || (n % 1000 + 1))::uuid, md5('e' || n)::uuid, md5('g' || n)::uuid, 50000, 50000, 1000, t.id,
       now() - interval '30 days', now() + interval '60 days', now()
FROM generate_series(10, 200000, 10) n JOIN transfers t ON t.idempotency_key = 'bench:tuition:' || n;

INSERT INTO claims (id, number, guardian_id, enrollment_id, institution_id, policy_id, insurer_id, reason, claimed_fen, entitlement_fen,
                    approvable_fen, approved_fen, status, checks, event_time, created_at)
SELECT md5('claim' || n)::uuid, 'BENCH-C-' || n, md5('g' || n)::uuid, md5('e' || n)::uuid, md5('inst' || (n % 1000 + 1))::uuid,
       md5('tuitionpolicy' || n)::uuid, md5('insurer')::uuid, 'refund_refused', 10000, 10000, 10000,
       CASE WHEN n % 400 = 300 THEN 10000 ELSE 0 END,
       CASE n % 400 WHEN 0 THEN 'verified' WHEN 100 THEN 'referred' WHEN 200 THEN 'rejected' ELSE 'approved' END,
       '[]'::jsonb, now(), now()
FROM generate_series(100, 200000, 100) n;

INSERT INTO credit_grades (institution_id, grade, points, components, computed_at)
SELECT md5('inst' || k)::uuid, (ARRAY['A', 'B', 'C', 'D'])[k % 4 + 1], 90 - (k % 4) * 20, '[]'::jsonb, now()
FROM generate_series(1, 1000) k WHERE k % 9 <> 0;

INSERT INTO warnings (id, institution_id, district_code, rule, severity, status, figures, latest_figures, deadline, opened_at,
                      evaluated_at, escalated_at)
SELECT md5('warning' || k)::uuid, md5('inst' || k)::uuid, '330200',
       (ARRAY['escrow_shortfall', 'reserve_shortfall', 'sales_spike', 'lessons_over_schedule', 'refunds_overdue', 'licence_expiring',
              'risk_policy_expiring'])[k % 7 + 1],
       (ARRAY['notice', 'serious', 'critical'])[k % 3 + 1], CASE WHEN k % 20 = 0 THEN 'escalated' ELSE 'open' END, '{}', '{}',
       current_date + (k % 30) - 10, now() - interval '5 days', now(), CASE WHEN k % 20 = 0 THEN now() END
FROM generate_series(2, 1000, 2) k;

INSERT INTO defunct_cases (id, institution_id, district_code, effective_at, reason, marked_at, status, planned_at, enrollments_total,
                           enrollments_done, entitled_fen, paid_escrow_fen, paid_reserve_fen, referred_count, uncovered_fen, completed_at)
SELECT md5('case' || k)::uuid, md5('inst' || k)::uuid, '330200', now() - interval '3 days', '停业', now() - interval '2 days',
       CASE WHEN k % 200 = 1 THEN 'completed' ELSE 'running' END, now() - interval '2 days', 200,
       CASE WHEN k % 200 = 1 THEN 200 ELSE 120 END, 60000000, 40000000, 5000000, 3, 15000000,
       CASE WHEN k % 200 = 1 THEN now() END
FROM generate_series(1, 1000) k WHERE k % 100 = 1;
COMMIT;
ANALYZE;
