-- warden.render_user_notification(incident_id bigint) RETURNS text
--
-- The runbook's "User Notification" for the user of one incident, rendered
-- from the editable template user_notification, starting with its
-- "Subject:" line as the runbook writes it.
--
-- SECURITY DEFINER because it reads the incident, its alerts, locks, blocks
-- and notifications through private helpers that no package role may call
-- directly; it changes nothing.
CREATE OR REPLACE FUNCTION warden.render_user_notification(
    incident_id bigint
)
RETURNS text
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT 'Subject: ' || r.subject || E'\n\n' || r.body
    FROM warden._incident_render(
        'user_notification', render_user_notification.incident_id
    ) AS r;
$$;

COMMENT ON FUNCTION warden.render_user_notification(bigint) IS
'The User Notification of the runbook for the user of one incident, '
'beginning with its Subject line. Raises P0002 for an unknown incident.';

REVOKE ALL ON FUNCTION warden.render_user_notification(bigint) FROM PUBLIC;

SELECT warden._grant_execute(
    'warden.render_user_notification(bigint)', role_name
)
FROM unnest(ARRAY['warden_admin', 'warden_analyst']::name[]) AS role_name;
