-- warden._save_finding(p_finding warden.detection_finding)
-- RETURNS warden.alerts
--
-- Turns a finding into an alert: a new open alert, or an extension of the
-- open alert of the same rule and subject (first_seen, last_seen,
-- evidence, counts). Returns the alert when it was created or changed,
-- NULL when the finding adds nothing (its evidence is already in an alert
-- of that rule and subject, open or closed), which makes reruns and the
-- meeting of the real-time and scheduled runs idempotent. Safe under
-- concurrency: the partial unique index on open alerts and ON CONFLICT
-- make two writers meet in one row.
--
-- A new alert gets the rule's response (warden._respond_to_alert), a
-- security_alert event with the alert's risk score, and
-- NOTIFY warden_alerts with its id.
CREATE OR REPLACE FUNCTION warden._save_finding(
    p_finding warden.detection_finding
)
RETURNS warden.alerts
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_id bigint;
    v_new boolean;
    v_alert warden.alerts;
    v_response jsonb;
BEGIN
    IF EXISTS (
        SELECT 1
        FROM warden.alerts AS a
        WHERE a.rule = p_finding.rule
            AND a.subject = p_finding.subject
            AND a.evidence @> p_finding.evidence
    ) THEN
        RETURN NULL;
    END IF;

    INSERT INTO warden.alerts AS a (
        rule, severity, risk_score, user_id, ip_address, subject,
        first_seen, last_seen, event_count, record_count, evidence, details
    )
    VALUES (
        p_finding.rule, p_finding.severity, p_finding.risk_score,
        p_finding.user_id, p_finding.ip_address, p_finding.subject,
        p_finding.first_seen, p_finding.last_seen, p_finding.event_count,
        p_finding.record_count, p_finding.evidence,
        coalesce(p_finding.details, '{}')
    )
    ON CONFLICT (rule, subject) WHERE status = 'open'
    DO UPDATE SET
        first_seen = least(a.first_seen, excluded.first_seen),
        last_seen = greatest(a.last_seen, excluded.last_seen),
        evidence = warden._merge_ids(a.evidence, excluded.evidence),
        event_count = cardinality(
            warden._merge_ids(a.evidence, excluded.evidence)
        ),
        -- Only the events new to the alert are read, so that extending a
        -- long attack costs what the new events cost.
        record_count = (
            SELECT CASE WHEN a.record_count IS NULL THEN sum(l.record_count)
                ELSE a.record_count + coalesce(sum(l.record_count), 0) END
            FROM warden.security_audit_log AS l
            WHERE l.id = ANY (
                ARRAY(
                    SELECT unnest(excluded.evidence)
                    EXCEPT
                    SELECT unnest(a.evidence)
                )
            )
        ),
        user_id = coalesce(a.user_id, excluded.user_id),
        ip_address = CASE WHEN excluded.last_seen >= a.last_seen
            THEN coalesce(excluded.ip_address, a.ip_address)
            ELSE a.ip_address END,
        details = a.details || excluded.details,
        updated_at = now()
    WHERE NOT a.evidence @> excluded.evidence
    RETURNING a.id, a.xmax::text = '0' INTO v_id, v_new;

    IF v_id IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT * INTO v_alert FROM warden.alerts AS a WHERE a.id = v_id;
    IF NOT v_new THEN
        RAISE DEBUG '_save_finding: alert % extended to % events',
            v_id, v_alert.event_count;
        RETURN v_alert;
    END IF;

    v_response := warden._respond_to_alert(v_alert);
    PERFORM warden._log_internal(
        'security_alert',
        jsonb_build_object(
            'alert_id', v_alert.id,
            'rule', v_alert.rule,
            'severity', v_alert.severity,
            'subject', v_alert.subject,
            'first_seen', v_alert.first_seen,
            'last_seen', v_alert.last_seen,
            'event_count', v_alert.event_count,
            'record_count', v_alert.record_count,
            'evidence', to_jsonb(v_alert.evidence[1:100]),
            'response', v_response
        ),
        v_alert.user_id,
        v_alert.ip_address,
        v_alert.risk_score
    );
    PERFORM pg_notify('warden_alerts', v_alert.id::text);
    RETURN v_alert;
END
$$;

COMMENT ON FUNCTION warden._save_finding(warden.detection_finding) IS
'Private: create or extend the open alert of a finding; NULL when the '
'finding adds nothing. New alerts get their response, a security_alert '
'event and NOTIFY warden_alerts.';

REVOKE ALL ON FUNCTION warden._save_finding(warden.detection_finding)
FROM PUBLIC;
