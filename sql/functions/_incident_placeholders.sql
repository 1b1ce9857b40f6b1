-- warden._incident_placeholders(p_incident_id bigint) RETURNS jsonb
--
-- The values of the template placeholders for one incident, keyed by the
-- placeholder as written in warden.message_templates ([TIMESTAMP], ...).
-- Raises no_data_found when the incident does not exist.
CREATE OR REPLACE FUNCTION warden._incident_placeholders(
    p_incident_id bigint
)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_inc warden.incidents;
    v_alerts integer;
    v_events bigint;
    v_records bigint;
    v_actions text[];
    v_restricted boolean;
    v_lifted boolean;
    v_security_action text;
    v_next text;
BEGIN
    SELECT i.* INTO v_inc
    FROM warden.incidents AS i
    WHERE i.id = p_incident_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'pgwarden: incident % does not exist', p_incident_id
            USING ERRCODE = 'no_data_found',
                HINT = 'SELECT id, reference FROM warden.open_incidents '
                    || 'lists the open ones.';
    END IF;

    SELECT count(*), sum(a.event_count), sum(a.record_count)
    INTO v_alerts, v_events, v_records
    FROM warden.alerts AS a
    WHERE a.incident_id = p_incident_id;

    SELECT
        bool_or(l.lifted_at IS NULL),
        bool_or(l.lifted_at IS NOT NULL)
    INTO v_restricted, v_lifted
    FROM (
        SELECT k.lifted_at
        FROM warden.account_locks AS k
        JOIN warden.alerts AS a ON a.id = k.alert_id
        WHERE a.incident_id = p_incident_id
        UNION ALL
        SELECT b.lifted_at
        FROM warden.ip_blocks AS b
        JOIN warden.alerts AS a ON a.id = b.alert_id
        WHERE a.incident_id = p_incident_id
    ) AS l;

    v_security_action := CASE
        WHEN v_restricted
            THEN 'Access to your account has been temporarily restricted.'
        WHEN v_lifted
            THEN 'A temporary restriction was applied and has been lifted.'
        ELSE 'The activity was logged for review; access is not restricted.'
    END;

    v_actions := warden._incident_actions(p_incident_id);

    v_next := CASE v_inc.status
        WHEN 'open' THEN format(
            'Acknowledge by %s; verify the alert, assess scope, contain.',
            warden._incident_time(v_inc.due_at)
        )
        WHEN 'acknowledged'
            THEN 'Investigate: review the user''s activity timeline and '
                || 'exports; contain if malicious.'
        WHEN 'investigating'
            THEN 'Contain the threat if confirmed; document findings.'
        WHEN 'contained'
            THEN 'Recover, notify affected users, resolve the incident.'
        ELSE 'Complete the incident report: root cause, lessons learned, '
            || 'records exposed.'
    END;

    RETURN jsonb_build_object(
        '[TIMESTAMP]', warden._incident_time(v_inc.detected_at),
        '[INCIDENT_TYPE]', v_inc.rule,
        '[SEVERITY]', upper(v_inc.severity),
        '[USER_ID/EMAIL]', coalesce(v_inc.user_id,
            'unknown (' || v_inc.subject || ')'),
        '[USER_NAME]', coalesce(v_inc.user_id, 'customer'),
        '[INCIDENT_DESCRIPTION]', format(
            '%s (%s alert%s, %s event%s, %s record%s%s)',
            v_inc.title,
            v_alerts, CASE WHEN v_alerts = 1 THEN '' ELSE 's' END,
            coalesce(v_events, 0),
            CASE WHEN v_events = 1 THEN '' ELSE 's' END,
            coalesce(v_records, 0),
            CASE WHEN v_records = 1 THEN '' ELSE 's' END,
            coalesce(', from ' || host(v_inc.ip_address), '')
        ),
        '[BRIEF_DESCRIPTION]', v_inc.title,
        '[ACTIONS_TAKEN]', CASE
            WHEN cardinality(v_actions) = 0 THEN '- Incident logged'
            ELSE '- ' || array_to_string(v_actions, E'\n- ')
        END,
        '[SECURITY_ACTION]', v_security_action,
        '[INVESTIGATION_STATUS]', CASE
            WHEN v_inc.status IN ('resolved', 'false_positive')
                THEN 'COMPLETED (' || replace(v_inc.status, '_', ' ') || ')'
            ELSE 'IN_PROGRESS (' || v_inc.status || ')'
        END,
        '[NEXT_STEPS]', v_next,
        '[INCIDENT_ID]', v_inc.reference,
        '[DUE_AT]', warden._incident_time(v_inc.due_at)
    );
END
$$;

COMMENT ON FUNCTION warden._incident_placeholders(bigint) IS
'Private: values of the template placeholders for one incident.';

REVOKE ALL ON FUNCTION warden._incident_placeholders(bigint) FROM PUBLIC;
