-- warden._detect_new_location(p_rule warden.detection_rules,
--                             p_since timestamptz, p_until timestamptz,
--                             p_min_id bigint, p_ids bigint[])
-- RETURNS SETOF warden.detection_finding
--
-- new_location_login: each new successful login from a location not seen
-- for that user within time_window (see warden._login_location_is_new).
-- The baseline is the log itself; a user's first login never alerts. A
-- login stored late is judged against the logins before it in event time;
-- logins judged earlier are not judged again because of it.
CREATE OR REPLACE FUNCTION warden._detect_new_location(
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
BEGIN
    RETURN QUERY
    SELECT
        p_rule.rule,
        p_rule.severity,
        p_rule.risk_score,
        e.user_id,
        e.ip_address,
        'user:' || e.user_id,
        e.created_at,
        e.created_at,
        1,
        NULL::bigint,
        ARRAY[e.id],
        jsonb_strip_nulls(jsonb_build_object(
            'window', p_rule.time_window::text,
            'network', abbrev(warden._location_network(e.ip_address)),
            'country', e.metadata ->> 'country'
        ))
    FROM warden.security_audit_log AS e
    WHERE e.event_type = 'login_success'
        AND e.source <> 'pgwarden'
        AND e.user_id IS NOT NULL
        AND e.created_at BETWEEN p_since AND p_until
        AND (p_min_id IS NULL OR e.id > p_min_id)
        AND (p_ids IS NULL OR e.id = ANY (p_ids))
        AND warden._login_location_is_new(
            e.user_id, e.ip_address, e.metadata ->> 'country',
            e.created_at, e.id, p_rule.time_window
        )
    ORDER BY e.created_at, e.id;
END
$$;

COMMENT ON FUNCTION warden._detect_new_location(
    warden.detection_rules, timestamptz, timestamptz, bigint, bigint[]
) IS
'Private: findings of new_location_login among the new events.';

REVOKE ALL ON FUNCTION warden._detect_new_location(
    warden.detection_rules, timestamptz, timestamptz, bigint, bigint[]
) FROM PUBLIC;
