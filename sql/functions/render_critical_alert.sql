-- warden.render_critical_alert(incident_id bigint) RETURNS text
--
-- The runbook's "Critical Incident Alert" for one incident, rendered from
-- the editable template critical_alert of warden.message_templates.
--
-- SECURITY DEFINER because it reads the incident, its alerts, locks, blocks
-- and notifications through private helpers that no package role may call
-- directly; it changes nothing.
CREATE OR REPLACE FUNCTION warden.render_critical_alert(
    incident_id bigint
)
RETURNS text
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT r.body
    FROM warden._incident_render(
        'critical_alert', render_critical_alert.incident_id
    ) AS r;
$$;

COMMENT ON FUNCTION warden.render_critical_alert(bigint) IS
'The Critical Incident Alert of the runbook for one incident: time, type, '
'user, details, actions taken, investigation status, next steps, '
'reference. Raises P0002 for an unknown incident.';

REVOKE ALL ON FUNCTION warden.render_critical_alert(bigint) FROM PUBLIC;

SELECT warden._grant_execute(
    'warden.render_critical_alert(bigint)', role_name
)
FROM unnest(ARRAY['warden_admin', 'warden_analyst']::name[]) AS role_name;
