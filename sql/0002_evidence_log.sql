-- The evidence log: key events are queued in the same transaction as the change they record, then a single
-- sequencer gives them contiguous indexes in batches, integrates them into an RFC 9162 Merkle tree (only
-- perfect subtrees are stored, so a proof reads O(log n) nodes) and signs a tree head per batch.

-- Writers only append here; the sequencer takes rows out as it logs them. It is a queue, not the log.
CREATE TABLE evidence_queue (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    entry bytea NOT NULL CHECK (length(entry) BETWEEN 1 AND 65536),
    queued_at timestamptz NOT NULL
);

CREATE TABLE log_entries (
    index bigint PRIMARY KEY CHECK (index >= 0),
    entry bytea NOT NULL CHECK (length(entry) BETWEEN 1 AND 65536),
    leaf_hash bytea NOT NULL CHECK (length(leaf_hash) = 32),
    queued_at timestamptz NOT NULL,
    sequenced_at timestamptz NOT NULL
);

-- Node (level, index) is the hash of leaves [index·2^level, (index+1)·2^level); level 0 holds the leaf hashes.
CREATE TABLE log_nodes (
    level smallint NOT NULL CHECK (level BETWEEN 0 AND 63),
    index bigint NOT NULL CHECK (index >= 0),
    hash bytea NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (level, index)
);

CREATE TABLE tree_heads (
    size bigint PRIMARY KEY CHECK (size >= 0),
    root_hash bytea NOT NULL CHECK (length(root_hash) = 32),
    timestamp_ms bigint NOT NULL CHECK (timestamp_ms >= 0),
    signature bytea NOT NULL,
    created_at timestamptz NOT NULL
);

CREATE TRIGGER log_entries_append_only BEFORE UPDATE OR DELETE ON log_entries
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER log_entries_no_truncate BEFORE TRUNCATE ON log_entries
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
CREATE TRIGGER log_nodes_append_only BEFORE UPDATE OR DELETE ON log_nodes
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER log_nodes_no_truncate BEFORE TRUNCATE ON log_nodes
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
CREATE TRIGGER tree_heads_append_only BEFORE UPDATE OR DELETE ON tree_heads
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER tree_heads_no_truncate BEFORE TRUNCATE ON tree_heads
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
