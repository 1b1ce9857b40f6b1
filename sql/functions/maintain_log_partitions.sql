-- warden.maintain_log_partitions(p_months_behind integer DEFAULT NULL,
--                                p_months_ahead integer DEFAULT NULL)
-- RETURNS SETOF regclass
--
-- Keeps one partition per month of the event log ready from
-- p_months_behind months before now to p_months_ahead months after it, and
-- gives every month that has rows in the default partition (old imports,
-- clocks far ahead) a partition of its own, moving those rows into it. No
-- insert ever fails for want of a partition: the default partition takes
-- whatever falls outside. Returns the partitions it created.
--
-- SECURITY DEFINER so that the scheduler (warden_admin) can run it; the
-- function owner owns the log.
CREATE OR REPLACE FUNCTION warden.maintain_log_partitions(
    p_months_behind integer DEFAULT NULL,
    p_months_ahead integer DEFAULT NULL
)
RETURNS SETOF regclass
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_behind integer := coalesce(
        p_months_behind,
        (SELECT s.value::integer FROM warden.settings AS s
            WHERE s.name = 'partition_months_behind'),
        3
    );
    v_ahead integer := coalesce(
        p_months_ahead,
        (SELECT s.value::integer FROM warden.settings AS s
            WHERE s.name = 'partition_months_ahead'),
        3
    );
    v_months timestamp [];
    v_month timestamp;
    v_from timestamptz;
    v_to timestamptz;
    v_name text;
    v_moved bigint;
BEGIN
    IF v_behind < 0 OR v_ahead < 0 OR v_behind > 1200 OR v_ahead > 1200 THEN
        RAISE EXCEPTION 'pgwarden: months behind % and ahead % out of range',
            v_behind, v_ahead
            USING ERRCODE = 'invalid_parameter_value',
                HINT = 'Give 0 to 1200 months.';
    END IF;
    -- The months to create: around now, and those waiting in the default
    -- partition. Found without locks, so a call with nothing to do never
    -- makes writers wait.
    SELECT coalesce(array_agg(m ORDER BY m), '{}')
    INTO v_months
    FROM (
        -- Months are counted on the UTC calendar, whatever the session's
        -- time zone.
        SELECT g.m
        FROM generate_series(
            date_trunc('month', now() AT TIME ZONE 'UTC')
            - make_interval(months => v_behind),
            date_trunc('month', now() AT TIME ZONE 'UTC')
            + make_interval(months => v_ahead),
            interval '1 month'
        ) AS g (m)
        UNION
        SELECT DISTINCT date_trunc('month', d.created_at AT TIME ZONE 'UTC')
        FROM warden.security_audit_log_default AS d
        WHERE isfinite(d.created_at)
            AND d.created_at >= timestamptz '1900-01-01 00:00:00+00'
            AND d.created_at < timestamptz '10000-01-01 00:00:00+00'
    ) AS months (m)
    WHERE to_regclass(format(
        'warden.%I', 'security_audit_log_p' || to_char(m, 'YYYYMM')
    )) IS NULL;
    IF cardinality(v_months) = 0 THEN
        RETURN;
    END IF;

    -- Writers wait until the new partitions are attached: an insert routed
    -- to the default partition meanwhile would violate its new constraint.
    -- The lock conflicts with itself, so it also makes concurrent
    -- maintainers wait (they then find the work done); unlike an advisory
    -- key, no role outside pgwarden may take it to stall maintenance.
    LOCK TABLE warden.security_audit_log IN SHARE ROW EXCLUSIVE MODE;

    FOREACH v_month IN ARRAY v_months
    LOOP
        v_from := v_month AT TIME ZONE 'UTC';
        v_to := (v_month + interval '1 month') AT TIME ZONE 'UTC';
        v_name := 'security_audit_log_p' || to_char(v_month, 'YYYYMM');
        CONTINUE WHEN to_regclass(format('warden.%I', v_name)) IS NOT NULL;

        EXECUTE format(
            'CREATE TABLE warden.%I (LIKE warden.security_audit_log '
            'INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
            v_name
        );
        -- Rows of this month waiting in the default partition move into
        -- the new table before it is attached, keeping their ids.
        PERFORM set_config('warden.partition_maintenance', 'on', true);
        EXECUTE format(
            'WITH moved AS (DELETE FROM warden.security_audit_log_default '
            'WHERE created_at >= $1 AND created_at < $2 RETURNING *) '
            'INSERT INTO warden.%I SELECT * FROM moved',
            v_name
        )
        USING v_from, v_to;
        GET DIAGNOSTICS v_moved = ROW_COUNT;
        PERFORM set_config('warden.partition_maintenance', 'off', true);
        EXECUTE format(
            'ALTER TABLE warden.security_audit_log ATTACH PARTITION '
            'warden.%I FOR VALUES FROM (%L) TO (%L)',
            v_name, v_from, v_to
        );
        PERFORM warden._protect_log_partition(
            format('warden.%I', v_name)::regclass
        );
        EXECUTE format(
            'COMMENT ON TABLE warden.%I IS %L',
            v_name,
            format('Events of %s (UTC).', to_char(v_month, 'YYYY-MM'))
        );
        RAISE DEBUG 'maintain_log_partitions: created %, moved % rows',
            v_name, v_moved;
        RETURN NEXT format('warden.%I', v_name)::regclass;
    END LOOP;
END
$$;

COMMENT ON FUNCTION warden.maintain_log_partitions(integer, integer) IS
'Create the monthly partitions of the event log around now and for months '
'waiting in the default partition; returns the partitions created.';

REVOKE ALL ON FUNCTION warden.maintain_log_partitions(integer, integer)
FROM PUBLIC;

SELECT warden._grant_execute(
    'warden.maintain_log_partitions(integer, integer)', 'warden_admin'
);
