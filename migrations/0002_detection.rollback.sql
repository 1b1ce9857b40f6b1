-- Remove the detection area: the real-time trigger on the event log, the
-- functions of the detection area (they are reloaded by the next apply),
-- its tables and type, and the partial indexes of the event log it added.

-- Refuse to delete what users stored unless the DBA said so: `pgwarden
-- migrate rollback --discard-data` (and removing pgwarden entirely) sets
-- pgwarden.discard_data. Applying the migration again does not bring the
-- rows back. Written out here rather than shared through a function: the
-- script may run against functions of an older release.
DO $guard$
DECLARE
    v_rows text;
BEGIN
    IF current_setting('pgwarden.discard_data', TRUE) = 'on' THEN
        RETURN;
    END IF;
    SELECT string_agg(format('%s %s', v.n, v.what), ', ')
    INTO v_rows
    FROM (VALUES
        ('alerts',
            (SELECT count(*) FROM warden.alerts)),
        ('application roles',
            (SELECT count(*) FROM warden.app_roles)),
        ('user role assignments',
            (SELECT count(*) FROM warden.app_user_roles)),
        ('role permissions',
            (SELECT count(*) FROM warden.app_role_permissions)),
        ('table sensitivities',
            (SELECT count(*) FROM warden.table_sensitivity)),
        ('high-value customers',
            (SELECT count(*) FROM warden.high_value_customers))
    ) AS v (what, n)
    WHERE v.n > 0;
    IF v_rows IS NOT NULL THEN
        RAISE EXCEPTION
            'pgwarden: rolling back the detection area would delete %',
            v_rows
            USING ERRCODE = 'object_not_in_prerequisite_state',
                DETAIL = 'The rollback drops '
                    || 'the alerts and the access model with '
                    || 'their rows; applying it again starts them empty.',
                HINT = 'Back up first (pg_dump --schema=warden), then run '
                    || 'pgwarden migrate rollback --discard-data; or leave '
                    || 'this migration applied.';
    END IF;
END
$guard$;

DROP TRIGGER IF EXISTS security_audit_log_30_realtime_rules
ON warden.security_audit_log;
DROP TRIGGER IF EXISTS security_audit_log_05_assign_xid
ON warden.security_audit_log;

DO $drop$
DECLARE
    v_fn regprocedure;
BEGIN
    FOR v_fn IN
        SELECT p.oid::regprocedure
        FROM pg_catalog.pg_proc AS p
        WHERE p.pronamespace = 'warden'::regnamespace
            AND p.proname IN (
                'check_customer_data_access_alerts',
                'detect_customer_data_theft_attempts',
                'monitor_unauthorized_customer_access',
                'tg_security_audit_log__realtime_rules',
                'tg_security_audit_log__assign_xid',
                '_address_subject', '_location_network', '_event_types_of',
                '_table_sensitivity', '_merge_ids', '_customer_action',
                '_role_permits', '_has_high_value_clearance',
                '_login_location_is_new', '_was_ip_blocked',
                '_failed_login_burst_before', '_detect', '_detect_windowed',
                '_detect_single', '_judge_single', '_detect_new_location',
                '_detect_compromise', '_detect_unusual_access',
                '_detect_contained_activity', '_respond_to_alert',
                '_save_finding', '_alerts_reached_late', '_revise_alerts'
            )
    LOOP
        -- A function may already be gone with one it depended on.
        CONTINUE WHEN NOT EXISTS (
            SELECT 1 FROM pg_catalog.pg_proc AS p WHERE p.oid = v_fn
        );
        EXECUTE format('DROP FUNCTION %s CASCADE', v_fn);
    END LOOP;
END
$drop$;

DROP INDEX IF EXISTS warden.security_audit_log_failed_user_idx;
DROP INDEX IF EXISTS warden.security_audit_log_failed_ip_idx;
DROP INDEX IF EXISTS warden.security_audit_log_login_user_idx;
DROP INDEX IF EXISTS warden.security_audit_log_escalation_user_idx;
DROP INDEX IF EXISTS warden.security_audit_log_customer_user_idx;
DROP INDEX IF EXISTS warden.security_audit_log_export_user_idx;
DROP TABLE IF EXISTS warden.high_value_customers;
DROP TABLE IF EXISTS warden.app_role_permissions;
DROP TABLE IF EXISTS warden.app_user_roles;
DROP TABLE IF EXISTS warden.app_roles;
DROP TABLE IF EXISTS warden.table_sensitivity;
DROP TABLE IF EXISTS warden.detection_state;
DROP TYPE IF EXISTS warden.detection_finding CASCADE;
DROP TABLE IF EXISTS warden.alerts CASCADE;
