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
-- last access lies in [p_since, p_until]. Only logins that an access
-- followed are asked whether they were suspicious (the dear part).
--
-- The query runs through EXECUTE, so that it is planned with the actual
-- arguments (the scope conditions fold away) while the helper functions
-- it calls keep their cached plans.
CREATE OR REPLACE FUNCTION warden._detect_compromise(
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
    RETURN QUERY EXECUTE $q$
    WITH new_ev AS MATERIALIZED (
        SELECT e.id, e.user_id, e.created_at, e.event_type
        FROM warden.security_audit_log AS e
        WHERE e.event_type = ANY ($6 || 'login_success'::text)
            AND e.source <> 'pgwarden'
            AND e.user_id IS NOT NULL
            AND e.created_at BETWEEN $1 - $5 AND $2
            AND ($3::bigint IS NULL OR e.id > $3)
            AND ($4::bigint [] IS NULL OR e.id = ANY ($4))
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
            AND l.created_at BETWEEN $1 - $5 AND $2
        UNION
        SELECT l.id, l.user_id, l.created_at, l.ip_address, l.metadata
        FROM accessed AS a
        INNER JOIN warden.security_audit_log AS l
            ON l.user_id = a.user_id
            AND l.created_at BETWEEN a.lo - $5 AND a.hi
        WHERE l.event_type = 'login_success'
            AND l.source <> 'pgwarden'
            AND l.created_at BETWEEN $1 - $5 AND $2
    ),
    followed AS MATERIALIZED (
        SELECT c.*, acc.ids, acc.n, acc.records, acc.last_t
        FROM cand AS c
        CROSS JOIN LATERAL (
            SELECT
                array_agg(a.id ORDER BY a.id) AS ids,
                count(*)::integer AS n,
                sum(a.record_count)::bigint AS records,
                max(a.created_at) AS last_t
            FROM warden.security_audit_log AS a
            WHERE a.event_type = ANY ($6)
                AND a.source <> 'pgwarden'
                AND a.user_id = c.user_id
                AND a.created_at BETWEEN c.created_at
                AND least(c.created_at + $5, $2)
        ) AS acc
        WHERE acc.n > 0
            AND acc.last_t >= $1
    ),
    judged AS MATERIALIZED (
        SELECT
            f.*,
            coalesce(
                warden._failed_login_burst_before(
                    f.user_id, f.ip_address, f.created_at, $5
                ),
                CASE WHEN warden._login_location_is_new(
                    f.user_id, f.ip_address, f.metadata ->> 'country',
                    f.created_at, f.id, $7
                ) THEN 'new_location_login' END,
                CASE WHEN warden._was_ip_blocked(f.ip_address, f.created_at)
                    THEN 'blocked_address' END
            ) AS reason
        FROM followed AS f
    )
    SELECT
        $8,
        $9,
        $10,
        j.user_id,
        j.ip_address,
        'user:' || j.user_id,
        j.created_at,
        j.last_t,
        j.n + 1,
        j.records,
        ARRAY[j.id] || j.ids,
        jsonb_build_object(
            'window', $5::text,
            'login_id', j.id,
            'suspicious_because', j.reason,
            'accesses', j.n
        )
    FROM judged AS j
    WHERE j.reason IS NOT NULL
    ORDER BY j.created_at, j.id
    $q$
    USING p_since, p_until, p_min_id, p_ids, p_rule.time_window, v_access,
        v_location_window, p_rule.rule, p_rule.severity, p_rule.risk_score;
END
$$;

COMMENT ON FUNCTION warden._detect_compromise(
    warden.detection_rules, timestamptz, timestamptz, bigint, bigint[]
) IS
'Private: findings of compromise_with_data_access (a suspicious login '
'followed by customer-data access) among the new events.';

REVOKE ALL ON FUNCTION warden._detect_compromise(
    warden.detection_rules, timestamptz, timestamptz, bigint, bigint[]
) FROM PUBLIC;
