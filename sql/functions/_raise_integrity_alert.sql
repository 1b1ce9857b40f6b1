-- warden._raise_integrity_alert(p_rule text, p_subject text,
--                               p_problems jsonb) RETURNS bigint
--
-- Raises the alert of an integrity problem found by
-- warden.verify_audit_log: opens (or extends) the open alert of the rule
-- and subject in warden.alerts, with a security_alert event and
-- NOTIFY warden_alerts for a new one. When the detection area (alerts) is
-- not installed, records a security_alert event instead. Returns the
-- alert id, or NULL when only an event was recorded.
CREATE OR REPLACE FUNCTION warden._raise_integrity_alert(
    p_rule text,
    p_subject text,
    p_problems jsonb
)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_rule warden.detection_rules;
    v_id bigint;
    v_new boolean;
BEGIN
    SELECT * INTO v_rule
    FROM warden.detection_rules AS r
    WHERE r.rule = p_rule;
    IF to_regclass('warden.alerts') IS NOT NULL AND v_rule.rule IS NOT NULL
        AND v_rule.enabled THEN
        -- The alerts table belongs to the detection area; name it at run
        -- time so that this area installs without it.
        EXECUTE $sql$
            INSERT INTO warden.alerts AS a (
                rule, severity, risk_score, subject, first_seen, last_seen,
                event_count, details
            )
            VALUES ($1, $2, $3, $4, now(), now(), 1,
                jsonb_build_object('problems', $5))
            ON CONFLICT (rule, subject) WHERE status = 'open'
            DO UPDATE SET
                last_seen = now(),
                event_count = a.event_count + 1,
                details = a.details || excluded.details,
                updated_at = now()
            RETURNING a.id, a.xmax::text = '0'
        $sql$
        INTO v_id, v_new
        USING v_rule.rule, v_rule.severity, v_rule.risk_score, p_subject,
            p_problems;
        IF NOT v_new THEN
            RETURN v_id;
        END IF;
    END IF;
    PERFORM warden._log_internal(
        'security_alert',
        jsonb_build_object(
            'alert_id', v_id,
            'rule', p_rule,
            'severity', coalesce(v_rule.severity, 'critical'),
            'subject', p_subject,
            'problems', p_problems
        ),
        NULL,
        NULL,
        coalesce(v_rule.risk_score, 5)
    );
    IF v_id IS NOT NULL THEN
        PERFORM pg_notify('warden_alerts', v_id::text);
    END IF;
    RETURN v_id;
END
$$;

COMMENT ON FUNCTION warden._raise_integrity_alert(text, text, jsonb) IS
'Private: open or extend the alert of an integrity problem, or record a '
'security_alert event when alerts are not installed.';

REVOKE ALL ON FUNCTION warden._raise_integrity_alert(text, text, jsonb)
FROM PUBLIC;
