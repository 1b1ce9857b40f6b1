-- warden.investigate_incident(incident_id bigint, note text DEFAULT NULL)
-- RETURNS warden.incidents
--
-- Marks an incident as under investigation.
-- Writes the timeline with the caller as actor; refuses a move the
-- incident's status does not allow (SQLSTATE 55000, the hint names the
-- allowed next states) and an unknown incident (P0002).
--
-- SECURITY DEFINER because security managers (warden_admin) change
-- incidents only through these functions, never by UPDATE, so that every
-- change is on the timeline.
CREATE OR REPLACE FUNCTION warden.investigate_incident(
    incident_id bigint,
    note text DEFAULT NULL
)
RETURNS warden.incidents
LANGUAGE sql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT *
    FROM warden._incident_transition(
        investigate_incident.incident_id,
        'investigating',
        investigate_incident.note
    );
$$;

COMMENT ON FUNCTION warden.investigate_incident(bigint, text) IS
'Mark an incident as under investigation; '
'writes the timeline. Refuses a move the status does not allow (55000).';

REVOKE ALL ON FUNCTION warden.investigate_incident(bigint, text) FROM PUBLIC;

SELECT warden._grant_execute(
    'warden.investigate_incident(bigint, text)', 'warden_admin'
);
