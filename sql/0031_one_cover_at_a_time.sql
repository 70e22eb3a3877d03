-- One tuition policy at a time per enrollment: no two uncancelled ones whose periods overlap. The waterfall's fourth
-- layer is "the enrollment's tuition policy" (DESIGN §2). The unique index this replaces allowed one uncancelled policy
-- for ever, so a guardian whose policy had expired could never insure the rest of the term; a period that starts where
-- the last one ended (or later) now renews it.
DROP INDEX policies_one_per_enrollment;

CREATE FUNCTION tuition_cover_does_not_overlap() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.kind <> 'student_tuition' OR NEW.cancelled_at IS NOT NULL THEN
        RETURN NEW;
    END IF;
    -- Two policies for one enrollment inserted at once must not both miss each other: the second waits for the first.
    PERFORM pg_advisory_xact_lock(7469698, hashtext(NEW.enrollment_id::text));
    IF EXISTS (
        SELECT 1 FROM policies p
        WHERE p.enrollment_id = NEW.enrollment_id AND p.id <> NEW.id AND p.kind = 'student_tuition' AND p.cancelled_at IS NULL
          AND p.period_start < NEW.period_end AND NEW.period_start < p.period_end)
    THEN
        RAISE EXCEPTION 'a tuition policy of enrollment % already covers part of this period', NEW.enrollment_id
            USING ERRCODE = 'exclusion_violation', TABLE = 'policies', CONSTRAINT = 'policies_one_per_enrollment';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER tuition_cover_does_not_overlap BEFORE INSERT OR UPDATE OF period_start, period_end, cancelled_at ON policies
    FOR EACH ROW EXECUTE FUNCTION tuition_cover_does_not_overlap();

CREATE INDEX policies_by_enrollment ON policies (enrollment_id, period_start) WHERE enrollment_id IS NOT NULL;
