-- warden._incident_escalate(p_incident_id bigint, p_level integer,
--     p_actor text, p_reason text) RETURNS integer
--
-- Raises an incident to escalation level p_level (never lowers it) and
-- queues the messages of each level passed on the way, following the
-- runbook's chain: 2 a dashboard message for every incident, 3 e-mail and
-- SMS to the security manager for a critical incident (sent once, even
-- when the incident turns critical after level 3), 4 an e-mail to
-- management (and a dashboard message). Writes one timeline row and
-- returns the number of messages queued. The caller holds the row lock.
CREATE OR REPLACE FUNCTION warden._incident_escalate(
    p_incident_id bigint,
    p_level integer,
    p_actor text,
    p_reason text
)
RETURNS integer
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_inc warden.incidents;
    v_payload jsonb;
    v_line text;
    v_due text;
    v_alert record;
    v_sent jsonb := '[]';
    v_recipient text;
    v_id bigint;
    v_owes_critical boolean;
BEGIN
    SELECT i.* INTO v_inc
    FROM warden.incidents AS i
    WHERE i.id = p_incident_id;
    IF NOT FOUND THEN
        RETURN 0;
    END IF;
    -- An incident that became critical after it went past level 3 (an
    -- overdue high incident, say) still owes the e-mail and the SMS.
    v_owes_critical := v_inc.severity = 'critical' AND p_level >= 3
        AND NOT EXISTS (
            SELECT 1
            FROM warden.notification_outbox AS o
            WHERE o.incident_id = v_inc.id
                AND o.payload ->> 'event' = 'critical'
        );
    IF p_level <= v_inc.escalation_level AND NOT v_owes_critical THEN
        RETURN 0;
    END IF;

    v_due := warden._incident_time(v_inc.due_at);
    v_payload := jsonb_build_object(
        'incident_id', v_inc.id,
        'reference', v_inc.reference,
        'rule', v_inc.rule,
        'severity', v_inc.severity,
        'status', v_inc.status,
        'user_id', v_inc.user_id,
        'subject', v_inc.subject,
        'detected_at', v_inc.detected_at,
        'due_at', v_inc.due_at,
        'escalation_level', p_level,
        'reason', p_reason
    );
    v_line := format('%s %s: %s', upper(v_inc.severity), v_inc.reference,
        v_inc.title);

    IF v_inc.escalation_level < 2 THEN
        v_recipient := warden._incident_setting('dashboard_recipient',
            'security-dashboard');
        v_id := warden._incident_queue(
            v_inc.id, 'dashboard', v_recipient, v_line,
            v_line || E'\nRespond by ' || v_due || '.',
            v_payload || '{"event": "opened"}'
        );
        v_sent := v_sent || jsonb_build_object('id', v_id,
            'channel', 'dashboard', 'recipient', v_recipient);
    END IF;

    IF v_owes_critical THEN
        SELECT r.subject, r.body INTO v_alert
        FROM warden._incident_render('critical_alert', v_inc.id) AS r;
        v_recipient := warden._incident_setting('security_manager_email',
            'security-manager');
        v_id := warden._incident_queue(
            v_inc.id, 'email', v_recipient, v_alert.subject, v_alert.body,
            v_payload || '{"event": "critical"}'
        );
        v_sent := v_sent || jsonb_build_object('id', v_id,
            'channel', 'email', 'recipient', v_recipient);
        v_recipient := warden._incident_setting('security_manager_sms',
            'security-manager');
        v_id := warden._incident_queue(
            v_inc.id, 'sms', v_recipient, v_line,
            left(format('%s user %s. Respond by %s.', v_line,
                coalesce(v_inc.user_id, v_inc.subject), v_due), 320),
            v_payload || '{"event": "critical"}'
        );
        v_sent := v_sent || jsonb_build_object('id', v_id,
            'channel', 'sms', 'recipient', v_recipient);
    END IF;

    IF p_level >= 4 AND v_inc.escalation_level < 4 THEN
        SELECT r.subject, r.body INTO v_alert
        FROM warden._incident_render('critical_alert', v_inc.id) AS r;
        v_recipient := warden._incident_setting('management_email',
            'management');
        v_id := warden._incident_queue(
            v_inc.id, 'email', v_recipient,
            'Escalation: ' || v_line,
            format(E'Incident %s (%s) was not acknowledged by its '
                'deadline, %s.\n%s\n\n%s', v_inc.reference,
                v_inc.severity, v_due, p_reason, v_alert.body),
            v_payload || '{"event": "management_escalation"}'
        );
        v_sent := v_sent || jsonb_build_object('id', v_id,
            'channel', 'email', 'recipient', v_recipient);
        v_recipient := warden._incident_setting('dashboard_recipient',
            'security-dashboard');
        v_id := warden._incident_queue(
            v_inc.id, 'dashboard', v_recipient, 'OVERDUE ' || v_line,
            'OVERDUE ' || v_line || E'\nDeadline was ' || v_due || '.',
            v_payload || '{"event": "management_escalation"}'
        );
        v_sent := v_sent || jsonb_build_object('id', v_id,
            'channel', 'dashboard', 'recipient', v_recipient);
    END IF;

    UPDATE warden.incidents AS i
    SET escalation_level = greatest(i.escalation_level, p_level),
        escalated_at = now(),
        updated_at = now()
    WHERE i.id = v_inc.id;

    PERFORM warden._incident_record(
        v_inc.id, 'escalated', p_actor, p_reason,
        jsonb_build_object('from_level', v_inc.escalation_level,
            'to_level', greatest(v_inc.escalation_level, p_level),
            'messages', v_sent)
    );
    RETURN jsonb_array_length(v_sent);
END
$$;

COMMENT ON FUNCTION warden._incident_escalate(bigint, integer, text, text)
IS
'Private: raise an incident''s escalation level and queue the messages of '
'the levels passed.';

REVOKE ALL ON FUNCTION warden._incident_escalate(bigint, integer, text, text)
FROM PUBLIC;
