-- warden.verify_audit_log() RETURNS TABLE (kind text, detail text,
--     first_id bigint, last_id bigint, seal_id bigint, object text)
--
-- Checks that the event log is as it was sealed and still guarded, and
-- returns one row per problem (no rows when all is well):
--   seal_missing, seal_chain_broken, seal_altered  the seals themselves
--   rows_changed, rows_deleted, rows_inserted      events of a sealed
--       range differ from its digest (first_id..last_id is the range),
--       or carry ids the log never handed out
--   log_trigger_missing, log_trigger_disabled      the append-only
--       triggers of the log or a partition (object names it)
--   watched_table_missing, capture_trigger_missing,
--   capture_trigger_disabled                       the triggers of a
--       watched customer table or partition (object names it)
-- Months that retention removed (log_retention events of
-- warden.drop_log_partitions) are not reported. A problem also raises an
-- alert (rule audit_log_tampering, or capture_disabled per table), once
-- per open alert. Events after the last seal are checked once sealed
-- (warden.seal_audit_log); deleting the newest seals themselves can only
-- be seen against a chain digest kept outside the database, which
-- `pgwarden verify` prints.
--
-- SECURITY DEFINER so that warden_analyst and warden_admin can run it and
-- it can raise the alerts.
CREATE OR REPLACE FUNCTION warden.verify_audit_log()
RETURNS TABLE (
    kind text,
    detail text,
    first_id bigint,
    last_id bigint,
    seal_id bigint,
    object text
)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_seal warden.audit_log_seals;
    v_previous warden.audit_log_seals;
    v_now jsonb;
    v_month text;
    v_stored jsonb;
    v_current jsonb;
    v_retained text[];
    v_cutoff timestamptz;
    v_problem record;
    v_log_problems jsonb := '[]';
    v_table_problems jsonb := '{}';
