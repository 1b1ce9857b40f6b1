-- Remove the incidents area: its trigger functions, helpers and public
-- functions (the sql/ tree reloads them after the next apply), its views,
-- tables and settings. Alerts keep their rows; their incident_id is
-- cleared with the foreign key gone.

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
        ('incidents',
            (SELECT count(*) FROM warden.incidents)),
        ('timeline entries',
            (SELECT count(*) FROM warden.incident_timeline)),
        ('notifications',
            (SELECT count(*) FROM warden.notification_outbox)),
        ('dashboard profiles',
            (SELECT count(*) FROM warden.dashboard_profiles))
    ) AS v (what, n)
    WHERE v.n > 0;
    IF v_rows IS NOT NULL THEN
        RAISE EXCEPTION
            'pgwarden: rolling back the incidents area would delete %',
            v_rows
            USING ERRCODE = 'object_not_in_prerequisite_state',
                DETAIL = 'The rollback drops '
                    || 'incidents, their timelines and the notification outbox '
                    || 'with '
                    || 'their rows; applying it again starts them empty.',
                HINT = 'Back up first (pg_dump --schema=warden), then run '
                    || 'pgwarden migrate rollback --discard-data; or leave '
                    || 'this migration applied.';
    END IF;
END
$guard$;

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
