-- warden.user_timeline(user_id text, since timestamptz DEFAULT NULL,
--     until timestamptz DEFAULT NULL)
-- RETURNS TABLE (occurred_at, source, kind, risk_score, summary, ref_id,
--     details)
--
-- One user's story in time order: the events of the log (locks and
-- alerts that pgwarden logged included), the alerts raised about the user
-- and the timeline of the user's incidents, between since (default 24
-- hours before until) and until (default now). source says which:
-- event, alert or incident; ref_id is the id in that table.
CREATE OR REPLACE FUNCTION warden.user_timeline(
    user_id text,
    since timestamptz DEFAULT NULL,
    until timestamptz DEFAULT NULL
)
RETURNS TABLE (
    occurred_at timestamptz,
    source text,
    kind text,
    risk_score smallint,
    summary text,
    ref_id bigint,
    details jsonb
)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH bounds AS (
        SELECT
            coalesce(
                user_timeline.since,
                coalesce(user_timeline.until, now()) - interval '24 hours'
            ) AS lo,
            coalesce(user_timeline.until, now()) AS hi
    )
    SELECT
        e.created_at,
        'event',
        e.event_type,
        e.risk_score,
        concat_ws(' ',
            e.event_type,
            'from ' || host(e.ip_address),
            'table ' || e.table_name,
            e.record_count || ' records'),
        e.id,
        e.metadata
    FROM warden.security_audit_log AS e, bounds AS b
    WHERE e.user_id = user_timeline.user_id
        AND e.created_at > b.lo
        AND e.created_at <= b.hi
    UNION ALL
    SELECT
        a.first_seen,
        'alert',
        a.rule,
        a.risk_score,
        format('%s alert %s: %s events until %s', a.severity, a.rule,
            a.event_count, a.last_seen),
        a.id,
        a.details
    FROM warden.alerts AS a, bounds AS b
    WHERE a.user_id = user_timeline.user_id
        AND a.first_seen <= b.hi
        AND a.last_seen > b.lo
    UNION ALL
    SELECT
        t.occurred_at,
        'incident',
        t.action,
        NULL::smallint,
        format('%s %s by %s%s', i.reference, t.action, t.actor,
            coalesce(': ' || t.note, '')),
        i.id,
        t.details
    FROM warden.incident_timeline AS t
    JOIN warden.incidents AS i ON i.id = t.incident_id
    CROSS JOIN bounds AS b
    WHERE i.user_id = user_timeline.user_id
        AND t.occurred_at > b.lo
        AND t.occurred_at <= b.hi
    ORDER BY 1, 2, 6;
$$;

COMMENT ON FUNCTION warden.user_timeline(text, timestamptz, timestamptz) IS
'One user''s events, alerts and incident actions in time order between '
'since (default 24 hours ago) and until (default now).';

REVOKE ALL ON FUNCTION warden.user_timeline(text, timestamptz, timestamptz)
FROM PUBLIC;

SELECT warden._grant_execute(
    'warden.user_timeline(text, timestamptz, timestamptz)', role_name
)
FROM unnest(ARRAY['warden_admin', 'warden_analyst']::name[]) AS role_name;
