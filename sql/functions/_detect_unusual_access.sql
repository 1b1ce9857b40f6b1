-- warden._detect_unusual_access(p_rule warden.detection_rules,
--                               p_since timestamptz, p_until timestamptz,
--                               p_min_id bigint, p_ids bigint[])
-- RETURNS SETOF warden.detection_finding
--
-- unusual_access_pattern: customer-data access outside the user's own
-- baseline. The baseline of an event is the user's customer-data events
-- in the time_window (30 days) before the start of the event's day, in
-- the time zone params.time_zone (UTC by default). Only users with
-- params.min_active_days active days in it are judged (cold start). An
-- event is a hit when its hour of day has no activity in the baseline, or
-- when the user's events in the 60 minutes up to it (a sliding window)
-- number more than threshold times the baseline's params.percentile of
-- hourly volume (over the clock hours with activity), and at least
-- params.min_hourly_volume. Hits of one user within one clock hour form
-- one finding; its evidence is those hit events.
CREATE OR REPLACE FUNCTION warden._detect_unusual_access(
    p_rule warden.detection_rules,
    p_since timestamptz,
    p_until timestamptz,
    p_min_id bigint,
    p_ids bigint[]
)
RETURNS SETOF warden.detection_finding
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_custom_plan
AS $$
DECLARE
    v_types text [] := warden._event_types_of(
        ARRAY['data_read', 'data_export', 'data_modify']
    );
    v_tz text := coalesce(p_rule.params ->> 'time_zone', 'UTC');
    v_min_days integer := coalesce(
        (p_rule.params ->> 'min_active_days')::integer, 7);
    v_min_volume numeric := coalesce(
        (p_rule.params ->> 'min_hourly_volume')::numeric, 20);
    v_percentile float8 := coalesce(
        (p_rule.params ->> 'percentile')::float8, 0.95);
    v_hour constant interval := interval '1 hour';
BEGIN
    -- Nothing of the size of the new events is materialized: the window
    -- of each subject is counted in a lateral subquery over its own
    -- events (an index scan, a small sort), and the baselines come from
    -- the distinct (user, day) pairs of the anchors. So the query stays
    -- within the default work_mem and writes no temporary files.
    RETURN QUERY
    WITH subj AS MATERIALIZED (
        SELECT e.user_id,
            greatest(min(e.created_at), p_since) AS lo,
            least(max(e.created_at) + v_hour, p_until) AS hi
        FROM warden.security_audit_log AS e
        WHERE e.event_type = ANY (v_types)
            AND e.source <> 'pgwarden'
            AND e.user_id IS NOT NULL
            AND e.created_at BETWEEN p_since AND p_until
            AND (p_min_id IS NULL OR e.id > p_min_id)
            AND (p_ids IS NULL OR e.id = ANY (p_ids))
        GROUP BY e.user_id
    ),
    -- The events a window ends at: every event of a subject from its
    -- earliest new one to an hour after its latest.
    anchors AS (
        SELECT s.user_id, w.id, w.created_at, w.volume,
            date_trunc('day', w.created_at AT TIME ZONE v_tz) AS local_day,
            date_trunc('hour', w.created_at AT TIME ZONE v_tz)
                AS local_hour
        FROM subj AS s
        CROSS JOIN LATERAL (
            SELECT e.id, e.created_at,
                count(*) OVER (
                    ORDER BY e.created_at
                    RANGE BETWEEN v_hour PRECEDING AND CURRENT ROW
                ) AS volume
            FROM warden.security_audit_log AS e
            WHERE e.user_id = s.user_id
                AND e.created_at >= s.lo - v_hour
                AND e.created_at <= s.hi
                AND e.event_type = ANY (v_types)
                AND e.source <> 'pgwarden'
        ) AS w
        WHERE w.created_at >= s.lo
    ),
    days AS (
        SELECT DISTINCT s.user_id,
            date_trunc('day', e.created_at AT TIME ZONE v_tz) AS local_day
        FROM subj AS s
        INNER JOIN warden.security_audit_log AS e
            ON e.user_id = s.user_id
            AND e.created_at BETWEEN s.lo AND s.hi
        WHERE e.event_type = ANY (v_types)
            AND e.source <> 'pgwarden'
    ),
    baseline AS MATERIALIZED (
        SELECT d.user_id, d.local_day,
            count(DISTINCT date_trunc('day', hb.h)) AS active_days,
            array_agg(DISTINCT extract(HOUR FROM hb.h)::integer) AS hours,
            percentile_cont(v_percentile) WITHIN GROUP (ORDER BY hb.c)
                AS pct
        FROM days AS d
        CROSS JOIN LATERAL (
            SELECT date_trunc('hour', b.created_at AT TIME ZONE v_tz) AS h,
                count(*) AS c
            FROM warden.security_audit_log AS b
            WHERE b.event_type = ANY (v_types)
                AND b.source <> 'pgwarden'
                AND b.user_id = d.user_id
                AND b.created_at >= (d.local_day AT TIME ZONE v_tz)
                - p_rule.time_window
                AND b.created_at < (d.local_day AT TIME ZONE v_tz)
            GROUP BY 1
        ) AS hb
        GROUP BY d.user_id, d.local_day
    ),
    hits AS MATERIALIZED (
        SELECT h.*
        FROM (
            SELECT a.*, b.active_days, b.pct,
                greatest(p_rule.threshold * b.pct::numeric, v_min_volume)
                    AS volume_limit,
                NOT (extract(HOUR FROM a.local_hour)::integer
                    = ANY (b.hours)) AS off_hours
            FROM anchors AS a
            INNER JOIN baseline AS b
                ON a.user_id = b.user_id AND a.local_day = b.local_day
            WHERE b.active_days >= v_min_days
        ) AS h
        WHERE h.off_hours OR h.volume > h.volume_limit
    ),
    -- Address and record count only for the hits, read back by id.
    found AS (
        SELECT h.*, e.ip_address, e.record_count
        FROM hits AS h
        INNER JOIN warden.security_audit_log AS e
            ON e.id = h.id
            AND e.created_at = h.created_at
    )
    SELECT
        p_rule.rule,
        p_rule.severity,
        p_rule.risk_score,
        h.user_id,
        (array_agg(h.ip_address ORDER BY h.created_at DESC, h.id DESC))[1],
        'user:' || h.user_id,
        min(h.created_at),
        max(h.created_at),
        count(*)::integer,
        sum(h.record_count)::bigint,
        array_agg(h.id ORDER BY h.id),
        jsonb_build_object(
            'window', p_rule.time_window::text,
            'hour', to_char(h.local_hour, 'YYYY-MM-DD HH24:00'),
            'time_zone', v_tz,
            'off_hours', bool_or(h.off_hours),
            'peak_volume', max(h.volume),
            'volume_limit', max(h.volume_limit),
            'baseline_active_days', max(h.active_days),
            'baseline_percentile', max(h.pct)
        )
    FROM found AS h
    GROUP BY h.user_id, h.local_hour
    ORDER BY min(h.created_at), h.user_id;
END
$$;

COMMENT ON FUNCTION warden._detect_unusual_access(
    warden.detection_rules, timestamptz, timestamptz, bigint, bigint[]
) IS
'Private: findings of unusual_access_pattern (off-hours or high-volume '
'customer-data access against the user''s own baseline).';

REVOKE ALL ON FUNCTION warden._detect_unusual_access(
    warden.detection_rules, timestamptz, timestamptz, bigint, bigint[]
) FROM PUBLIC;
