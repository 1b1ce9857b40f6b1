-- warden._incident_record(p_incident_id bigint, p_action text,
--     p_actor text, p_note text DEFAULT NULL, p_details jsonb DEFAULT '{}',
--     p_from_status text DEFAULT NULL, p_to_status text DEFAULT NULL)
-- RETURNS bigint
--
-- Writes one row of the incident timeline and returns its id.
CREATE OR REPLACE FUNCTION warden._incident_record(
    p_incident_id bigint,
    p_action text,
    p_actor text,
    p_note text DEFAULT NULL,
    p_details jsonb DEFAULT '{}',
    p_from_status text DEFAULT NULL,
    p_to_status text DEFAULT NULL
)
RETURNS bigint
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    INSERT INTO warden.incident_timeline (
        incident_id, action, actor, note, details, from_status, to_status
    )
    VALUES (
        p_incident_id, p_action, p_actor, p_note,
        coalesce(p_details, '{}'), p_from_status, p_to_status
    )
    RETURNING id;
$$;

COMMENT ON FUNCTION warden._incident_record(
    bigint, text, text, text, jsonb, text, text
) IS
'Private: write one row of the incident timeline.';

REVOKE ALL ON FUNCTION warden._incident_record(
    bigint, text, text, text, jsonb, text, text
) FROM PUBLIC;
