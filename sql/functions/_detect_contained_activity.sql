-- warden._detect_contained_activity(p_rule warden.detection_rules,
--                                   p_since timestamptz,
--                                   p_until timestamptz,
--                                   p_min_id bigint, p_ids bigint[])
-- RETURNS SETOF warden.detection_finding
--
-- The second half of suspicious_activity: any activity by an account that
-- was locked at the time of the event, or from an address that was
-- blocked then (warden.account_locks and warden.ip_blocks of the
-- containment area; nothing while that area is not installed). A failed
-- login is the lock or block doing its work and does not count; neither do
-- pgwarden's own events. One finding per event, subject the user when
-- known, else the address.
CREATE OR REPLACE FUNCTION warden._detect_contained_activity(
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
    v_types text [];
BEGIN
    IF to_regclass('warden.account_locks') IS NULL
        OR to_regclass('warden.ip_blocks') IS NULL THEN
        RETURN;
    END IF;
    SELECT array_agg(t.event_type)
    INTO v_types
    FROM warden.event_types AS t
    WHERE t.category IN ('authentication', 'data_read', 'data_export',
            'data_modify', 'privilege')
        AND t.event_type <> 'login_failed';

    RETURN QUERY
    SELECT
        p_rule.rule,
        p_rule.severity,
        p_rule.risk_score,
        e.user_id,
        e.ip_address,
        coalesce('user:' || e.user_id, 'ip:' || abbrev(e.ip_address)),
        e.created_at,
        e.created_at,
        1,
        e.record_count::bigint,
        ARRAY[e.id],
        jsonb_strip_nulls(jsonb_build_object(
            'event_type', e.event_type,
            'locked_account', lk.id,
            'blocked_address', bk.id
        ))
    FROM warden.security_audit_log AS e
    LEFT JOIN LATERAL (
        SELECT l.id
        FROM warden.account_locks AS l
        WHERE l.user_id = e.user_id
            AND l.locked_at <= e.created_at
            AND (l.lifted_at IS NULL OR l.lifted_at > e.created_at)
            AND (l.expires_at IS NULL OR l.expires_at > e.created_at)
        ORDER BY l.id
        LIMIT 1
    ) AS lk ON true
    LEFT JOIN LATERAL (
        SELECT b.id
        FROM warden.ip_blocks AS b
        WHERE e.ip_address <<= b.network
            AND b.blocked_at <= e.created_at
            AND (b.lifted_at IS NULL OR b.lifted_at > e.created_at)
            AND (b.expires_at IS NULL OR b.expires_at > e.created_at)
        ORDER BY b.id
        LIMIT 1
    ) AS bk ON true
    WHERE e.event_type = ANY (v_types)
        AND e.source <> 'pgwarden'
        AND e.created_at BETWEEN p_since AND p_until
        AND (p_min_id IS NULL OR e.id > p_min_id)
        AND (p_ids IS NULL OR e.id = ANY (p_ids))
        AND (e.user_id IS NOT NULL OR e.ip_address IS NOT NULL)
        AND (lk.id IS NOT NULL OR bk.id IS NOT NULL)
    ORDER BY e.created_at, e.id;
END
$$;

COMMENT ON FUNCTION warden._detect_contained_activity(
    warden.detection_rules, timestamptz, timestamptz, bigint, bigint []
) IS
'Private: suspicious_activity findings for activity by a locked account '
'or from a blocked address.';

REVOKE ALL ON FUNCTION warden._detect_contained_activity(
    warden.detection_rules, timestamptz, timestamptz, bigint, bigint []
) FROM PUBLIC;
