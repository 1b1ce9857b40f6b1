-- warden.drop_log_partitions(p_older_than interval) RETURNS SETOF text
--
-- Retention: drops the monthly partitions of the event log whose whole
-- month ended more than p_older_than ago, and removes rows that old from
-- the default partition. Each removal is itself recorded as a
-- log_retention event, so that the integrity check can tell retention
-- from tampering. Returns the names of the partitions dropped.
CREATE OR REPLACE FUNCTION warden.drop_log_partitions(
    p_older_than interval
)
RETURNS SETOF text
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_cutoff timestamptz := now() - p_older_than;
    v_part record;
    v_rows bigint;
    v_max_id bigint;
BEGIN
    IF p_older_than IS NULL OR p_older_than < interval '1 day' THEN
        RAISE EXCEPTION 'pgwarden: retention period % is too short',
            p_older_than
            USING ERRCODE = 'invalid_parameter_value',
                HINT = 'Keep events for at least 1 day, for example '
                    || 'interval ''400 days''.';
    END IF;
    -- Serialised with partition maintenance by the same table lock (no
    -- advisory key, which any login could hold to stall retention).
    LOCK TABLE warden.security_audit_log IN SHARE ROW EXCLUSIVE MODE;

    FOR v_part IN
        SELECT
            c.oid::regclass AS part,
            c.relname,
            to_date(substr(c.relname, 21), 'YYYYMM')::timestamp
                AS month_start
        FROM pg_catalog.pg_inherits AS i
        INNER JOIN pg_catalog.pg_class AS c ON i.inhrelid = c.oid
        WHERE i.inhparent = 'warden.security_audit_log'::regclass
            AND c.relname ~ '^security_audit_log_p[0-9]{6}$'
        ORDER BY c.relname
    LOOP
        CONTINUE WHEN (v_part.month_start + interval '1 month')
            AT TIME ZONE 'UTC' > v_cutoff;
        EXECUTE format('SELECT count(*), max(id) FROM %s', v_part.part)
        INTO v_rows, v_max_id;
        EXECUTE format(
            'ALTER TABLE warden.security_audit_log DETACH PARTITION %s',
            v_part.part
        );
        EXECUTE format('DROP TABLE %s', v_part.part);
        PERFORM warden._log_internal(
            'log_retention',
            jsonb_build_object(
                'partition', v_part.relname,
                'rows', v_rows,
                'max_id', v_max_id,
                'older_than', p_older_than::text
            )
        );
        RETURN NEXT v_part.relname::text;
    END LOOP;

    PERFORM set_config('warden.partition_maintenance', 'on', true);
    DELETE FROM warden.security_audit_log_default AS d
    WHERE d.created_at < v_cutoff;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    PERFORM set_config('warden.partition_maintenance', 'off', true);
    IF v_rows > 0 THEN
        PERFORM warden._log_internal(
            'log_retention',
            jsonb_build_object(
                'partition', 'security_audit_log_default',
                'rows', v_rows,
                'before', v_cutoff,
                'older_than', p_older_than::text
            )
        );
    END IF;
END
$$;

COMMENT ON FUNCTION warden.drop_log_partitions(interval) IS
'Retention: drop event-log partitions (and default-partition rows) older '
'than the given age; each drop is recorded as a log_retention event.';

REVOKE ALL ON FUNCTION warden.drop_log_partitions(interval) FROM PUBLIC;

SELECT warden._grant_execute(
    'warden.drop_log_partitions(interval)', 'warden_admin'
);
