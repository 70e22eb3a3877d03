-- Issue #15 (scale of supervision): an institution's unconsumed tuition kept as money moves, so the dashboard and the
-- warning evaluation read one row per institution instead of summing every enrollment (2,000,000 at a province's size).
--
-- One definition: `enrollment_outstanding_fen` is an enrollment's outstanding tuition; `enrollment_positions` (sql/0009)
-- reads it, and so does the trigger below, so the kept total is Σ of the same figure the positions show.
--
-- How it stays right under concurrency without a new lock on the money path: every statement that writes enrollments
-- appends, in its own transaction, one row per institution it moved to `institution_unconsumed_moves` (an INSERT takes
-- no lock another writer waits on, and the table has no foreign key, so not even a key-share lock). A reader sums the
-- folded total and the moves not folded yet (`institution_unconsumed`): both are read in one snapshot, so it sees
-- exactly the committed moves. `fold_institution_unconsumed` moves the committed moves into the totals in one
-- transaction (a DELETE … RETURNING and an upsert), so a snapshot sees a move either in the moves or in its total, never
-- both or neither; only folds touch the totals, one at a time (an advisory lock), so the money paths never wait on them.
-- The figure has no time in it (it is not "in force at" anything); the policies' cover stays computed at `in_at`.

CREATE FUNCTION enrollment_outstanding_fen(paid_fen bigint, lessons_consumed int, lessons_after_defunct int,
    price_per_lesson_fen bigint, refunded_fen bigint, returned_fen bigint)
RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT paid_fen - (lessons_consumed - lessons_after_defunct)::bigint * price_per_lesson_fen - refunded_fen - returned_fen
$$;

CREATE OR REPLACE VIEW enrollment_positions AS
SELECT e.id AS enrollment_id, e.institution_id, e.guardian_id, e.course_id, e.supervision_mode, e.price_per_lesson_fen,
    e.paid_fen, e.paid_at, dc.effective_at AS defunct_effective_at,
    (e.lessons_consumed - e.lessons_after_defunct)::bigint * e.price_per_lesson_fen AS consumed_fen,
    e.refunded_fen, e.returned_fen, e.escrow_returned_fen,
    o.outstanding AS outstanding_fen,
    CASE WHEN e.paid_fen > 0 AND NOT o.paid_after_defunct THEN greatest(0, o.outstanding) ELSE 0 END AS entitlement_fen,
    CASE WHEN o.paid_after_defunct THEN greatest(0, o.outstanding) ELSE 0 END AS return_due_fen,
    CASE WHEN e.supervision_mode = 'escrow' THEN e.paid_fen - e.released_fen - e.refunded_fen - e.escrow_returned_fen ELSE 0 END
        AS escrow_held_fen
FROM enrollments e
LEFT JOIN defunct_cases dc ON dc.institution_id = e.institution_id
CROSS JOIN LATERAL (SELECT
    enrollment_outstanding_fen(e.paid_fen, e.lessons_consumed, e.lessons_after_defunct, e.price_per_lesson_fen,
        e.refunded_fen, e.returned_fen) AS outstanding,
    coalesce(dc.effective_at IS NOT NULL AND e.paid_at >= dc.effective_at, false) AS paid_after_defunct) o;

-- Folded totals: written only by `fold_institution_unconsumed`.
CREATE TABLE institution_unconsumed_totals (
    institution_id uuid PRIMARY KEY REFERENCES institutions (id),
    unconsumed_fen bigint NOT NULL
);

-- Moves not folded yet: appended by the writes of enrollments, removed by the fold.
CREATE TABLE institution_unconsumed_moves (
    institution_id uuid NOT NULL,
    unconsumed_fen bigint NOT NULL
);

-- The one place a reader learns an institution's unconsumed tuition (Σ `enrollment_outstanding_fen` of its enrollments).
CREATE VIEW institution_unconsumed AS
SELECT k.institution_id, sum(k.unconsumed_fen)::bigint AS unconsumed_fen
FROM (
    SELECT t.institution_id, t.unconsumed_fen FROM institution_unconsumed_totals t
    UNION ALL
    SELECT m.institution_id, m.unconsumed_fen FROM institution_unconsumed_moves m) k
GROUP BY k.institution_id;

-- One row per institution a statement moved, with the change of its enrollments' outstanding tuition; nothing when it
-- moved none (a status change, a release: columns the figure does not read).
CREATE FUNCTION enrollments_move_unconsumed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO institution_unconsumed_moves (institution_id, unconsumed_fen)
        SELECT n.institution_id, sum(enrollment_outstanding_fen(n.paid_fen, n.lessons_consumed, n.lessons_after_defunct,
            n.price_per_lesson_fen, n.refunded_fen, n.returned_fen))::bigint AS moved
        FROM new_enrollments n GROUP BY n.institution_id
        HAVING sum(enrollment_outstanding_fen(n.paid_fen, n.lessons_consumed, n.lessons_after_defunct,
            n.price_per_lesson_fen, n.refunded_fen, n.returned_fen)) <> 0;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO institution_unconsumed_moves (institution_id, unconsumed_fen)
        SELECT k.institution_id, sum(k.fen)::bigint
        FROM (
            SELECT n.institution_id, enrollment_outstanding_fen(n.paid_fen, n.lessons_consumed, n.lessons_after_defunct,
                n.price_per_lesson_fen, n.refunded_fen, n.returned_fen) AS fen
            FROM new_enrollments n
            UNION ALL
            SELECT o.institution_id, -enrollment_outstanding_fen(o.paid_fen, o.lessons_consumed, o.lessons_after_defunct,
                o.price_per_lesson_fen, o.refunded_fen, o.returned_fen)
            FROM old_enrollments o) k
        GROUP BY k.institution_id HAVING sum(k.fen) <> 0;
    ELSE
        INSERT INTO institution_unconsumed_moves (institution_id, unconsumed_fen)
        SELECT o.institution_id, -sum(enrollment_outstanding_fen(o.paid_fen, o.lessons_consumed, o.lessons_after_defunct,
            o.price_per_lesson_fen, o.refunded_fen, o.returned_fen))::bigint
        FROM old_enrollments o GROUP BY o.institution_id
        HAVING sum(enrollment_outstanding_fen(o.paid_fen, o.lessons_consumed, o.lessons_after_defunct,
            o.price_per_lesson_fen, o.refunded_fen, o.returned_fen)) <> 0;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER enrollments_unconsumed_insert AFTER INSERT ON enrollments REFERENCING NEW TABLE AS new_enrollments
    FOR EACH STATEMENT EXECUTE FUNCTION enrollments_move_unconsumed();
CREATE TRIGGER enrollments_unconsumed_update AFTER UPDATE ON enrollments
    REFERENCING OLD TABLE AS old_enrollments NEW TABLE AS new_enrollments
    FOR EACH STATEMENT EXECUTE FUNCTION enrollments_move_unconsumed();
CREATE TRIGGER enrollments_unconsumed_delete AFTER DELETE ON enrollments REFERENCING OLD TABLE AS old_enrollments
    FOR EACH STATEMENT EXECUTE FUNCTION enrollments_move_unconsumed();
-- Whatever the session's role (bulk writes may run with `session_replication_role = replica`, as the fast-track's do).
ALTER TABLE enrollments ENABLE ALWAYS TRIGGER enrollments_unconsumed_insert;
ALTER TABLE enrollments ENABLE ALWAYS TRIGGER enrollments_unconsumed_update;
ALTER TABLE enrollments ENABLE ALWAYS TRIGGER enrollments_unconsumed_delete;

