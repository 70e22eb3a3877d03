-- A defunct or blacklisted institution is graded D, and both statuses are final (sql/0029), so is that grade. An
-- evaluation that read the institution as operating just before its mark or blacklisting committed must not write its
-- grade over the D: `final` marks a grade computed from a final status, and the grade upsert leaves a final row alone
-- (its condition is checked against the row as committed, after waiting for it).
ALTER TABLE credit_grades ADD COLUMN final boolean NOT NULL DEFAULT false;

UPDATE credit_grades g SET final = true
FROM institutions i
WHERE i.id = g.institution_id AND i.status IN ('defunct', 'blacklisted') AND g.grade = 'D';
