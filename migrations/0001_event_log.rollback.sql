-- Remove everything pgwarden created: every object in the schema warden
-- except yoyo's bookkeeping (pgwarden drops that and the schema itself once
-- yoyo is done), the triggers it added to watched tables, and the roles the
-- installer created where no other database still uses them.
DO $uninstall$
DECLARE
    v_roles text[];
    v_role text;
    v_obj record;
BEGIN
    SELECT coalesce(array_agg(r.role_name::text), '{}')
    INTO v_roles
    FROM warden.installed_roles AS r;

    -- Dropping the functions drops the triggers on watched tables with them.
    FOR v_obj IN
        SELECT p.oid::regprocedure AS fn, p.prokind
        FROM pg_catalog.pg_proc AS p
        WHERE p.pronamespace = 'warden'::regnamespace
    LOOP
        EXECUTE format(
            'DROP %s IF EXISTS %s CASCADE',
            CASE v_obj.prokind WHEN 'p' THEN 'PROCEDURE'
                WHEN 'a' THEN 'AGGREGATE' ELSE 'FUNCTION' END,
            v_obj.fn
        );
    END LOOP;

    FOR v_obj IN
        SELECT c.oid::regclass AS rel, c.relkind
        FROM pg_catalog.pg_class AS c
        WHERE c.relnamespace = 'warden'::regnamespace
            AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
            AND NOT c.relispartition
            AND c.relname NOT IN ('_yoyo_migration', '_yoyo_log',
                '_yoyo_version', 'yoyo_lock')
    LOOP
        EXECUTE format(
            'DROP %s IF EXISTS %s CASCADE',
            CASE v_obj.relkind WHEN 'v' THEN 'VIEW'
                WHEN 'm' THEN 'MATERIALIZED VIEW'
                WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END,
            v_obj.rel
        );
    END LOOP;

    FOR v_obj IN
        SELECT t.oid::regtype AS typ
        FROM pg_catalog.pg_type AS t
        LEFT JOIN pg_catalog.pg_class AS c ON t.typrelid = c.oid
        WHERE t.typnamespace = 'warden'::regnamespace
            AND (t.typtype IN ('e', 'd', 'r')
                OR (t.typtype = 'c' AND c.relkind = 'c'))
    LOOP
        EXECUTE format('DROP TYPE IF EXISTS %s CASCADE', v_obj.typ);
    END LOOP;

    FOREACH v_role IN ARRAY ARRAY['warden_admin', 'warden_analyst',
        'warden_app']
    LOOP
        IF EXISTS (
            SELECT 1 FROM pg_catalog.pg_roles AS r WHERE r.rolname = v_role
        ) THEN
            EXECUTE format('REVOKE ALL ON SCHEMA warden FROM %I', v_role);
        END IF;
    END LOOP;

    FOREACH v_role IN ARRAY v_roles
    LOOP
        BEGIN
            EXECUTE format('DROP ROLE IF EXISTS %I', v_role);
        EXCEPTION
            WHEN dependent_objects_still_exist OR insufficient_privilege THEN
                RAISE WARNING 'pgwarden: role % kept', v_role
                    USING DETAIL = SQLERRM,
                        HINT = 'Another database still uses it; drop it '
                            || 'there first, or keep it.';
        END;
    END LOOP;
END
$uninstall$;