-- Folds the committed moves into the totals; returns how many institutions' totals changed (0 when another fold is
-- under way: it folds them). Moves committed after this statement's snapshot wait for the next fold.
CREATE FUNCTION fold_institution_unconsumed() RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    folded int;
BEGIN
    -- 'unconsumed' as text bytes: folds take turns, so two never lock the same totals in different orders.
    IF NOT pg_try_advisory_xact_lock(x'756e636f6e73756d'::bigint) THEN
        RETURN 0;
    END IF;
    WITH moved AS (DELETE FROM institution_unconsumed_moves RETURNING institution_id, unconsumed_fen)
    INSERT INTO institution_unconsumed_totals AS t (institution_id, unconsumed_fen)
    SELECT moved.institution_id, sum(moved.unconsumed_fen)::bigint FROM moved GROUP BY moved.institution_id
    ORDER BY moved.institution_id
    ON CONFLICT (institution_id) DO UPDATE SET unconsumed_fen = t.unconsumed_fen + EXCLUDED.unconsumed_fen;
    GET DIAGNOSTICS folded = ROW_COUNT;
    RETURN folded;
END $$;

-- The enrollments written before this migration: the triggers above hold off writers of enrollments (their lock
-- conflicts with a writer's) until this transaction commits, so nothing moves between the sum and the triggers.
INSERT INTO institution_unconsumed_totals (institution_id, unconsumed_fen)
SELECT p.institution_id, sum(p.outstanding_fen)::bigint FROM enrollment_positions p GROUP BY p.institution_id;

-- institution_figures (sql/0017) as before, its unconsumed tuition now read from `institution_unconsumed`.
CREATE OR REPLACE FUNCTION institution_figures(in_district text, in_ids uuid[], in_at timestamptz)
RETURNS TABLE (institution_id uuid, district_code text, status text, supervision_mode text, reserve_ratio_bp int,
    licence_valid_until date, unconsumed_fen bigint, escrow_fen bigint, reserve_fen bigint, risk_cover_fen bigint,
    tuition_cover_fen bigint, risk_excuses_reserve boolean, risk_policy_ends date)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    WITH inst AS NOT MATERIALIZED (
        SELECT i.id, i.district_code, i.status, i.supervision_mode, i.reserve_ratio_bp, i.licence_valid_until
        FROM institutions i
        WHERE (in_district IS NULL OR i.district_code = in_district) AND (in_ids IS NULL OR i.id = ANY(in_ids))),
    owed AS NOT MATERIALIZED (
        SELECT u.institution_id, u.unconsumed_fen AS unconsumed
        FROM institution_unconsumed u WHERE u.institution_id IN (SELECT inst.id FROM inst)),
    held AS NOT MATERIALIZED (
        SELECT a.institution_id,
            coalesce(sum(a.balance_fen) FILTER (WHERE a.kind = 'escrow'), 0)::bigint AS escrow,
            coalesce(sum(a.balance_fen) FILTER (WHERE a.kind = 'reserve'), 0)::bigint AS reserve
        FROM account_totals a WHERE a.institution_id IN (SELECT inst.id FROM inst) AND a.kind IN ('escrow', 'reserve')
        GROUP BY a.institution_id),
    tuition AS NOT MATERIALIZED (
        SELECT p.institution_id, sum(least(p.remaining_fen, greatest(0, e.outstanding_fen)))::bigint AS cover
        FROM policies p JOIN enrollment_positions e ON e.enrollment_id = p.enrollment_id
        WHERE p.institution_id IN (SELECT inst.id FROM inst) AND p.kind = 'student_tuition'
            AND policy_in_force(p.period_start, p.period_end, p.cancelled_at, in_at)
        GROUP BY p.institution_id)
    SELECT inst.id, inst.district_code, inst.status, inst.supervision_mode, inst.reserve_ratio_bp, inst.licence_valid_until,
        coalesce(owed.unconsumed, 0), coalesce(held.escrow, 0), coalesce(held.reserve, 0), coalesce(risk.cover, 0),
        coalesce(tuition.cover, 0), coalesce(risk.excuses, false), risk.ends
    FROM inst
        LEFT JOIN owed ON owed.institution_id = inst.id
        LEFT JOIN held ON held.institution_id = inst.id
        LEFT JOIN tuition ON tuition.institution_id = inst.id
        LEFT JOIN LATERAL (
            SELECT sum(risk_cover_fen(p.remaining_fen, pr.covered_share_bp, coalesce(owed.unconsumed, 0)))
                    FILTER (WHERE policy_in_force(p.period_start, p.period_end, p.cancelled_at, in_at))::bigint AS cover,
                bool_or(policy_in_force(p.period_start, p.period_end, p.cancelled_at, in_at) AND p.remaining_fen > 0
                    AND risk_cover_excuses_reserve(p.remaining_fen, pr.covered_share_bp, coalesce(owed.unconsumed, 0),
                        inst.reserve_ratio_bp)) AS excuses,
                (max(p.period_end) FILTER (WHERE p.cancelled_at IS NULL) AT TIME ZONE 'Asia/Shanghai')::date AS ends
            FROM policies p JOIN insurance_products pr ON pr.id = p.product_id
            WHERE p.institution_id = inst.id AND p.kind = 'institution_risk') risk ON true
$$;
