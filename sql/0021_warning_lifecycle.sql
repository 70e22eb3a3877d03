-- Issue #14 (one home per rule): the two rules of a warning's life that the evaluation applies in SQL, set-based, each
-- defined once here and mirrored by the core (TuitionCore/Warnings.swift); `WarningLifecycleStoreTests` holds each pair
-- to the same answers at the boundaries. `WarningRepository` reads them here, never its own copies.

-- Whether a warning escalates on `today` (Asia/Shanghai): it is open and its deadline has passed, so it escalates the
-- day after the deadline, not on it; an escalated or resolved warning does not escalate again. Mirrored by
-- `warningEscalates`. The columns are NOT NULL; the bare comparison lets the planner inline it as the statement's own
-- condition (and prove it implies the unresolved-warnings index's `status <> 'resolved'`).
CREATE FUNCTION warning_escalates(status text, deadline date, today date)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT status = 'open' AND deadline < today
$$;

-- Whether an earlier warning of the same institution and rule holds off a new one at `instant`: the regulator resolved
-- it (accepting an explanation) less than `deadline_days` days ago, so the condition gets that long to clear. A warning
-- resolved because its condition cleared, or not resolved, holds nothing off. Days are 24 hours (Asia/Shanghai has no
-- daylight saving), whatever the session's time zone. Mirrored by `resolutionHoldsOff`.
CREATE FUNCTION resolution_holds_off(resolved_by text, resolved_at timestamptz, deadline_days int, instant timestamptz)
RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT coalesce(resolved_by = 'regulator' AND resolved_at > instant - make_interval(hours => 24 * deadline_days), false)
$$;
