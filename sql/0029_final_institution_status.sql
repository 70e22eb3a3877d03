-- A defunct mark is final, and so is a blacklisting but for a later defunct mark (the owner of a blacklisted
-- institution can still run away, and its parents are still owed): no statement may move an institution out of either.
-- The statements that move statuses check the status they start from, but a statement that read the row before a mark
-- committed (READ COMMITTED re-checks only the updated row's own conditions) must not be able to undo it either.
CREATE FUNCTION institution_status_stays_final() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status = 'defunct' AND NEW.status <> 'defunct' THEN
        RAISE EXCEPTION 'institution % is defunct: its status is final', OLD.id
            USING ERRCODE = 'check_violation', TABLE = 'institutions', CONSTRAINT = 'defunct_is_final';
    END IF;
    IF OLD.status = 'blacklisted' AND NEW.status NOT IN ('blacklisted', 'defunct') THEN
        RAISE EXCEPTION 'institution % is blacklisted: only a defunct mark may follow', OLD.id
            USING ERRCODE = 'check_violation', TABLE = 'institutions', CONSTRAINT = 'blacklisting_is_final';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER institution_status_stays_final BEFORE UPDATE OF status ON institutions
    FOR EACH ROW EXECUTE FUNCTION institution_status_stays_final();
