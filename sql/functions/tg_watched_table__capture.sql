-- warden.tg_watched_table__capture() RETURNS trigger
--
-- AFTER INSERT, UPDATE or DELETE, once per statement on a watched table,
-- with the statement's rows as the transition table new_rows (INSERT,
-- UPDATE) or old_rows (DELETE). Writes one customer_data_modify event:
-- the row count and up to capture_max_keys primary keys (key_count keeps
-- the true count when the list is cut). A statement that touched no row
-- writes nothing, so a COPY of a million rows is one event and an UPDATE
-- that matched nothing is none.
--
-- Trigger arguments, fixed by warden.watch_table: the logical table name,
-- then the primary-key columns (none: counts only).
--
-- SECURITY DEFINER: the writing role has no access to the event log.
CREATE OR REPLACE FUNCTION warden.tg_watched_table__capture()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_count bigint;
    v_max integer;
    v_keys jsonb;
    v_metadata jsonb;
BEGIN
    -- Static queries, whose plans are cached per trigger (EXECUTE would
    -- plan on every statement): DELETE triggers read old_rows, the others
    -- new_rows. A key is read from the row as jsonb: to_jsonb(row) ->
    -- column is to_jsonb(row.column).
    IF TG_OP = 'DELETE' THEN
        SELECT count(*) INTO v_count FROM old_rows;
    ELSE
        SELECT count(*) INTO v_count FROM new_rows;
    END IF;
    IF v_count = 0 THEN
        RETURN NULL;
    END IF;

    IF TG_NARGS > 1 THEN
        SELECT coalesce(max(s.value::integer), 100)
        INTO v_max
        FROM warden.settings AS s
        WHERE s.name = 'capture_max_keys';
        IF TG_OP = 'DELETE' THEN
            SELECT coalesce(jsonb_agg(
                CASE WHEN TG_NARGS = 2 THEN r.j -> TG_ARGV[1]
                    ELSE (
                        SELECT jsonb_agg(r.j -> a.col ORDER BY a.n)
                        FROM unnest(TG_ARGV[1:]) WITH ORDINALITY AS a (col, n)
                    ) END
            ), '[]')
            INTO v_keys
            FROM (
                SELECT to_jsonb(o) AS j FROM old_rows AS o LIMIT v_max
            ) AS r;
        ELSE
            SELECT coalesce(jsonb_agg(
                CASE WHEN TG_NARGS = 2 THEN r.j -> TG_ARGV[1]
                    ELSE (
                        SELECT jsonb_agg(r.j -> a.col ORDER BY a.n)
                        FROM unnest(TG_ARGV[1:]) WITH ORDINALITY AS a (col, n)
                    ) END
            ), '[]')
            INTO v_keys
            FROM (
                SELECT to_jsonb(n) AS j FROM new_rows AS n LIMIT v_max
            ) AS r;
        END IF;
        v_metadata := jsonb_build_object(
            'key_columns', to_jsonb(TG_ARGV[1:]),
            'keys', v_keys,
            'key_count', v_count,
            'keys_truncated', v_count > v_max
        );
    ELSE
        v_metadata := jsonb_build_object('keys_recorded', false);
    END IF;

    PERFORM warden._capture_event(
        TG_ARGV[0],
        format('%I.%I', TG_TABLE_SCHEMA, TG_TABLE_NAME),
        TG_OP,
        v_count,
        v_metadata
    );
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION warden.tg_watched_table__capture() IS
'Trigger: record one customer_data_modify event per INSERT, UPDATE or '
'DELETE statement on a watched table, with count and primary keys.';

REVOKE ALL ON FUNCTION warden.tg_watched_table__capture() FROM PUBLIC;
