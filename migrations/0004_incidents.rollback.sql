-- Remove the incidents area: its trigger functions, helpers and public
-- functions (the sql/ tree reloads them after the next apply), its views,
-- tables and settings. Alerts keep their rows; their incident_id is
-- cleared with the foreign key gone.
DROP TRIGGER IF EXISTS alerts_50_open_incident ON warden.alerts;
DROP TRIGGER IF EXISTS alerts_50_update_incident ON warden.alerts;

DO $drop$
DECLARE
    v_fn regprocedure;
BEGIN
    FOR v_fn IN
        SELECT p.oid::regprocedure
        FROM pg_catalog.pg_proc AS p
        WHERE p.pronamespace = 'warden'::regnamespace
            AND p.proname IN (
                'acknowledge_incident', 'investigate_incident',
                'contain_incident', 'resolve_incident',
                'record_post_incident', 'add_incident_note',
                'incident_report', 'render_critical_alert',
                'render_user_notification', 'escalate_overdue_incidents',
                'claim_notifications', 'complete_notification',
                'user_activity_overview', 'user_timeline',
                'can_open_security_dashboard', 'tg_alerts__open_incident',
                'tg_notification_outbox__notify',
                'tg_message_templates__touch',
                'tg_dashboard_profiles__stamp', 'tg_dashboard_profiles__log'
            )
            OR p.pronamespace = 'warden'::regnamespace
            AND p.proname LIKE '\_incident\_%'
    LOOP
        EXECUTE format('DROP FUNCTION IF EXISTS %s CASCADE', v_fn);
    END LOOP;
END
$drop$;

DROP VIEW IF EXISTS warden.security_dashboard_summary;
DROP VIEW IF EXISTS warden.open_incidents;
DROP VIEW IF EXISTS warden.recent_bulk_operations;
DROP VIEW IF EXISTS warden.recent_customer_data_access;
DROP VIEW IF EXISTS warden.recent_high_risk_events;

ALTER TABLE warden.alerts DROP CONSTRAINT IF EXISTS alerts_incident_id_fkey;
UPDATE warden.alerts SET incident_id = NULL
WHERE incident_id IS NOT NULL;

DROP TABLE IF EXISTS warden.dashboard_profiles;
DROP TABLE IF EXISTS warden.message_templates;
DROP TABLE IF EXISTS warden.notification_outbox;
DROP TABLE IF EXISTS warden.incident_timeline;
DROP TABLE IF EXISTS warden.incident_transitions;
DROP TABLE IF EXISTS warden.incidents;

DELETE FROM warden.settings
WHERE name IN (
    'response_time_critical', 'response_time_high', 'response_time_medium',
    'business_time_zone', 'business_hours_end',
    'business_days', 'security_manager_email', 'security_manager_sms',
    'management_email', 'dashboard_recipient', 'notification_max_attempts',
    'notification_retry_delay', 'notification_claim_timeout'
);
