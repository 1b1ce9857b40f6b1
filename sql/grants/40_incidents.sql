-- Privileges on incidents, their timeline, the outbox, the templates, the
-- dashboard profiles and the investigation views. Re-run on every install.
-- Analysts and security managers read everything here; incidents, the
-- timeline and the outbox change only through the package's functions, so
-- that every change is on the timeline. Security managers edit the
-- templates and approve dashboard profiles directly. warden_app reads
-- nothing here.

SELECT warden._grant_table('{SELECT}', t.tbl::regclass, r.role_name)
FROM unnest(ARRAY[
    'warden.incidents',
    'warden.incident_transitions',
    'warden.incident_timeline',
    'warden.notification_outbox',
    'warden.message_templates',
    'warden.dashboard_profiles',
    'warden.recent_high_risk_events',
    'warden.recent_customer_data_access',
    'warden.recent_bulk_operations',
    'warden.open_incidents',
    'warden.security_dashboard_summary'
]) AS t (tbl)
CROSS JOIN unnest(ARRAY['warden_analyst', 'warden_admin']::name[]) AS r (
    role_name
);

SELECT warden._grant_table(
    '{UPDATE}', 'warden.message_templates', 'warden_admin'
);

SELECT warden._grant_table(
    '{INSERT, UPDATE, DELETE}', 'warden.dashboard_profiles', 'warden_admin'
);
