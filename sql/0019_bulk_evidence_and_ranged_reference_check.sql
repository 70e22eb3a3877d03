-- Issue #15: the fast-track writes a chunk's evidence events in SQL, in the statements that write the chunk's rows, and
-- checks the foreign keys of its bulk inserts over a key range instead of a list of keys.
--
-- `evidence_entry(...)` builds the canonical bytes of one evidence event exactly as the Swift `EvidenceEvent`
-- encoder does (`canonicalBytes()`: JSON, keys sorted, no white space, absent fields left out, ids as lowercase UUIDs,
-- money as integer fen, time as integer milliseconds); an agreement test pins the two encodings byte for byte.
-- A null argument is an absent field.
CREATE FUNCTION evidence_entry(
    kind text, occurred_at_ms bigint, institution uuid, enrollment uuid DEFAULT NULL, amount_fen bigint DEFAULT NULL,
    lessons int DEFAULT NULL, reference text DEFAULT NULL
) RETURNS bytea LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT convert_to('{' || concat_ws(',',
        '"amountFen":' || amount_fen,
        '"enrollmentId":"' || enrollment || '"',
        '"institutionId":"' || institution || '"',
        '"kind":' || to_json(kind)::text,
        '"lessons":' || lessons,
        '"occurredAtMilliseconds":' || occurred_at_ms,
        '"reference":' || to_json(reference)::text,
        '"version":1') || '}', 'UTF8')
$$;

-- `assert_references(t, key_column, low, high)` replaces `assert_references(t, key_column, keys)` (sql/0014): the same
-- checks (every foreign key of `t`, from the catalog, MATCH SIMPLE, raising foreign_key_violation naming the first
-- constraint broken, in name order) for the rows whose `key_column` lies between `low` and `high`. A chunk's rows have
-- ids from one sequence or one clock, so their range comes from the rows themselves; rows of other chunks inside the
-- range are checked again (harmlessly), uncommitted ones are not seen. The rows are read once, by a range scan of the
-- key's index (a list of 50,000 keys made PostgreSQL scan the whole table once per constraint), and each constraint
-- looks up only the distinct values it references (a chunk's transfers name a handful of accounts).
DROP FUNCTION assert_references(regclass, name, anyarray);
CREATE FUNCTION assert_references(t regclass, key_column name, low anyelement, high anyelement) RETURNS void
LANGUAGE plpgsql STABLE AS $$
DECLARE
    columns text;
    checks text;
    broken name;
BEGIN
    SELECT string_agg(DISTINCT format('%I', a.attname), ', ')
    INTO columns
    FROM pg_constraint c, unnest(c.conkey) AS l, pg_attribute a
    WHERE c.conrelid = t AND c.contype = 'f' AND a.attrelid = t AND a.attnum = l;
    SELECT string_agg(format(
            'CASE WHEN EXISTS (SELECT 1 FROM (SELECT DISTINCT %s FROM chunk c WHERE %s) c WHERE NOT EXISTS (SELECT 1 FROM %s r WHERE %s)) THEN %L END',
            fk.referencing, fk.present, fk.target, fk.matches, fk.conname), ', ' ORDER BY fk.conname)
    INTO checks
    FROM (
        SELECT c.conname, c.confrelid::regclass AS target,
            (SELECT string_agg(format('c.%I', la.attname), ', ')
             FROM unnest(c.conkey) AS l JOIN pg_attribute la ON la.attrelid = c.conrelid AND la.attnum = l) AS referencing,
            (SELECT string_agg(format('r.%I = c.%I', fa.attname, la.attname), ' AND ' ORDER BY k.n)
             FROM unnest(c.conkey, c.confkey) WITH ORDINALITY AS k (l, f, n)
             JOIN pg_attribute la ON la.attrelid = c.conrelid AND la.attnum = k.l
             JOIN pg_attribute fa ON fa.attrelid = c.confrelid AND fa.attnum = k.f) AS matches,
            (SELECT string_agg(format('c.%I IS NOT NULL', la.attname), ' AND ')
             FROM unnest(c.conkey) AS l JOIN pg_attribute la ON la.attrelid = c.conrelid AND la.attnum = l) AS present
        FROM pg_constraint c WHERE c.conrelid = t AND c.contype = 'f') AS fk;
    IF checks IS NULL THEN
        RETURN;
    END IF;
    EXECUTE format('WITH chunk AS MATERIALIZED (SELECT %s FROM %s WHERE %I BETWEEN $1 AND $2) SELECT coalesce(%s)',
        columns, t, key_column, checks)
    INTO broken USING low, high;
    IF broken IS NOT NULL THEN
        RAISE EXCEPTION 'insert or update on table "%" violates foreign key constraint "%"', t, broken
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = broken, TABLE = t::text;
    END IF;
END $$;
