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
        v_rules := v_rules || ARRAY['failed_login_burst_user',
            'failed_login_burst_ip', 'credential_stuffing'];
    END IF;
    IF v_escalation THEN
        v_rules := v_rules || ARRAY['privilege_escalation_burst',
            'privilege_escalation_attempt'];
    END IF;
    IF v_data THEN
        v_rules := v_rules || ARRAY['bulk_export', 'sensitive_export',
            'role_violation', 'unauthorized_high_value_access'];
    END IF;
    IF cardinality(v_rules) = 0 THEN
        RETURN NULL;
    END IF;

    FOR v_finding IN
        SELECT *
        FROM warden._detect(
            NULL, '-infinity', 'infinity', NULL, v_ids, true, v_rules
        )
    LOOP
        PERFORM warden._save_finding(v_finding);
    END LOOP;
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION warden.tg_security_audit_log__realtime_rules() IS
'Trigger: run the real-time rules over the events of an insert statement '
'and raise or extend their alerts at once.';

REVOKE ALL ON FUNCTION warden.tg_security_audit_log__realtime_rules()
FROM PUBLIC;
