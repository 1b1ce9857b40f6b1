-- warden.resolve_incident(incident_id bigint, resolution text,
--     false_positive boolean DEFAULT false) RETURNS warden.incidents
--
-- Closes an incident as resolved, or as a false positive. A false positive
-- lifts every lock and block its alerts caused (through
-- warden.lift_alert_containment) and records on the timeline what was
-- lifted. Either way its alerts are closed. Refuses a closed incident
-- (55000) and an unknown one (P0002); a resolution text is required (22023).
--
-- SECURITY DEFINER because security managers (warden_admin) change
-- incidents only through these functions, so every change is on the
-- timeline, and lifting containment needs the containment tables.
CREATE OR REPLACE FUNCTION warden.resolve_incident(
    incident_id bigint,
    resolution text,
    false_positive boolean DEFAULT FALSE
)
RETURNS warden.incidents
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_to text := CASE
        WHEN resolve_incident.false_positive THEN 'false_positive'
        ELSE 'resolved'
    END;
    v_inc warden.incidents;
    v_alert_ids bigint[];
    v_alert_id bigint;
    v_lifted integer;
    v_total integer := 0;
    v_per_alert jsonb := '{}';
BEGIN
    IF nullif(btrim(resolve_incident.resolution), '') IS NULL THEN
        RAISE EXCEPTION 'pgwarden: resolving incident % needs a resolution',
            resolve_incident.incident_id
            USING ERRCODE = 'invalid_parameter_value',
                HINT = 'Say in resolution how the incident ended, such as '
                    || '''verified with the user: planned export''.';
    END IF;

    -- Collect the alerts before the move closes them.
    SELECT array_agg(a.id ORDER BY a.id)
    INTO v_alert_ids
    FROM warden.alerts AS a
    WHERE a.incident_id = resolve_incident.incident_id;

    v_inc := warden._incident_transition(
        resolve_incident.incident_id, v_to, resolve_incident.resolution,
        resolve_incident.resolution
    );

    IF resolve_incident.false_positive THEN
        FOREACH v_alert_id IN ARRAY coalesce(v_alert_ids, '{}') LOOP
            v_lifted := warden.lift_alert_containment(
                v_alert_id,
                format('Incident %s was a false positive: %s',
                    v_inc.reference, resolve_incident.resolution)
            );
            v_total := v_total + coalesce(v_lifted, 0);
            v_per_alert := v_per_alert
                || jsonb_build_object(v_alert_id::text, v_lifted);
        END LOOP;
        PERFORM warden._incident_record(
            v_inc.id, 'containment_lifted', warden._incident_actor(),
            format('False positive: %s lock%s and block%s lifted.',
                v_total, CASE WHEN v_total = 1 THEN '' ELSE 's' END,
                CASE WHEN v_total = 1 THEN '' ELSE 's' END),
            jsonb_build_object('lifted', v_total, 'by_alert', v_per_alert)
        );
    END IF;
    RETURN v_inc;
END
$$;

COMMENT ON FUNCTION warden.resolve_incident(bigint, text, boolean) IS
'Resolve an incident, or with false_positive => true mark it a false '
'positive and lift the locks and blocks its alerts caused; writes the '
'timeline. Refuses a closed incident (55000).';

REVOKE ALL ON FUNCTION warden.resolve_incident(bigint, text, boolean)
FROM PUBLIC;

SELECT warden._grant_execute(
    'warden.resolve_incident(bigint, text, boolean)', 'warden_admin'
);
