-- warden.unwatch_table(target regclass) RETURNS boolean
--
-- Stops capturing a customer table: drops pgwarden's triggers from it and
-- from every partition, forgets it in warden.watched_tables (its
-- sensitivity stays, since exports reported by the application still
-- need it) and records a capture_changed event. Returns false, with a
-- NOTICE, when the table was not watched; idempotent.
--
-- SECURITY DEFINER for the same reason as warden.watch_table.
CREATE OR REPLACE FUNCTION warden.unwatch_table(
    target regclass
)
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_top regclass := coalesce(pg_partition_root(unwatch_table.target),
        unwatch_table.target);
    v_name text;
    v_trigger record;
BEGIN
    FOR v_trigger IN
        SELECT tg.tgrelid::regclass AS rel, tg.tgname
        FROM pg_catalog.pg_trigger AS tg
        INNER JOIN pg_catalog.pg_proc AS p ON tg.tgfoid = p.oid
        WHERE (tg.tgrelid = v_top
                OR tg.tgrelid IN (
                    SELECT t.relid
                    FROM pg_catalog.pg_partition_tree(v_top) AS t
                ))
            AND p.pronamespace = 'warden'::regnamespace
            AND p.proname LIKE 'tg\_watched\_table\_\_%'
    LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s',
            v_trigger.tgname, v_trigger.rel);
    END LOOP;

    DELETE FROM warden.watched_tables AS w
    WHERE w.relation = v_top
    RETURNING w.table_name INTO v_name;

    IF v_name IS NULL THEN
        RAISE NOTICE 'pgwarden: % was not watched', v_top;
        RETURN false;
    END IF;
    PERFORM warden._log_internal(
        'capture_changed',
        jsonb_build_object(
            'action', 'unwatch',
            'table', v_name,
            'by', warden.current_actor()
        ),
        NULL,
        NULL,
        4
    );
    RETURN true;
END
$$;

COMMENT ON FUNCTION warden.unwatch_table(regclass) IS
'Stop capturing a customer table: drop pgwarden''s triggers from it and '
'its partitions; idempotent. Returns false when it was not watched.';

REVOKE ALL ON FUNCTION warden.unwatch_table(regclass) FROM PUBLIC;

SELECT warden._grant_execute('warden.unwatch_table(regclass)',
    'warden_admin');
