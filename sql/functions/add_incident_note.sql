-- warden.add_incident_note(incident_id bigint, note text) RETURNS bigint
--
-- Adds a note (a finding, a call with the user, evidence gathered) to the
-- timeline of an incident, with the caller as actor; returns the entry id.
-- Refuses an empty note (22023) and an unknown incident (P0002).
--
-- SECURITY DEFINER because the timeline is written only through the
-- package's functions, never directly.
CREATE OR REPLACE FUNCTION warden.add_incident_note(
    incident_id bigint,
    note text
)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF nullif(btrim(add_incident_note.note), '') IS NULL THEN
        RAISE EXCEPTION 'pgwarden: the note for incident % is empty',
            add_incident_note.incident_id
            USING ERRCODE = 'invalid_parameter_value',
                HINT = 'Write what was found or done.';
    END IF;
    IF NOT EXISTS (
        SELECT 1
        FROM warden.incidents AS i
        WHERE i.id = add_incident_note.incident_id
    ) THEN
        RAISE EXCEPTION 'pgwarden: incident % does not exist',
            add_incident_note.incident_id
            USING ERRCODE = 'no_data_found',
                HINT = 'SELECT id, reference FROM warden.incidents lists '
                    || 'them.';
    END IF;
    RETURN warden._incident_record(
        add_incident_note.incident_id, 'note', warden._incident_actor(),
        add_incident_note.note
    );
END
$$;

COMMENT ON FUNCTION warden.add_incident_note(bigint, text) IS
'Add a note to the timeline of an incident; returns the entry id.';

REVOKE ALL ON FUNCTION warden.add_incident_note(bigint, text) FROM PUBLIC;

SELECT warden._grant_execute(
    'warden.add_incident_note(bigint, text)', 'warden_admin'
);
