-- The tuition-cover trigger of 0031 serialized concurrent policies for one enrollment with an advisory lock per row:
-- a bulk insert of many policies (100,000 in tools/bench fast-track's seed) exhausted the lock table. It waits on the
-- enrollment's row instead, which the buying path already holds (`lockForMoney`). 0031 is left as it was applied.
CREATE OR REPLACE FUNCTION tuition_cover_does_not_overlap() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.kind <> 'student_tuition' OR NEW.cancelled_at IS NOT NULL THEN
        RETURN NEW;
    END IF;
    -- Two policies for one enrollment inserted at once must not both miss each other: the second waits for the first.
    PERFORM 1 FROM enrollments WHERE id = NEW.enrollment_id FOR NO KEY UPDATE;
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
