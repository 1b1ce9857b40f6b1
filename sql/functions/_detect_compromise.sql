-- warden._detect_compromise(p_rule warden.detection_rules,
--                           p_since timestamptz, p_until timestamptz,
--                           p_min_id bigint, p_ids bigint[])
-- RETURNS SETOF warden.detection_finding
--
-- compromise_with_data_access: a suspicious successful login followed by
-- customer-data access by that user within time_window. A login is
-- suspicious when a failed-login burst for that user or address ended
-- within time_window before it, when it comes from a new location (as
-- new_location_login judges it, with that rule's window), or when its
-- address was blocked at the time. One finding per suspicious login; its
-- evidence is the login and the accesses that followed it.
--
-- The logins judged are the new ones and those followed by a new access,
-- so an access stored late is judged too. A finding is reported when its
-- last access lies in [p_since, p_until].
CREATE OR REPLACE FUNCTION warden._detect_compromise(
    p_rule warden.detection_rules,
    p_since timestamptz,
    p_until timestamptz,
    p_min_id bigint,
    p_ids bigint []
)
RETURNS SETOF warden.detection_finding
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_custom_plan
AS $$
DECLARE
    v_access text [] := warden._event_types_of(
        ARRAY['data_read', 'data_export', 'data_modify']
    );
    v_location_window interval := coalesce(
        (SELECT r.time_window FROM warden.detection_rules AS r
            WHERE r.rule = 'new_location_login'),
        interval '90 days'
    );
BEGIN
    RETURN QUERY
    WITH new_ev AS MATERIALIZED (
        SELECT e.id, e.user_id, e.created_at, e.event_type
        FROM warden.security_audit_log AS e
        WHERE e.event_type = ANY (v_access || 'login_success'::text)
            AND e.source <> 'pgwarden'
            AND e.user_id IS NOT NULL
            AND e.created_at BETWEEN p_since - p_rule.time_window AND p_until
            AND (p_min_id IS NULL OR e.id > p_min_id)
            AND (p_ids IS NULL OR e.id = ANY (p_ids))
    ),
    accessed AS (
        SELECT n.user_id, min(n.created_at) AS lo, max(n.created_at) AS hi
        FROM new_ev AS n
        WHERE n.event_type <> 'login_success'
        GROUP BY n.user_id
    ),
    cand AS (
        SELECT l.id, l.user_id, l.created_at, l.ip_address, l.metadata
        FROM warden.security_audit_log AS l
        WHERE l.id IN (
            SELECT n.id FROM new_ev AS n
            WHERE n.event_type = 'login_success'
        )
            AND l.event_type = 'login_success'
            AND l.created_at BETWEEN p_since - p_rule.time_window
            AND p_until
        UNION
        SELECT l.id, l.user_id, l.created_at, l.ip_address, l.metadata
        FROM accessed AS a
        INNER JOIN warden.security_audit_log AS l
            ON l.user_id = a.user_id
            AND l.created_at BETWEEN a.lo - p_rule.time_window AND a.hi
        WHERE l.event_type = 'login_success'
            AND l.source <> 'pgwarden'
            AND l.created_at BETWEEN p_since - p_rule.time_window
            AND p_until
    ),
    judged AS (
        SELECT
            c.*,
            coalesce(
                warden._failed_login_burst_before(
                    c.user_id, c.ip_address, c.created_at,
                    p_rule.time_window
                ),
                CASE WHEN warden._login_location_is_new(
                    c.user_id, c.ip_address, c.metadata ->> 'country',
                    c.created_at, c.id, v_location_window
                ) THEN 'new_location_login' END,
                CASE WHEN warden._was_ip_blocked(c.ip_address, c.created_at)
                    THEN 'blocked_address' END
            ) AS reason
        FROM cand AS c
    )
    SELECT
        p_rule.rule,
        p_rule.severity,
        p_rule.risk_score,
        j.user_id,
        j.ip_address,
        'user:' || j.user_id,
        j.created_at,
        acc.last_t,
        acc.n + 1,
        acc.records,
        ARRAY[j.id] || acc.ids,
        jsonb_build_object(
            'window', p_rule.time_window::text,
            'login_id', j.id,
            'suspicious_because', j.reason,
            'accesses', acc.n
        )
    FROM judged AS j
    CROSS JOIN LATERAL (
        SELECT
            array_agg(a.id ORDER BY a.id) AS ids,
            count(*)::integer AS n,
            sum(a.record_count)::bigint AS records,
            max(a.created_at) AS last_t
        FROM warden.security_audit_log AS a
        WHERE a.event_type = ANY (v_access)
            AND a.source <> 'pgwarden'
            AND a.user_id = j.user_id
            AND a.created_at BETWEEN j.created_at
            AND least(j.created_at + p_rule.time_window, p_until)
    ) AS acc
    WHERE j.reason IS NOT NULL
        AND acc.n > 0
        AND acc.last_t >= p_since
    ORDER BY j.created_at, j.id;
END
$$;

COMMENT ON FUNCTION warden._detect_compromise(
    warden.detection_rules, timestamptz, timestamptz, bigint, bigint []
) IS
'Private: findings of compromise_with_data_access (a suspicious login '
'followed by customer-data access) among the new events.';

REVOKE ALL ON FUNCTION warden._detect_compromise(
    warden.detection_rules, timestamptz, timestamptz, bigint, bigint []
) FROM PUBLIC;
