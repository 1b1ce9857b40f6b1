-- warden.watch_table(target regclass, sensitivity text DEFAULT 'normal')
-- RETURNS text
--
-- Starts capturing changes to a customer table: statement-level triggers
-- on the table and on every partition of it (a statement aimed straight
-- at a partition fires only that partition's triggers):
--   warden_10_enforce            BEFORE INSERT/UPDATE/DELETE/TRUNCATE,
--                                refuses locked actors and blocked addresses
--   warden_20_capture_insert     AFTER INSERT, transition table new_rows
--   warden_20_capture_update     AFTER UPDATE, transition table new_rows
--   warden_20_capture_delete     AFTER DELETE, transition table old_rows
--   warden_20_capture_truncate   BEFORE TRUNCATE, counts the rows
-- all ENABLE ALWAYS, so that they fire under session_replication_role =
-- replica too. A partition given as target stands for its top parent.
-- The logical name (format('%I.%I') of the top parent, e.g.
-- public.customers) is what events carry in table_name; it is also
-- written with the sensitivity into warden.table_sensitivity. A table
-- without a primary key is watched with counts only (NOTICE). Run it
-- again after adding partitions or changing the primary key: it is
-- idempotent. Returns the logical name.
--
-- SECURITY DEFINER so that a security manager (warden_admin) can watch
-- tables the installing role owns; the installer must own the table (or
-- be a member of its owner), as ALTER TABLE ... ENABLE ALWAYS TRIGGER
-- requires.
CREATE OR REPLACE FUNCTION warden.watch_table(
    target regclass,
    sensitivity text DEFAULT 'normal'
)
RETURNS text
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_top regclass;
    v_schema name;
    v_kind "char";
    v_name text;
    v_keys name[];
    v_args text;
    v_member record;
    v_previous warden.watched_tables;
    v_sensitivity text := coalesce(watch_table.sensitivity, 'normal');
BEGIN
    IF v_sensitivity NOT IN ('normal', 'sensitive', 'high_value') THEN
        RAISE EXCEPTION 'pgwarden: unknown sensitivity "%"', v_sensitivity
            USING ERRCODE = 'invalid_parameter_value',
                HINT = 'Allowed: normal, sensitive, high_value.';
    END IF;
    v_top := coalesce(pg_partition_root(watch_table.target),
        watch_table.target);
    SELECT c.relnamespace::regnamespace::name, c.relkind,
        format('%I.%I', n.nspname, c.relname)
    INTO v_schema, v_kind, v_name
    FROM pg_catalog.pg_class AS c
    INNER JOIN pg_catalog.pg_namespace AS n ON c.relnamespace = n.oid
    WHERE c.oid = v_top;
    IF v_schema = 'warden' THEN
        RAISE EXCEPTION 'pgwarden: % is pgwarden''s own table', v_name
            USING ERRCODE = 'invalid_parameter_value',
                DETAIL = 'Watching pgwarden''s tables would record its '
                    || 'own writes in a loop.',
                HINT = 'Watch the application''s customer tables.';
    END IF;
    IF v_kind NOT IN ('r', 'p') THEN
        RAISE EXCEPTION 'pgwarden: % is not a table', v_name
            USING ERRCODE = 'wrong_object_type',
                HINT = 'Watch an ordinary or partitioned table; views and '
                    || 'foreign tables cannot be watched.';
    END IF;

    SELECT array_agg(a.attname ORDER BY k.n)
    INTO v_keys
    FROM pg_catalog.pg_index AS i
    CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k (attnum, n)
    INNER JOIN pg_catalog.pg_attribute AS a
        ON a.attrelid = i.indrelid AND a.attnum = k.attnum
    WHERE i.indrelid = v_top
        AND i.indisprimary;
    IF v_keys IS NULL THEN
        RAISE NOTICE 'pgwarden: % has no primary key; it is watched with '
            'counts only', v_name
            USING HINT = 'Add a primary key and run warden.watch_table '
                || 'again to record the keys of changed rows.';
    END IF;

    SELECT string_agg(quote_literal(a), ', ')
    INTO v_args
    FROM unnest(v_name || coalesce(v_keys::text[], '{}')) AS a;

    FOR v_member IN
        SELECT c.oid::regclass AS relid, c.relkind
        FROM pg_catalog.pg_class AS c
        WHERE c.oid = v_top
            OR c.oid IN (
                SELECT t.relid FROM pg_catalog.pg_partition_tree(v_top) AS t
            )
    LOOP
        IF v_member.relkind NOT IN ('r', 'p') THEN
            RAISE NOTICE 'pgwarden: partition % is not captured',
                v_member.relid
                USING DETAIL = 'Foreign-table partitions cannot have '
                    || 'transition tables.';
            CONTINUE;
        END IF;
        EXECUTE format(
            'CREATE OR REPLACE TRIGGER warden_10_enforce BEFORE INSERT OR '
            'UPDATE OR DELETE OR TRUNCATE ON %s FOR EACH STATEMENT EXECUTE '
            'FUNCTION warden.tg_watched_table__enforce()',
            v_member.relid
        );
        EXECUTE format(
            'CREATE OR REPLACE TRIGGER warden_20_capture_insert AFTER INSERT '
            'ON %s REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT '
            'EXECUTE FUNCTION warden.tg_watched_table__capture(%s)',
            v_member.relid, v_args
        );
        EXECUTE format(
            'CREATE OR REPLACE TRIGGER warden_20_capture_update AFTER UPDATE '
            'ON %s REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT '
            'EXECUTE FUNCTION warden.tg_watched_table__capture(%s)',
            v_member.relid, v_args
        );
        EXECUTE format(
            'CREATE OR REPLACE TRIGGER warden_20_capture_delete AFTER DELETE '
            'ON %s REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT '
            'EXECUTE FUNCTION warden.tg_watched_table__capture(%s)',
            v_member.relid, v_args
        );
        EXECUTE format(
            'CREATE OR REPLACE TRIGGER warden_20_capture_truncate BEFORE '
            'TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION '
            'warden.tg_watched_table__capture_truncate(%L)',
            v_member.relid, v_name
        );
        EXECUTE format(
            'COMMENT ON TRIGGER warden_10_enforce ON %s IS %L; '
            'COMMENT ON TRIGGER warden_20_capture_insert ON %1$s IS %3$L; '
            'COMMENT ON TRIGGER warden_20_capture_update ON %1$s IS %3$L; '
            'COMMENT ON TRIGGER warden_20_capture_delete ON %1$s IS %3$L; '
            'COMMENT ON TRIGGER warden_20_capture_truncate ON %1$s IS %3$L',
            v_member.relid,
            'pgwarden: refuses writes by locked actors and blocked '
                || 'addresses (warden.watch_table).',
            format('pgwarden: records changes as customer_data_modify '
                || 'events of %s (warden.watch_table).', v_name)
        );
        EXECUTE format(
            'ALTER TABLE %s ENABLE ALWAYS TRIGGER warden_10_enforce, '
            'ENABLE ALWAYS TRIGGER warden_20_capture_insert, '
            'ENABLE ALWAYS TRIGGER warden_20_capture_update, '
            'ENABLE ALWAYS TRIGGER warden_20_capture_delete, '
            'ENABLE ALWAYS TRIGGER warden_20_capture_truncate',
            v_member.relid
        );
    END LOOP;

    SELECT * INTO v_previous
    FROM warden.watched_tables AS w
    WHERE w.table_name = v_name;

    INSERT INTO warden.watched_tables (
        table_name, relation, sensitivity, key_columns, watched_by
    )
    VALUES (v_name, v_top, v_sensitivity, v_keys, warden.current_actor())
    ON CONFLICT (table_name) DO UPDATE
    SET relation = excluded.relation,
        sensitivity = excluded.sensitivity,
        key_columns = excluded.key_columns;

    -- The detection area keeps sensitivity for its export rules.
    IF to_regclass('warden.table_sensitivity') IS NOT NULL THEN
        EXECUTE 'INSERT INTO warden.table_sensitivity (table_name, '
            'sensitivity) VALUES ($1, $2) ON CONFLICT (table_name) DO '
            'UPDATE SET sensitivity = excluded.sensitivity'
        USING v_name, v_sensitivity;
    END IF;

    IF v_previous.table_name IS NULL
        OR v_previous.sensitivity <> v_sensitivity THEN
        PERFORM warden._log_internal(
            'capture_changed',
            jsonb_build_object(
                'action', 'watch',
                'table', v_name,
                'sensitivity', v_sensitivity,
                'previous_sensitivity', v_previous.sensitivity,
                'key_columns', to_jsonb(v_keys),
                'by', warden.current_actor()
            )
        );
    END IF;
    RETURN v_name;
END
$$;

COMMENT ON FUNCTION warden.watch_table(regclass, text) IS
'Capture changes to a customer table (and its partitions) as '
'customer_data_modify events and enforce locks on writes; idempotent. '
'Returns the logical table name.';

REVOKE ALL ON FUNCTION warden.watch_table(regclass, text) FROM PUBLIC;

SELECT warden._grant_execute('warden.watch_table(regclass, text)',
    'warden_admin');
