-- Issue #14 (one home per rule): when a policy is in force, what a risk-control policy covers, a district's warning
-- thresholds and an institution's figures each have one definition here, mirrored by the core and pinned by the store
-- tests (PolicyInForceStoreTests, InstitutionFiguresStoreTests). Readers use these, never their own copies.

-- Whether a policy covers an event at `instant`: inside its half-open period and not cancelled at or before it.
-- Mirrored by `policyInForce` (TuitionCore/Insurance.swift).
CREATE FUNCTION policy_in_force(period_start timestamptz, period_end timestamptz, cancelled_at timestamptz, instant timestamptz)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT period_start <= instant AND instant < period_end AND (cancelled_at IS NULL OR cancelled_at > instant)
$$;

-- What a risk-control policy would pay for an institution: its covered share of the unconsumed tuition, rounded down to
-- the fen (as the waterfall pays it), at most what is left of the policy. Mirrored by `riskCover` (Insurance.swift).
CREATE FUNCTION risk_cover_fen(remaining_fen bigint, covered_share_bp int, unconsumed_fen bigint)
RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT least(remaining_fen::numeric, div(greatest(unconsumed_fen, 0)::numeric * covered_share_bp, 10000))::bigint
$$;

-- Every district's warning thresholds: its settings, or the defaults of `WarningThresholds.defaults` (Warnings.swift).
CREATE VIEW warning_thresholds AS
SELECT d.code AS district_code,
    coalesce(s.escrow_coverage_min_bp, 10000) AS escrow_coverage_min_bp,
    coalesce(s.sales_spike_ratio_bp, 30000) AS sales_spike_ratio_bp,
    coalesce(s.sales_spike_min_fen, 1000000) AS sales_spike_min_fen,
    coalesce(s.lessons_over_schedule_ratio_bp, 15000) AS lessons_over_schedule_ratio_bp,
    coalesce(s.lessons_over_schedule_min, 10) AS lessons_over_schedule_min,
    coalesce(s.refund_grace_days, 30) AS refund_grace_days,
    coalesce(s.expiry_notice_days, 30) AS expiry_notice_days,
    coalesce(s.deadline_days, 15) AS deadline_days
FROM districts d LEFT JOIN district_warning_settings s ON s.district_code = d.code;

-- Per institution of `in_district` (all districts when null) and of `in_ids` (all when null), every status: the figures
-- the warnings, the credit grade and the dashboard read. Unconsumed tuition is Σ of the enrollments' positions
-- (`enrollment_positions`); balances come from `account_totals`; the risk cover is Σ `risk_cover_fen` of the risk
-- policies in force, the tuition cover Σ over tuition policies in force of what is left of each, at most its
-- enrollment's outstanding; `risk_excuses_reserve` says whether one risk policy in force with something left stands
-- in for the reserve (`risk_cover_excuses_reserve`); `risk_policy_ends` is the latest end date (Asia/Shanghai) of the
-- uncancelled risk policies. Mirrored by `institutionCover` (TuitionCore/InstitutionCover.swift).
-- LANGUAGE sql and STABLE so the planner inlines it into the caller's query: columns a caller does not read cost nothing,
-- and the scan of the enrollments may run in parallel.
CREATE FUNCTION institution_figures(in_district text, in_ids uuid[], in_at timestamptz)
RETURNS TABLE (institution_id uuid, district_code text, status text, supervision_mode text, reserve_ratio_bp int,
    licence_valid_until date, unconsumed_fen bigint, escrow_fen bigint, reserve_fen bigint, risk_cover_fen bigint,
    tuition_cover_fen bigint, risk_excuses_reserve boolean, risk_policy_ends date)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    WITH inst AS NOT MATERIALIZED (
        SELECT i.id, i.district_code, i.status, i.supervision_mode, i.reserve_ratio_bp, i.licence_valid_until
        FROM institutions i
        WHERE (in_district IS NULL OR i.district_code = in_district) AND (in_ids IS NULL OR i.id = ANY(in_ids))),
    owed AS NOT MATERIALIZED (
        SELECT p.institution_id, sum(p.outstanding_fen)::bigint AS unconsumed
        FROM enrollment_positions p WHERE p.institution_id IN (SELECT inst.id FROM inst)
        GROUP BY p.institution_id),
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
