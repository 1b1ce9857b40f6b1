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
-- warden._detect_single the events of a range of the log. Any other rule
-- finds nothing.
--
-- Decisions: an export without a record count is not a bulk export but
-- can be a sensitive one; role_violation judges only users that hold an
-- application role (warden.app_user_roles) and events that name a table;
-- unauthorized_high_value_access judges every known user (no role, no
-- clearance). Sensitivity, action and permissions are those of
-- warden._table_sensitivity, warden._customer_action,
-- warden._role_permits and warden._has_high_value_clearance, written out
-- as joins so that many events are judged in one query. Table names
-- match when they are equal once a leading public. is dropped from both:
-- for an event's table t whose bare name is b, the names public.b, and
-- b itself unless b begins with public. (then b's own bare name is
-- shorter); compared as such, with no pattern matching per listed table.
--
-- A plain SQL function without SET clauses, so that PostgreSQL inlines it
-- into its callers (which pin search_path) and plans it with them: the
-- real-time trigger judges every single-event rule over a statement's
-- rows in one cached plan instead of one function call per rule.
CREATE OR REPLACE FUNCTION warden._judge_single(
    p_rule warden.detection_rules,
    p_events warden.security_audit_log[]
)
RETURNS SETOF warden.detection_finding
LANGUAGE sql
STABLE
AS $$
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
    LEFT JOIN warden.event_types AS t ON e.event_type = t.event_type
    CROSS JOIN LATERAL (
        -- OFFSET 0 keeps this a subquery, computed once per event rather
        -- than once per listed table in the lookups below.
        SELECT
            regexp_replace(e.table_name, '^public\.', '') AS bare,
            regexp_replace(e.table_name, '^public\.', '')
            !~ '^public\.' AS plain
        OFFSET 0
    ) AS b
    CROSS JOIN LATERAL (
        SELECT
            coalesce(
                (
                    SELECT s.sensitivity
                    FROM warden.table_sensitivity AS s
                    WHERE s.table_name = 'public.' || b.bare
                        OR (s.table_name = b.bare AND b.plain)
                    ORDER BY s.table_name = e.table_name DESC
                    LIMIT 1
                ),
                'normal'
            ) AS sensitivity,
            CASE t.category
                WHEN 'data_read' THEN 'read'
                WHEN 'data_export' THEN 'export'
                WHEN 'data_modify' THEN CASE
                    WHEN lower(e.metadata ->> 'operation')
                        IN ('insert', 'update', 'delete', 'truncate')
                        THEN lower(e.metadata ->> 'operation')
                    ELSE 'modify'
                END
            END AS action
    ) AS j
    WHERE e.source <> 'pgwarden'
        AND CASE p_rule.rule
            WHEN 'bulk_export' THEN
                t.category = 'data_export'
                AND e.record_count > p_rule.threshold
            WHEN 'sensitive_export' THEN
                t.category = 'data_export'
                AND coalesce(e.record_count, 0) <= p_rule.threshold
                AND j.sensitivity IN ('sensitive', 'high_value')
            WHEN 'privilege_escalation_attempt' THEN
                e.event_type = 'privilege_escalation_attempt'
            WHEN 'role_violation' THEN
                t.category IN ('data_read', 'data_export', 'data_modify')
                AND e.user_id IS NOT NULL
                AND e.table_name IS NOT NULL
                AND EXISTS (
                    SELECT 1 FROM warden.app_user_roles AS ur
                    WHERE ur.user_id = e.user_id
                )
                AND NOT EXISTS (
                    SELECT 1
                    FROM warden.app_user_roles AS ur
                    INNER JOIN warden.app_role_permissions AS p
                        ON ur.app_role = p.app_role
                    WHERE ur.user_id = e.user_id
                        AND (
                            p.table_name = '*'
                            OR p.table_name = 'public.' || b.bare
                            OR (p.table_name = b.bare AND b.plain)
                        )
                        AND (
                            p.actions && ARRAY['*', j.action]
                            OR (
                                'modify' = ANY(p.actions)
                                AND j.action IN ('insert', 'update',
                                    'delete', 'truncate', 'modify')
                            )
                        )
                )
            WHEN 'unauthorized_high_value_access' THEN
                t.category IN ('data_read', 'data_export', 'data_modify')
                AND e.user_id IS NOT NULL
                AND (
                    j.sensitivity = 'high_value'
                    OR EXISTS (
                        SELECT 1 FROM warden.high_value_customers AS hv
                        WHERE hv.customer_id = e.metadata ->> 'customer_id'
                    )
                )
                AND NOT EXISTS (
                    SELECT 1
                    FROM warden.app_user_roles AS ur
                    INNER JOIN warden.app_roles AS r
                        ON ur.app_role = r.app_role
                    WHERE ur.user_id = e.user_id
                        AND r.high_value_clearance
                )
            ELSE FALSE
        END
    ORDER BY e.created_at, e.id
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
