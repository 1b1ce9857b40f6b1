-- warden._judge_single(p_rule warden.detection_rules,
--                      p_events warden.security_audit_log[])
-- RETURNS SETOF warden.detection_finding
--
-- The rules that judge one event at a time: bulk_export, sensitive_export,
-- privilege_escalation_attempt, role_violation and
-- unauthorized_high_value_access. Each matching event is one finding with
-- its own id as evidence; findings of one subject then extend one open
-- alert. The events come as an array: the real-time trigger passes the
-- rows of its transition table (no second read of the log), and
-- warden._detect_single the events of a range of the log.
--
-- Decisions: an export without a record count is not a bulk export but
-- can be a sensitive one; role_violation judges only users that hold an
-- application role (warden.app_user_roles) and events that name a table;
-- unauthorized_high_value_access judges every known user (no role, no
-- clearance).
--
-- plan_cache_mode = auto: it reads no partitioned table, so its plans are
-- cached even when the caller forces custom plans for its own queries.
CREATE OR REPLACE FUNCTION warden._judge_single(
    p_rule warden.detection_rules,
    p_events warden.security_audit_log[]
)
RETURNS SETOF warden.detection_finding
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = auto
AS $$
DECLARE
    v_types text [];
BEGIN
    v_types := CASE p_rule.rule
        WHEN 'bulk_export' THEN warden._event_types_of(ARRAY['data_export'])
        WHEN 'sensitive_export' THEN
            warden._event_types_of(ARRAY['data_export'])
        WHEN 'privilege_escalation_attempt' THEN
            ARRAY['privilege_escalation_attempt']
        WHEN 'role_violation' THEN warden._event_types_of(
            ARRAY['data_read', 'data_export', 'data_modify'])
        WHEN 'unauthorized_high_value_access' THEN warden._event_types_of(
            ARRAY['data_read', 'data_export', 'data_modify'])
    END;
    IF v_types IS NULL THEN
        RAISE EXCEPTION 'pgwarden: rule "%" is not a single-event rule',
            p_rule.rule
            USING ERRCODE = 'invalid_parameter_value',
                HINT = 'This is a bug in pgwarden.';
    END IF;

    RETURN QUERY
    SELECT
        p_rule.rule,
        p_rule.severity,
        p_rule.risk_score,
        e.user_id,
        e.ip_address,
        coalesce('user:' || e.user_id, 'ip:' || abbrev(e.ip_address),
            'unknown'),
        e.created_at,
        e.created_at,
        1,
        e.record_count::bigint,
        ARRAY[e.id],
        jsonb_strip_nulls(jsonb_build_object(
            'event_type', e.event_type,
            'table', e.table_name,
            'sensitivity', j.sensitivity,
            'action', j.action,
            'customer_id', e.metadata ->> 'customer_id',
            'threshold', CASE WHEN p_rule.rule IN ('bulk_export',
                'sensitive_export') THEN p_rule.threshold END
        ))
    FROM unnest(p_events) AS e
    CROSS JOIN LATERAL (
        SELECT
            warden._table_sensitivity(e.table_name) AS sensitivity,
            warden._customer_action(e.event_type, e.metadata) AS action
    ) AS j
    WHERE e.event_type = ANY (v_types)
        AND e.source <> 'pgwarden'
        AND CASE p_rule.rule
            WHEN 'bulk_export' THEN e.record_count > p_rule.threshold
            WHEN 'sensitive_export' THEN
                coalesce(e.record_count, 0) <= p_rule.threshold
                AND j.sensitivity IN ('sensitive', 'high_value')
            WHEN 'privilege_escalation_attempt' THEN true
            WHEN 'role_violation' THEN
                e.user_id IS NOT NULL
                AND e.table_name IS NOT NULL
                AND CASE WHEN EXISTS (
                    SELECT 1 FROM warden.app_user_roles AS ur
                    WHERE ur.user_id = e.user_id
                ) THEN NOT warden._role_permits(e.user_id, e.table_name,
                    j.action) ELSE false END
            WHEN 'unauthorized_high_value_access' THEN
                e.user_id IS NOT NULL
                AND (
                    j.sensitivity = 'high_value'
                    OR EXISTS (
                        SELECT 1 FROM warden.high_value_customers AS hv
                        WHERE hv.customer_id = e.metadata ->> 'customer_id'
                    )
                )
                AND NOT warden._has_high_value_clearance(e.user_id)
        END
    ORDER BY e.created_at, e.id;
END
$$;

COMMENT ON FUNCTION warden._judge_single(
    warden.detection_rules, warden.security_audit_log[]
) IS
'Private: findings of a rule that judges one event at a time (exports, '
'privilege escalation attempts, role and high-value violations) among '
'the given events.';

REVOKE ALL ON FUNCTION warden._judge_single(
    warden.detection_rules, warden.security_audit_log[]
) FROM PUBLIC;
