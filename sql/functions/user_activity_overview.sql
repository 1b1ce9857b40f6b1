-- warden.user_activity_overview(user_id text,
--     since timestamptz DEFAULT NULL, until timestamptz DEFAULT NULL)
-- RETURNS TABLE (event_type, event_count, max_risk_score, first_seen,
--     last_seen)
--
-- The runbook's "User activity overview": one row per event type of one
-- user between since (default 24 hours before until) and until (default
-- now), busiest first.
CREATE OR REPLACE FUNCTION warden.user_activity_overview(
    user_id text,
    since timestamptz DEFAULT NULL,
    until timestamptz DEFAULT NULL
)
RETURNS TABLE (
    event_type text,
    event_count bigint,
    max_risk_score smallint,
    first_seen timestamptz,
    last_seen timestamptz
)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT
        e.event_type,
        count(*),
        max(e.risk_score),
        min(e.created_at),
        max(e.created_at)
    FROM warden.security_audit_log AS e
    WHERE e.user_id = user_activity_overview.user_id
        AND e.created_at > coalesce(
            user_activity_overview.since,
            coalesce(user_activity_overview.until, now())
            - interval '24 hours'
        )
        AND e.created_at <= coalesce(user_activity_overview.until, now())
    GROUP BY e.event_type
    ORDER BY count(*) DESC, e.event_type;
$$;

COMMENT ON FUNCTION warden.user_activity_overview(
    text, timestamptz, timestamptz
) IS
'One user''s activity per event type (count, highest risk, first and last '
'time) between since (default 24 hours ago) and until (default now).';

REVOKE ALL ON FUNCTION warden.user_activity_overview(
    text, timestamptz, timestamptz
) FROM PUBLIC;

SELECT warden._grant_execute(
    'warden.user_activity_overview(text, timestamptz, timestamptz)',
    role_name
)
FROM unnest(ARRAY['warden_admin', 'warden_analyst']::name[]) AS role_name;
