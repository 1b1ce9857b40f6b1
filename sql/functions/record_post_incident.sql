-- warden.record_post_incident(incident_id bigint,
--     root_cause text DEFAULT NULL, lessons_learned text DEFAULT NULL,
--     records_exposed bigint DEFAULT NULL) RETURNS warden.incidents
--
-- Records the post-incident review: root cause, lessons learned and the
-- number of customer records exposed. Arguments left NULL keep the stored
-- value. Writes the timeline. Refuses a negative count (22023) and an
-- unknown incident (P0002).
--
-- SECURITY DEFINER because security managers (warden_admin) change
-- incidents only through these functions, so every change is on the
-- timeline.
CREATE OR REPLACE FUNCTION warden.record_post_incident(
    incident_id bigint,
    root_cause text DEFAULT NULL,
    lessons_learned text DEFAULT NULL,
    records_exposed bigint DEFAULT NULL
)
RETURNS warden.incidents
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_inc warden.incidents;
BEGIN
    IF record_post_incident.records_exposed < 0 THEN
        RAISE EXCEPTION 'pgwarden: records_exposed % is negative',
            record_post_incident.records_exposed
            USING ERRCODE = 'invalid_parameter_value',
                HINT = 'Give the number of customer records exposed, 0 or '
                    || 'more.';
    END IF;
    UPDATE warden.incidents AS i
    SET root_cause = coalesce(record_post_incident.root_cause,
            i.root_cause),
        lessons_learned = coalesce(record_post_incident.lessons_learned,
            i.lessons_learned),
        records_exposed = coalesce(record_post_incident.records_exposed,
            i.records_exposed),
        updated_at = now()
    WHERE i.id = record_post_incident.incident_id
    RETURNING i.* INTO v_inc;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'pgwarden: incident % does not exist',
            record_post_incident.incident_id
            USING ERRCODE = 'no_data_found',
                HINT = 'SELECT id, reference FROM warden.incidents lists '
                    || 'them.';
    END IF;
    PERFORM warden._incident_record(
        v_inc.id, 'post_incident', warden._incident_actor(),
        'Post-incident review recorded.',
        jsonb_strip_nulls(jsonb_build_object(
            'root_cause', record_post_incident.root_cause,
            'lessons_learned', record_post_incident.lessons_learned,
            'records_exposed', record_post_incident.records_exposed
        ))
    );
    RETURN v_inc;
END
$$;

COMMENT ON FUNCTION warden.record_post_incident(bigint, text, text, bigint)
IS
'Record the post-incident review of an incident (root cause, lessons '
'learned, records exposed; NULL keeps the stored value); writes the '
'timeline.';

REVOKE ALL ON FUNCTION warden.record_post_incident(bigint, text, text, bigint)
FROM PUBLIC;

SELECT warden._grant_execute(
    'warden.record_post_incident(bigint, text, text, bigint)', 'warden_admin'
);
