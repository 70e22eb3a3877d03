-- Issue #14: one way to make an id. `uuid_v7_at(t)` is the layout of `UUID.timeOrdered` (TuitionCore, RFC 9562
-- UUIDv7): the milliseconds since the epoch at `t` (truncated, as the core does) in the first 48 bits, version 7,
-- variant 10, the rest random. Rows made in bulk in SQL take `t` from the caller's clock (`Dependencies.now`), so their
-- ids sort with those the service makes; `uuid_v7()` is the same at the wall clock. The agreement test is
-- `IdentifierStoreTests`.
CREATE FUNCTION uuid_v7_at(t timestamptz) RETURNS uuid LANGUAGE sql VOLATILE AS $$
    SELECT encode(
        set_bit(set_bit(
            overlay(uuid_send(gen_random_uuid())
                    PLACING substring(int8send(floor(extract(epoch FROM t) * 1000)::bigint) FROM 3)
                    FROM 1 FOR 6),
            52, 1), 53, 1), 'hex')::uuid
$$;

CREATE OR REPLACE FUNCTION uuid_v7() RETURNS uuid LANGUAGE sql VOLATILE AS $$
    SELECT uuid_v7_at(clock_timestamp())
$$;
