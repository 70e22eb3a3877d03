-- One escrow-mode institution for tools/bench attendance: :classes courses of :class_size paid 60-lesson enrollments each,
-- one guardian and student per enrollment, written set-based. The ledger is consistent: the audit passes on it.
-- Prints the institution's id, then one line per enrollment: <course id> <enrollment id>.
\set ON_ERROR_STOP 1
BEGIN;
INSERT INTO districts (code, name) VALUES ('330298', '考勤基准区') ON CONFLICT DO NOTHING;
CREATE TEMP TABLE ids ON COMMIT DROP AS SELECT uuid_v7() AS institution;
INSERT INTO institutions (id, district_code, licence_number, name, address, credit_code, licence_valid_until, supervision_mode,
    supervised_bank, supervised_account_number, created_at)
SELECT institution, '330298', '教民ATTEND' || institution, '考勤培训学校', '宁波市海曙区', '52330203MJ0000000X', current_date + 730,
    'escrow', '宁波银行', '8601 0000 0000', now() - interval '400 days' FROM ids;
INSERT INTO accounts (kind, institution_id, restricted)
SELECT kind, institution, kind <> 'institution_bank' FROM ids, unnest(ARRAY['escrow', 'operating', 'reserve', 'institution_bank']) kind;

CREATE TEMP TABLE classes ON COMMIT DROP AS SELECT c, uuid_v7() AS course FROM generate_series(1, :classes) AS c;
INSERT INTO courses (id, institution_id, title, category, price_per_lesson_fen, lesson_minutes, lessons_per_week, created_at)
SELECT course, institution, '小学数学 ' || c || ' 班', 'academic', 5000, 45, 2, now() - interval '400 days' FROM classes, ids;

CREATE TEMP TABLE seed ON COMMIT DROP AS
SELECT c.c, c.course, n, uuid_v7() AS enrollment, uuid_v7() AS guardian, uuid_v7() AS student
FROM classes c, generate_series(1, :class_size) AS n;
INSERT INTO guardians (id, name, created_at) SELECT guardian, '家长', now() - interval '30 days' FROM seed;
INSERT INTO accounts (kind, guardian_id, restricted) SELECT 'guardian_bank', guardian, false FROM seed;
INSERT INTO students (id, guardian_id, name, created_at) SELECT student, guardian, '学生', now() - interval '30 days' FROM seed;
INSERT INTO enrollments (id, institution_id, course_id, student_id, guardian_id, supervision_mode, lessons_bought,
    price_per_lesson_fen, amount_fen, term_start, term_end, paid_fen, paid_at, created_at)
SELECT s.enrollment, ids.institution, s.course, s.student, s.guardian, 'escrow', 60, 5000, 300000,
    current_date - 10, current_date + 60, 300000, now() - interval '20 days', now() - interval '30 days'
FROM seed s, ids;
INSERT INTO transfers (idempotency_key, kind, debit_account_id, credit_account_id, amount_fen, institution_id, enrollment_id, created_at)
SELECT 'payment:' || s.enrollment, 'payment', g.id, esc.id, 300000, ids.institution, s.enrollment, now() - interval '20 days'
FROM seed s CROSS JOIN ids
JOIN accounts g ON g.guardian_id = s.guardian AND g.kind = 'guardian_bank'
JOIN accounts esc ON esc.institution_id = ids.institution AND esc.kind = 'escrow';
SELECT institution FROM ids;
SELECT course || ' ' || enrollment FROM seed ORDER BY c, n;
COMMIT;
