-- warden.tg_watched_table__capture_truncate() RETURNS trigger
--
-- BEFORE TRUNCATE on a watched table and each of its partitions: counts
-- the rows about to go (exactly up to one million, then "at least") and
-- writes one customer_data_modify event with operation TRUNCATE. PostgreSQL
-- fires TRUNCATE triggers on the named table first and then on each
-- partition it cascades to; the parent counts the whole tree and notes it,
-- with the statement's time and transaction, in a session setting (a
-- transaction-local one would end with this function, which has SET
-- clauses), so the partitions of that statement add nothing. An empty
-- table writes nothing.
--
-- Trigger argument: the logical table name. SECURITY DEFINER: the writing
-- role has no access to the event log.
CREATE OR REPLACE FUNCTION warden.tg_watched_table__capture_truncate()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_limit constant bigint := 1000000;
    v_marker text := current_setting('warden.truncate_covered', true);
    v_stamp text := statement_timestamp()::text || '/'
        || pg_current_xact_id()::text;
    v_count bigint;
    v_covered text;
BEGIN
    IF v_marker LIKE v_stamp || '|%'
        AND TG_RELID::bigint::text = ANY (
            string_to_array(split_part(v_marker, '|', 2), ',')
        ) THEN
        RETURN NULL;
    END IF;
    EXECUTE format(
        'SELECT count(*) FROM (SELECT FROM %s LIMIT %s) AS r',
        TG_RELID::regclass, v_limit + 1
    )
    INTO v_count;
    SELECT string_agg(t.relid::oid::bigint::text, ',')
    INTO v_covered
    FROM pg_catalog.pg_partition_tree(TG_RELID) AS t
    WHERE t.relid <> TG_RELID;
    IF v_covered IS NOT NULL THEN
        PERFORM set_config('warden.truncate_covered',
            v_stamp || '|' || v_covered, false);
    END IF;
    IF v_count = 0 THEN
        RETURN NULL;
    END IF;
    PERFORM warden._capture_event(
        TG_ARGV[0],
        format('%I.%I', TG_TABLE_SCHEMA, TG_TABLE_NAME),
        TG_OP,
        least(v_count, v_limit),
        jsonb_build_object('keys_recorded', false)
            || CASE WHEN v_count > v_limit
                THEN jsonb_build_object('record_count_at_least', v_limit)
                ELSE '{}'::jsonb END
    );
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION warden.tg_watched_table__capture_truncate() IS
'Trigger: record one customer_data_modify event (operation TRUNCATE) with '
'the number of rows removed.';

REVOKE ALL ON FUNCTION warden.tg_watched_table__capture_truncate()
FROM PUBLIC;
