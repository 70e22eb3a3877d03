-- Premiums are logged (`premium_paid`, `policy:<id>`) since this release. A policy issued before it gets its event now,
-- dated when the policy was issued, so `tuitionguard log reconcile` holds on a database that predates the event too.
INSERT INTO evidence_queue (entry, queued_at)
SELECT evidence_entry('premium_paid', floor(extract(epoch FROM p.created_at) * 1000)::bigint, p.institution_id, p.enrollment_id,
    p.premium_fen, NULL, 'policy:' || p.id), now()
FROM policies p
WHERE NOT EXISTS (
    SELECT 1 FROM (SELECT entry FROM evidence_queue UNION ALL SELECT entry FROM log_entries) x
    WHERE convert_from(x.entry, 'UTF8')::jsonb ->> 'kind' = 'premium_paid'
      AND convert_from(x.entry, 'UTF8')::jsonb ->> 'reference' = 'policy:' || p.id)
ORDER BY p.created_at, p.id;
