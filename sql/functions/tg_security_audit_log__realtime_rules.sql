-- warden.tg_security_audit_log__realtime_rules() RETURNS trigger
--
-- AFTER INSERT, once per statement (a COPY of many events is judged
-- once): runs the real-time rules (realtime in warden.detection_rules:
-- failed-login bursts, credential stuffing, bulk and sensitive exports,
-- role and high-value violations, privilege escalation) over the new
-- events, inside the transaction that stores them, so that a lock takes
-- effect before the next attempt is stored. Only the rules whose events
-- are among the new rows run. Findings go through warden._save_finding
-- like those of the scheduled run, so both meet in one alert.
--
-- SECURITY DEFINER because the reporting role (warden_app through
-- log_event, or an importer's COPY) may not write alerts or containment.
CREATE OR REPLACE FUNCTION warden.tg_security_audit_log__realtime_rules()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_ids bigint [];
    v_rules text [] := '{}';
    v_login boolean;
    v_escalation boolean;
    v_data boolean;
    v_rule warden.detection_rules;
    v_hit boolean;
    v_users text [];
    v_addresses inet [];
    v_times timestamptz [];
    v_user_window interval;
    v_address_window interval;
    v_user_peak bigint := 0;
    v_address_peak bigint := 0;
    v_address_users bigint := 0;
    v_rows warden.security_audit_log [];
    v_finding warden.detection_finding;
BEGIN
    SELECT
        array_agg(n.id),
        bool_or(n.event_type = 'login_failed'),
        bool_or(n.event_type = 'privilege_escalation_attempt'),
        bool_or(t.category IN ('data_read', 'data_export', 'data_modify'))
    INTO v_ids, v_login, v_escalation, v_data
    FROM new_rows AS n
    INNER JOIN warden.event_types AS t ON n.event_type = t.event_type
    WHERE n.source <> 'pgwarden';
    IF v_ids IS NULL THEN
        RETURN NULL;
    END IF;
    IF v_login THEN
        -- Copied out of the transition table first: one plan for the
        -- counts below, which read the log by user and by address.
        SELECT
            array_agg(left(coalesce(n.user_id,
                nullif(btrim(n.metadata ->> 'attempted_user'), '')), 256)),
            array_agg(warden._address_subject(n.ip_address)),
            array_agg(n.created_at)
        INTO v_users, v_addresses, v_times
        FROM new_rows AS n
        WHERE n.event_type = 'login_failed'
            AND n.source <> 'pgwarden';
        SELECT
            max(r.time_window) FILTER (
                WHERE r.rule = 'failed_login_burst_user'),
            max(r.time_window) FILTER (
                WHERE r.rule IN ('failed_login_burst_ip',
                    'credential_stuffing'))
        INTO v_user_window, v_address_window
        FROM warden.detection_rules AS r
        WHERE r.enabled
            AND r.realtime;
        SELECT max(cu.n), max(ca.n), max(ca.users)
        INTO v_user_peak, v_address_peak, v_address_users
        FROM unnest(v_users, v_addresses, v_times) AS n (u, a, t)
        CROSS JOIN LATERAL (
            SELECT count(*) AS n
            FROM warden.security_audit_log AS e
            WHERE e.event_type = 'login_failed'
                AND left(coalesce(e.user_id,
                    nullif(btrim(e.metadata ->> 'attempted_user'), '')), 256)
                = n.u
                AND e.created_at BETWEEN n.t - v_user_window
                AND n.t + v_user_window
        ) AS cu
        CROSS JOIN LATERAL (
            SELECT
                count(*) AS n,
                count(DISTINCT left(coalesce(e.user_id,
                    nullif(btrim(e.metadata ->> 'attempted_user'), '')), 256))
                    AS users
            FROM warden.security_audit_log AS e
            WHERE e.event_type = 'login_failed'
                AND (CASE WHEN family(e.ip_address) = 6
                    THEN network(set_masklen(e.ip_address, 64))
                    ELSE e.ip_address END)
                = n.a
                AND e.created_at BETWEEN n.t - v_address_window
                AND n.t + v_address_window
        ) AS ca;
    END IF;

    -- Cheap pre-checks keep the common insert fast: a rule runs only when
    -- it could hit. For the window rules, a subject of a new event needs
    -- more events than the threshold within one window either side of it
    -- (the peaks above); that over-counts, never under-counts, so no hit
    -- is missed.
    FOR v_rule IN
        SELECT r.*
        FROM warden.detection_rules AS r
        WHERE r.enabled
            AND r.realtime
    LOOP
        v_hit := false;
        CASE
            WHEN v_rule.rule = 'failed_login_burst_user' THEN
                v_hit := v_user_peak > v_rule.threshold;
            WHEN v_rule.rule = 'failed_login_burst_ip' THEN
                v_hit := v_address_peak > v_rule.threshold;
            WHEN v_rule.rule = 'credential_stuffing' THEN
                v_hit := v_address_users >= v_rule.threshold;
            WHEN v_rule.rule = 'privilege_escalation_burst'
                AND v_escalation THEN
                SELECT bool_or(c.n >= v_rule.threshold) INTO v_hit
                FROM new_rows AS n
                CROSS JOIN LATERAL (
                    SELECT count(*) AS n
                    FROM warden.security_audit_log AS e
                    WHERE e.event_type = 'privilege_escalation_attempt'
                        AND e.user_id = n.user_id
                        AND e.created_at
                        BETWEEN n.created_at - v_rule.time_window
                        AND n.created_at + v_rule.time_window
                ) AS c
                WHERE n.event_type = 'privilege_escalation_attempt'
                    AND n.source <> 'pgwarden';
            WHEN v_rule.rule = 'privilege_escalation_attempt' THEN
                v_hit := v_escalation;
            WHEN v_rule.rule = 'bulk_export' AND v_data THEN
                v_hit := EXISTS (
                    SELECT 1 FROM new_rows AS n
                    WHERE n.record_count > v_rule.threshold
                );
            WHEN v_rule.rule = 'sensitive_export' AND v_data THEN
                v_hit := EXISTS (
                    SELECT 1 FROM new_rows AS n
                    WHERE n.table_name IS NOT NULL
                ) AND EXISTS (
                    SELECT 1 FROM warden.table_sensitivity AS s
                    WHERE s.sensitivity <> 'normal'
                );
            WHEN v_rule.rule = 'role_violation' AND v_data THEN
                v_hit := EXISTS (
                    SELECT 1
                    FROM new_rows AS n
                    INNER JOIN warden.app_user_roles AS ur
                        ON n.user_id = ur.user_id
                    WHERE n.table_name IS NOT NULL
                );
            WHEN v_rule.rule = 'unauthorized_high_value_access'
                AND v_data THEN
                v_hit := EXISTS (
                    SELECT 1 FROM warden.table_sensitivity AS s
                    WHERE s.sensitivity = 'high_value'
                ) OR EXISTS (
                    SELECT 1
                    FROM new_rows AS n
                    INNER JOIN warden.high_value_customers AS hv
                        ON n.metadata ->> 'customer_id' = hv.customer_id
                );
            ELSE
                v_hit := false;
        END CASE;
        IF v_hit THEN
            v_rules := v_rules || v_rule.rule;
        END IF;
    END LOOP;
    IF cardinality(v_rules) = 0 THEN
        RETURN NULL;
    END IF;

    -- The single-event rules judge the statement's rows as they are; the
    -- window rules read the log around them.
    v_rows := ARRAY(
        SELECT n FROM new_rows AS n WHERE n.source <> 'pgwarden'
    );
    FOR v_rule IN
        SELECT r.*
        FROM warden.detection_rules AS r
        WHERE r.rule = ANY (v_rules)
        ORDER BY r.rule
    LOOP
        FOR v_finding IN
            SELECT *
            FROM warden._judge_single(v_rule, v_rows)
            WHERE v_rule.rule IN ('bulk_export', 'sensitive_export',
                'privilege_escalation_attempt', 'role_violation',
                'unauthorized_high_value_access')
            UNION ALL
            SELECT *
            FROM warden._detect_windowed(
                v_rule, '-infinity', 'infinity', NULL, v_ids
            )
            WHERE v_rule.rule IN ('failed_login_burst_user',
                'failed_login_burst_ip', 'credential_stuffing',
                'privilege_escalation_burst')
        LOOP
            PERFORM warden._save_finding(v_finding);
        END LOOP;
    END LOOP;
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION warden.tg_security_audit_log__realtime_rules() IS
'Trigger: run the real-time rules over the events of an insert statement '
'and raise or extend their alerts at once.';

REVOKE ALL ON FUNCTION warden.tg_security_audit_log__realtime_rules()
FROM PUBLIC;
