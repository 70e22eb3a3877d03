-- Issue #15 (evidence-log proofs): the primary key of `log_nodes` carries the hash, so each of a proof's node probes
-- is an index-only scan instead of an index probe and a heap visit. The nodes never change (sql/0002 refuses updates and
-- deletes), so the visibility map autovacuum keeps for an insert-only table marks nearly every page all-visible, and
-- only nodes appended since its last pass visit the heap.
--
-- The new index is built beside the old key (writers wait, readers do not) and then becomes the key.

CREATE UNIQUE INDEX log_nodes_key_with_hash ON log_nodes (level, index) INCLUDE (hash);
ALTER TABLE log_nodes
    DROP CONSTRAINT log_nodes_pkey,
    ADD CONSTRAINT log_nodes_pkey PRIMARY KEY USING INDEX log_nodes_key_with_hash;
