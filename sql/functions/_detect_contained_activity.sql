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
    p_ids bigint[]
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

    -- Driven from the locks and blocks (few) rather than from the events
    -- (many): each lock or block reads the events of its time span only.
    RETURN QUERY
    WITH hits AS (
        SELECT e.id, e.user_id, e.ip_address, e.created_at, e.event_type,
            e.record_count, l.id AS lock_id, NULL::bigint AS block_id
        FROM warden.account_locks AS l
        INNER JOIN warden.security_audit_log AS e
            ON e.user_id = l.user_id
            AND e.created_at >= l.locked_at
            AND e.created_at < least(
                coalesce(l.lifted_at, 'infinity'),
                coalesce(l.expires_at, 'infinity')
            )
        WHERE e.event_type = ANY (v_types)
            AND e.source <> 'pgwarden'
            AND e.created_at BETWEEN p_since AND p_until
            AND (p_min_id IS NULL OR e.id > p_min_id)
            AND (p_ids IS NULL OR e.id = ANY (p_ids))
        UNION ALL
        SELECT e.id, e.user_id, e.ip_address, e.created_at, e.event_type,
            e.record_count, NULL, b.id
        FROM warden.ip_blocks AS b
        INNER JOIN warden.security_audit_log AS e
            ON e.ip_address <<= b.network
            AND e.created_at >= b.blocked_at
            AND e.created_at < least(
                coalesce(b.lifted_at, 'infinity'),
                coalesce(b.expires_at, 'infinity')
            )
        WHERE e.event_type = ANY (v_types)
            AND e.source <> 'pgwarden'
            AND e.created_at BETWEEN p_since AND p_until
            AND (p_min_id IS NULL OR e.id > p_min_id)
            AND (p_ids IS NULL OR e.id = ANY (p_ids))
    )
    SELECT
        p_rule.rule,
        p_rule.severity,
        p_rule.risk_score,
        h.user_id,
        h.ip_address,
        coalesce('user:' || h.user_id, 'ip:' || abbrev(h.ip_address)),
        h.created_at,
        h.created_at,
        1,
        h.record_count::bigint,
        ARRAY[h.id],
        jsonb_strip_nulls(jsonb_build_object(
            'event_type', h.event_type,
            'locked_account', min(h.lock_id),
            'blocked_address', min(h.block_id)
        ))
    FROM hits AS h
    GROUP BY h.id, h.user_id, h.ip_address, h.created_at, h.event_type,
        h.record_count
    ORDER BY h.created_at, h.id;
END
$$;

COMMENT ON FUNCTION warden._detect_contained_activity(
    warden.detection_rules, timestamptz, timestamptz, bigint, bigint[]
) IS
'Private: suspicious_activity findings for activity by a locked account '
'or from a blocked address.';

REVOKE ALL ON FUNCTION warden._detect_contained_activity(
    warden.detection_rules, timestamptz, timestamptz, bigint, bigint[]
) FROM PUBLIC;
