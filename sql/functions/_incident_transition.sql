-- warden._incident_transition(p_incident_id bigint, p_to text,
--     p_note text, p_resolution text DEFAULT NULL)
-- RETURNS warden.incidents
--
-- Moves an incident to status p_to if warden.incident_transitions allows
-- it, stamps the matching columns and writes the timeline row with the
-- caller as actor. Leaving 'open' in any direction acknowledges the
-- incident, so its deadline counts as met. Resolving closes its alerts,
-- so that a renewed attack opens a new incident.
-- Errors: no_data_found (unknown incident), object_not_in_prerequisite_state
-- (a move the current status does not allow; the hint names those it does).
CREATE OR REPLACE FUNCTION warden._incident_transition(
    p_incident_id bigint,
    p_to text,
    p_note text,
    p_resolution text DEFAULT NULL
)
RETURNS warden.incidents
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_inc warden.incidents;
    v_actor text := warden._incident_actor();
    v_allowed text[];
    v_from text;
    v_now timestamptz := now();
BEGIN
    SELECT i.* INTO v_inc
    FROM warden.incidents AS i
    WHERE i.id = p_incident_id
    FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'pgwarden: incident % does not exist', p_incident_id
            USING ERRCODE = 'no_data_found',
                HINT = 'SELECT id, reference FROM warden.open_incidents '
                    || 'lists the open ones.';
    END IF;

    SELECT array_agg(t.to_status ORDER BY t.to_status)
    INTO v_allowed
    FROM warden.incident_transitions AS t
    WHERE t.from_status = v_inc.status;
    IF NOT p_to = ANY (coalesce(v_allowed, '{}')) THEN
        RAISE EXCEPTION 'pgwarden: incident % is %, it cannot become %',
            v_inc.reference, v_inc.status, p_to
            USING ERRCODE = 'object_not_in_prerequisite_state',
                DETAIL = format('Incident %s (id %s) is %s.',
                    v_inc.reference, v_inc.id, v_inc.status),
                HINT = CASE
                    WHEN v_allowed IS NULL THEN format(
                        'A %s incident is closed; no move is allowed.',
                        v_inc.status)
                    ELSE 'Allowed next states: '
                        || array_to_string(v_allowed, ', ') || '.'
                END;
    END IF;

    v_from := v_inc.status;
    UPDATE warden.incidents AS i
    SET status = p_to,
        acknowledged_at = coalesce(i.acknowledged_at, v_now),
        acknowledged_by = coalesce(i.acknowledged_by, v_actor),
        contained_at = CASE
            WHEN p_to = 'contained' THEN v_now
            ELSE i.contained_at
        END,
        resolved_at = CASE
            WHEN p_to IN ('resolved', 'false_positive') THEN v_now
        END,
        resolved_by = CASE
            WHEN p_to IN ('resolved', 'false_positive') THEN v_actor
        END,
        resolution = coalesce(p_resolution, i.resolution),
        updated_at = v_now
    WHERE i.id = v_inc.id
    RETURNING i.* INTO v_inc;

    PERFORM warden._incident_record(
        v_inc.id, p_to, v_actor, p_note, '{}', v_from, p_to
    );

    IF p_to IN ('resolved', 'false_positive') THEN
        UPDATE warden.alerts AS a
        SET status = 'closed'
        WHERE a.incident_id = v_inc.id
            AND a.status = 'open';
    END IF;
    RETURN v_inc;
END
$$;

COMMENT ON FUNCTION warden._incident_transition(bigint, text, text, text)
IS
'Private: validate and perform one lifecycle move of an incident, with its '
'timeline row.';

REVOKE ALL ON FUNCTION warden._incident_transition(bigint, text, text, text)
FROM PUBLIC;