BEGIN
    -- Months whose rows retention removed: dropped monthly partitions, and
    -- every month before the cutoff of a default-partition cleanup.
    SELECT
        coalesce(array_agg(DISTINCT substr(e.metadata ->> 'partition', 21, 4)
            || '-' || substr(e.metadata ->> 'partition', 25, 2))
            FILTER (WHERE e.metadata ->> 'partition'
                ~ '^security_audit_log_p[0-9]{6}$'), '{}'),
        max((e.metadata ->> 'before')::timestamptz)
    INTO v_retained, v_cutoff
    FROM warden.security_audit_log AS e
    WHERE e.event_type = 'log_retention'
        AND e.source = 'pgwarden';

    FOR v_seal IN
        SELECT * FROM warden.audit_log_seals AS s ORDER BY s.id
    LOOP
        IF v_previous.id IS NULL THEN
            IF v_seal.first_id <> 1 OR v_seal.previous_digest IS NOT NULL
            THEN
                kind := 'seal_missing';
                detail := 'the seals before this one are gone';
                first_id := 1;
                last_id := v_seal.first_id - 1;
                seal_id := v_seal.id;
                object := 'warden.audit_log_seals';
                v_log_problems := v_log_problems
                    || jsonb_build_array(kind || ': ' || detail);
                RETURN NEXT;
            END IF;
        ELSE
            IF v_seal.first_id <> v_previous.last_id + 1 THEN
                kind := 'seal_missing';
                detail := format('no seal covers ids %s..%s',
                    v_previous.last_id + 1, v_seal.first_id - 1);
                first_id := v_previous.last_id + 1;
                last_id := v_seal.first_id - 1;
                seal_id := v_seal.id;
                object := 'warden.audit_log_seals';
                v_log_problems := v_log_problems
                    || jsonb_build_array(kind || ': ' || detail);
                RETURN NEXT;
            END IF;
            IF v_seal.previous_digest IS DISTINCT FROM v_previous.chain_digest
            THEN
                kind := 'seal_chain_broken';
                detail := format('seal %s does not follow seal %s',
                    v_seal.id, v_previous.id);
                first_id := v_seal.first_id;
                last_id := v_seal.last_id;
                seal_id := v_seal.id;
                object := 'warden.audit_log_seals';
                v_log_problems := v_log_problems
                    || jsonb_build_array(kind || ': ' || detail);
                RETURN NEXT;
            END IF;
        END IF;
        IF warden._seal_chain_digest(v_seal.previous_digest, v_seal.first_id,
            v_seal.last_id, v_seal.row_count, v_seal.month_digests)
            IS DISTINCT FROM v_seal.chain_digest THEN
            kind := 'seal_altered';
            detail := format('seal %s was changed after it was made',
                v_seal.id);
            first_id := v_seal.first_id;
            last_id := v_seal.last_id;
            seal_id := v_seal.id;
            object := 'warden.audit_log_seals';
            v_log_problems := v_log_problems
                || jsonb_build_array(kind || ': ' || detail);
            RETURN NEXT;
        END IF;

        v_now := warden._audit_month_digests(v_seal.first_id,
            v_seal.last_id);
        FOR v_month IN
            SELECT k FROM jsonb_object_keys(v_seal.month_digests) AS k
            UNION
            SELECT k FROM jsonb_object_keys(v_now) AS k
            ORDER BY 1
        LOOP
            v_stored := v_seal.month_digests -> v_month;
            v_current := v_now -> v_month;
            CONTINUE WHEN v_stored IS NOT DISTINCT FROM v_current;
            CONTINUE WHEN v_month = ANY (v_retained)
                OR (v_cutoff IS NOT NULL
                    AND (v_month || '-01')::date < v_cutoff);
            kind := CASE
                WHEN coalesce((v_current ->> 'rows')::bigint, 0)
                    < coalesce((v_stored ->> 'rows')::bigint, 0)
                    THEN 'rows_deleted'
                WHEN coalesce((v_current ->> 'rows')::bigint, 0)
                    > coalesce((v_stored ->> 'rows')::bigint, 0)
                    THEN 'rows_inserted'
                ELSE 'rows_changed' END;
            detail := format('events of %s: %s sealed, %s now; digest %s',
                v_month, coalesce(v_stored ->> 'rows', '0'),
                coalesce(v_current ->> 'rows', '0'),
                CASE WHEN v_stored ->> 'digest'
                    = v_current ->> 'digest' THEN 'equal'
                    ELSE 'differs' END);
            first_id := v_seal.first_id;
            last_id := v_seal.last_id;
            seal_id := v_seal.id;
            object := 'warden.security_audit_log';
            v_log_problems := v_log_problems
                || jsonb_build_array(kind || ': ' || detail);
            RETURN NEXT;
        END LOOP;
        v_previous := v_seal;
    END LOOP;

    -- Ids above the last one the sequence handed out were forced in.
    SELECT pg_sequence_last_value(pg_get_serial_sequence(
        'warden.security_audit_log', 'id')::regclass)
    INTO first_id;
    SELECT max(l.id) INTO last_id FROM warden.security_audit_log AS l;
    IF last_id > coalesce(first_id, 0) THEN
        kind := 'rows_inserted';
        detail := format('events with ids up to %s, beyond the last id '
            'the log handed out (%s)', last_id, coalesce(first_id, 0));
        first_id := coalesce(first_id, 0) + 1;
        seal_id := NULL;
        object := 'warden.security_audit_log';
        v_log_problems := v_log_problems
            || jsonb_build_array(kind || ': ' || detail);
        RETURN NEXT;
    END IF;

    -- The append-only triggers of the log and of each partition.
    FOR v_problem IN
        WITH expected (relid, tgname) AS (
            SELECT 'warden.security_audit_log'::regclass, t.name
            FROM unnest(ARRAY['security_audit_log_10_check_types',
                'security_audit_log_10_record_tamper',
                'security_audit_log_10_refuse_truncate',
                'security_audit_log_20_refuse_change']) AS t (name)
            UNION ALL
            SELECT i.inhrelid::regclass, t.name
            FROM pg_catalog.pg_inherits AS i
            CROSS JOIN unnest(ARRAY['security_audit_log_10_record_tamper',
                'security_audit_log_10_refuse_truncate',
                'security_audit_log_20_refuse_change']) AS t (name)
            WHERE i.inhparent = 'warden.security_audit_log'::regclass
        )
        SELECT e.relid, e.tgname, tg.tgenabled
        FROM expected AS e
        LEFT JOIN pg_catalog.pg_trigger AS tg
            ON tg.tgrelid = e.relid AND tg.tgname = e.tgname
        WHERE tg.tgenabled IS DISTINCT FROM 'A'
        UNION
        -- Other triggers of the log (the real-time rules): disabled ones.
        SELECT tg.tgrelid::regclass, tg.tgname::text, tg.tgenabled
        FROM pg_catalog.pg_trigger AS tg
        WHERE NOT tg.tgisinternal
            AND tg.tgenabled = 'D'
            AND (tg.tgrelid = 'warden.security_audit_log'::regclass
                OR tg.tgrelid IN (
                    SELECT i.inhrelid
                    FROM pg_catalog.pg_inherits AS i
                    WHERE i.inhparent = 'warden.security_audit_log'::regclass
                ))
        ORDER BY 1, 2
    LOOP
        kind := CASE WHEN v_problem.tgenabled IS NULL
            THEN 'log_trigger_missing' ELSE 'log_trigger_disabled' END;
        detail := format('trigger %s on %s is %s', v_problem.tgname,
            v_problem.relid, CASE v_problem.tgenabled
                WHEN 'D' THEN 'disabled'
                WHEN 'O' THEN 'enabled for origin sessions only'
                WHEN 'R' THEN 'enabled for replica sessions only'
                ELSE 'missing' END);
        first_id := NULL;
        last_id := NULL;
        seal_id := NULL;
        object := v_problem.relid::text;
        v_log_problems := v_log_problems
            || jsonb_build_array(kind || ': ' || detail);
        RETURN NEXT;
    END LOOP;

    -- The capture and enforcement triggers of every watched table.
    FOR v_problem IN
        WITH members AS (
            SELECT w.table_name, c.oid AS relid, c.relkind
            FROM warden.watched_tables AS w
            INNER JOIN pg_catalog.pg_class AS c
                ON c.oid = w.relation
                OR c.oid IN (
                    SELECT t.relid
                    FROM pg_catalog.pg_partition_tree(w.relation) AS t
                )
            WHERE c.relkind IN ('r', 'p')
        ),
        expected AS (
            SELECT m.table_name, m.relid, t.tgname, t.fn
            FROM members AS m
            CROSS JOIN (VALUES
                ('warden_10_enforce', 'tg_watched_table__enforce'),
                ('warden_20_capture_insert', 'tg_watched_table__capture'),
                ('warden_20_capture_update', 'tg_watched_table__capture'),
                ('warden_20_capture_delete', 'tg_watched_table__capture'),
                ('warden_20_capture_truncate',
                    'tg_watched_table__capture_truncate')
            ) AS t (tgname, fn)
        )
        SELECT e.table_name, e.relid::regclass::text AS rel, e.tgname,
            CASE WHEN p.proname = e.fn
                AND p.pronamespace = 'warden'::regnamespace
                THEN tg.tgenabled END AS tgenabled,
            tg.oid IS NOT NULL AS present
        FROM expected AS e
        LEFT JOIN pg_catalog.pg_trigger AS tg
            ON tg.tgrelid = e.relid AND tg.tgname = e.tgname
        LEFT JOIN pg_catalog.pg_proc AS p ON tg.tgfoid = p.oid
        WHERE tg.tgenabled IS DISTINCT FROM 'A'
            OR p.proname IS DISTINCT FROM e.fn
            OR p.pronamespace <> 'warden'::regnamespace
        UNION ALL
        SELECT w.table_name, w.table_name, NULL, NULL, false
        FROM warden.watched_tables AS w
        WHERE NOT EXISTS (
            SELECT 1 FROM pg_catalog.pg_class AS c WHERE c.oid = w.relation
        )
        ORDER BY 1, 2, 3
    LOOP
        kind := CASE
            WHEN v_problem.tgname IS NULL THEN 'watched_table_missing'
            WHEN NOT v_problem.present OR v_problem.tgenabled IS NULL
                THEN 'capture_trigger_missing'
            ELSE 'capture_trigger_disabled' END;
        detail := CASE
            WHEN v_problem.tgname IS NULL THEN format(
                'watched table %s no longer exists', v_problem.table_name)
            ELSE format('trigger %s on %s is %s', v_problem.tgname,
                v_problem.rel, CASE v_problem.tgenabled
                    WHEN 'D' THEN 'disabled'
                    WHEN 'O' THEN 'enabled for origin sessions only'
                    WHEN 'R' THEN 'enabled for replica sessions only'
                    ELSE 'missing or replaced' END) END;
        first_id := NULL;
        last_id := NULL;
        seal_id := NULL;
        object := v_problem.rel;
        v_table_problems := jsonb_set(
            v_table_problems,
            ARRAY[v_problem.table_name],
            coalesce(v_table_problems -> v_problem.table_name, '[]')
                || jsonb_build_array(kind || ': ' || detail)
        );
        RETURN NEXT;
    END LOOP;

    IF jsonb_array_length(v_log_problems) > 0 THEN
        PERFORM warden._raise_integrity_alert('audit_log_tampering',
            'warden.security_audit_log', v_log_problems);
    END IF;
    FOR v_month, v_current IN
        SELECT t.key, t.value FROM jsonb_each(v_table_problems) AS t
    LOOP
        PERFORM warden._raise_integrity_alert('capture_disabled', v_month,
            v_current);
    END LOOP;
    RETURN;
END
$$;

COMMENT ON FUNCTION warden.verify_audit_log() IS
'Check the event log against its seals and the triggers of the log and of '
'watched tables; one row per problem, none when intact. Problems raise '
'alerts.';

REVOKE ALL ON FUNCTION warden.verify_audit_log() FROM PUBLIC;

SELECT warden._grant_execute('warden.verify_audit_log()', role_name)
FROM unnest(ARRAY['warden_analyst', 'warden_admin']::name[]) AS role_name;
