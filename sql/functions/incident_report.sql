-- warden.incident_report(incident_id bigint, OUT report text,
--     OUT details jsonb)
--
-- The whole story of one incident, for the post-incident report: the
-- incident, its alerts, the evidence events behind them, the actions
-- taken, the notifications, the exposure and the timeline; as readable
-- text (report) and as jsonb (details). Raises P0002 for an unknown
-- incident.
--
-- SECURITY DEFINER because it reads through private helpers and across
-- the event log, alerts, containment and outbox; it changes nothing.
CREATE OR REPLACE FUNCTION warden.incident_report(
    incident_id bigint,
    OUT report text,
    OUT details jsonb
)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_inc warden.incidents;
    v_alerts jsonb;
    v_evidence jsonb;
    v_timeline jsonb;
    v_notes jsonb;
    v_actions text[];
    v_exposure jsonb;
    v_lines text[];
BEGIN
    SELECT i.* INTO v_inc
    FROM warden.incidents AS i
    WHERE i.id = incident_report.incident_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'pgwarden: incident % does not exist',
            incident_report.incident_id
            USING ERRCODE = 'no_data_found',
                HINT = 'SELECT id, reference FROM warden.incidents lists '
                    || 'them.';
    END IF;

    SELECT coalesce(jsonb_agg(to_jsonb(a) ORDER BY a.id), '[]')
    INTO v_alerts
    FROM warden.alerts AS a
    WHERE a.incident_id = v_inc.id;

    -- The evidence of every alert, each event once, in time order.
    SELECT coalesce(jsonb_agg(to_jsonb(e) ORDER BY e.created_at, e.id), '[]')
    INTO v_evidence
    FROM warden.security_audit_log AS e
    WHERE e.id IN (
        SELECT u.id
        FROM warden.alerts AS a
        CROSS JOIN LATERAL unnest(a.evidence) AS u (id)
        WHERE a.incident_id = v_inc.id
    );

    SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY t.id), '[]')
    INTO v_timeline
    FROM warden.incident_timeline AS t
    WHERE t.incident_id = v_inc.id;

    SELECT coalesce(jsonb_agg(jsonb_build_object(
        'id', o.id, 'channel', o.channel, 'recipient', o.recipient,
        'subject', o.subject, 'status', o.status, 'attempts', o.attempts,
        'created_at', o.created_at, 'sent_at', o.sent_at
    ) ORDER BY o.id), '[]')
    INTO v_notes
    FROM warden.notification_outbox AS o
    WHERE o.incident_id = v_inc.id;

    v_actions := warden._incident_actions(v_inc.id);

    SELECT jsonb_build_object(
        'records_exposed', v_inc.records_exposed,
        'records_in_alerts', coalesce(sum(a.record_count), 0),
        'tables', coalesce((
            SELECT jsonb_agg(DISTINCT e.value ->> 'table_name')
            FROM jsonb_array_elements(v_evidence) AS e
            WHERE e.value ->> 'table_name' IS NOT NULL
        ), '[]')
    )
    INTO v_exposure
    FROM warden.alerts AS a
    WHERE a.incident_id = v_inc.id;

    details := jsonb_build_object(
        'incident', to_jsonb(v_inc),
        'alerts', v_alerts,
        'evidence', v_evidence,
        'actions', to_jsonb(v_actions),
        'notifications', v_notes,
        'exposure', v_exposure,
        'timeline', v_timeline
    );

    v_lines := ARRAY[
        format('Incident %s: %s (%s), %s', v_inc.reference, v_inc.rule,
            v_inc.severity, replace(v_inc.status, '_', ' ')),
        v_inc.title,
        format('User: %s  Subject: %s  Address: %s',
            coalesce(v_inc.user_id, '-'), v_inc.subject,
            coalesce(host(v_inc.ip_address), '-')),
        format('Detected: %s  Due: %s  Escalation level: %s',
            warden._incident_time(v_inc.detected_at),
            warden._incident_time(v_inc.due_at), v_inc.escalation_level),
        format('Acknowledged: %s  Resolved: %s',
            coalesce(warden._incident_time(v_inc.acknowledged_at)
                || ' by ' || v_inc.acknowledged_by, '-'),
            coalesce(warden._incident_time(v_inc.resolved_at)
                || ' by ' || v_inc.resolved_by, '-')),
        'Resolution: ' || coalesce(v_inc.resolution, '-'),
        '',
        'Exposure',
        '  Records in alerts: ' || (v_exposure ->> 'records_in_alerts'),
        '  Records exposed: ' || coalesce(v_inc.records_exposed::text,
            'not assessed yet'),
        '  Tables: ' || coalesce((
            SELECT string_agg(t.value, ', ')
            FROM jsonb_array_elements_text(v_exposure -> 'tables') AS t
        ), '-'),
        '  Root cause: ' || coalesce(v_inc.root_cause, '-'),
        '  Lessons learned: ' || coalesce(v_inc.lessons_learned, '-'),
        '',
        format('Alerts (%s)', jsonb_array_length(v_alerts))
    ];
    v_lines := v_lines || ARRAY(
        SELECT format('  alert %s: %s %s, %s events, %s records, %s to %s',
            a.value ->> 'id', a.value ->> 'rule', a.value ->> 'severity',
            coalesce(a.value ->> 'event_count', '?'),
            coalesce(a.value ->> 'record_count', '0'),
            a.value ->> 'first_seen', a.value ->> 'last_seen')
        FROM jsonb_array_elements(v_alerts) AS a
    );
    v_lines := v_lines || ARRAY[
        '', format('Evidence (%s events)', jsonb_array_length(v_evidence))
    ] || ARRAY(
        SELECT format('  %s %s %s user %s from %s%s%s',
            e.value ->> 'id', e.value ->> 'created_at',
            e.value ->> 'event_type', coalesce(e.value ->> 'user_id', '-'),
            coalesce(e.value ->> 'ip_address', '-'),
            coalesce(' table ' || (e.value ->> 'table_name'), ''),
            coalesce(' records ' || (e.value ->> 'record_count'), ''))
        FROM jsonb_array_elements(v_evidence) AS e
    );
    v_lines := v_lines || ARRAY['', 'Actions taken'] || ARRAY(
        SELECT '  - ' || a FROM unnest(v_actions) AS a
    );
    v_lines := v_lines || ARRAY['', 'Timeline'] || ARRAY(
        SELECT format('  %s %s by %s%s',
            warden._incident_time((t.value ->> 'occurred_at')::timestamptz),
            t.value ->> 'action', t.value ->> 'actor',
            coalesce(': ' || (t.value ->> 'note'), ''))
        FROM jsonb_array_elements(v_timeline) AS t
        ORDER BY (t.value ->> 'id')::bigint
    );
    report := array_to_string(v_lines, E'\n') || E'\n';
END
$$;

COMMENT ON FUNCTION warden.incident_report(bigint) IS
'The whole story of one incident (alerts, evidence, actions, '
'notifications, exposure, timeline) as text (report) and jsonb (details).';

REVOKE ALL ON FUNCTION warden.incident_report(bigint) FROM PUBLIC;

SELECT warden._grant_execute('warden.incident_report(bigint)', role_name)
FROM unnest(ARRAY['warden_admin', 'warden_analyst']::name[]) AS role_name;
