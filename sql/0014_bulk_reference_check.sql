-- Issue #15: the fast-track's bulk inserts check their foreign keys once per chunk instead of once per row.
--
-- `assert_references(t, key_column, keys)` checks every foreign key of table `t` for the rows whose `key_column` is
-- one of `keys`, one set-based query per constraint, read from the catalog (so a constraint added later is checked
-- too), and raises foreign_key_violation (23503) naming the first constraint a row breaks. MATCH SIMPLE, as the
-- constraints themselves: a row with a null in the constraint's columns is not checked.
CREATE FUNCTION assert_references(t regclass, key_column name, keys anyarray) RETURNS void LANGUAGE plpgsql STABLE AS $$
DECLARE
    fk record;
    broken boolean;
BEGIN
    FOR fk IN
        SELECT c.conname, c.confrelid::regclass AS target,
            (SELECT string_agg(format('r.%I = c.%I', fa.attname, la.attname), ' AND ' ORDER BY k.n)
             FROM unnest(c.conkey, c.confkey) WITH ORDINALITY AS k (l, f, n)
             JOIN pg_attribute la ON la.attrelid = c.conrelid AND la.attnum = k.l
             JOIN pg_attribute fa ON fa.attrelid = c.confrelid AND fa.attnum = k.f) AS matches,
            (SELECT string_agg(format('c.%I IS NOT NULL', la.attname), ' AND ')
             FROM unnest(c.conkey) AS l JOIN pg_attribute la ON la.attrelid = c.conrelid AND la.attnum = l) AS present
        FROM pg_constraint c WHERE c.conrelid = t AND c.contype = 'f' ORDER BY c.conname
    LOOP
        EXECUTE format(
            'SELECT EXISTS (SELECT 1 FROM %s c WHERE c.%I = ANY ($1) AND %s AND NOT EXISTS (SELECT 1 FROM %s r WHERE %s))',
            t, key_column, fk.present, fk.target, fk.matches)
        INTO broken USING keys;
        IF broken THEN
            RAISE EXCEPTION 'insert or update on table "%" violates foreign key constraint "%"', t, fk.conname
                USING ERRCODE = 'foreign_key_violation', CONSTRAINT = fk.conname, TABLE = t::text;
        END IF;
    END LOOP;
END $$;
