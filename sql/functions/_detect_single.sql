-- warden._detect_single(p_rule warden.detection_rules,
--                       p_since timestamptz, p_until timestamptz,
--                       p_min_id bigint, p_ids bigint[])
-- RETURNS SETOF warden.detection_finding
--
-- The single-event rules (see warden._judge_single) over the new events of
-- the log, chosen as in warden._detect_windowed.
--
-- plan_cache_mode = force_custom_plan: the scope conditions
-- (p_min_id IS NULL OR ...) must fold away at planning, so that the log's
-- indexes are used whatever the arguments; the rule itself runs in
-- warden._judge_single, whose own plans stay cached.
CREATE OR REPLACE FUNCTION warden._detect_single(
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
    v_types text [] := CASE
        WHEN p_rule.rule = 'privilege_escalation_attempt'
            THEN ARRAY['privilege_escalation_attempt']
        WHEN p_rule.rule IN ('bulk_export', 'sensitive_export')
            THEN warden._event_types_of(ARRAY['data_export'])
        ELSE warden._event_types_of(
            ARRAY['data_read', 'data_export', 'data_modify'])
    END;
    v_events warden.security_audit_log [];
BEGIN
    -- Rules whose data model is empty cannot hit: skip reading the log.
    IF (p_rule.rule = 'role_violation'
            AND NOT EXISTS (SELECT 1 FROM warden.app_user_roles))
        OR (p_rule.rule = 'unauthorized_high_value_access'
            AND NOT EXISTS (
                SELECT 1 FROM warden.table_sensitivity AS s
                WHERE s.sensitivity = 'high_value'
            )
            AND NOT EXISTS (SELECT 1 FROM warden.high_value_customers))
        OR (p_rule.rule = 'sensitive_export'
            AND NOT EXISTS (
                SELECT 1 FROM warden.table_sensitivity AS s
                WHERE s.sensitivity <> 'normal'
            )) THEN
        RETURN;
    END IF;
    v_events := ARRAY(
        SELECT e
        FROM warden.security_audit_log AS e
        WHERE e.event_type = ANY (v_types)
            AND e.source <> 'pgwarden'
            AND e.created_at BETWEEN p_since AND p_until
            AND (p_min_id IS NULL OR e.id > p_min_id)
            AND (p_ids IS NULL OR e.id = ANY (p_ids))
            AND (p_rule.rule <> 'bulk_export'
                OR e.record_count > p_rule.threshold)
    );
    RETURN QUERY
    SELECT * FROM warden._judge_single(p_rule, v_events);
END
$$;

COMMENT ON FUNCTION warden._detect_single(
    warden.detection_rules, timestamptz, timestamptz, bigint, bigint[]
) IS
'Private: findings of a single-event rule among the new events of the '
'log.';

REVOKE ALL ON FUNCTION warden._detect_single(
    warden.detection_rules, timestamptz, timestamptz, bigint, bigint[]
) FROM PUBLIC;
