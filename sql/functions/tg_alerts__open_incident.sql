-- warden.tg_alerts__open_incident() RETURNS trigger
--
-- After an alert is stored or changes severity or last_seen: an open alert
-- joins the open incident of its rule and subject (the user, else the
-- alert's subject), or opens one. A repeat never opens a second incident;
-- a more severe alert raises the incident's severity, brings its deadline
-- forward and escalates it. Sets alerts.incident_id and writes the
-- timeline. A new incident reaches escalation level 2 (dashboard), a
-- critical one level 3 (e-mail and SMS).
CREATE OR REPLACE FUNCTION warden.tg_alerts__open_incident()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_subject text := coalesce(NEW.user_id, NEW.subject,
        host(NEW.ip_address), 'unknown');
    v_inc warden.incidents;
    v_title text;
    v_now timestamptz := now();
    v_opened boolean := false;
BEGIN
    IF NEW.status IS DISTINCT FROM 'open' THEN
        RETURN NULL;
    END IF;

    IF NEW.incident_id IS NOT NULL THEN
        SELECT i.* INTO v_inc
        FROM warden.incidents AS i
        WHERE i.id = NEW.incident_id
            AND i.status NOT IN ('resolved', 'false_positive')
        FOR UPDATE;
    END IF;

    IF v_inc.id IS NULL THEN
        SELECT i.* INTO v_inc
        FROM warden.incidents AS i
        WHERE i.rule = NEW.rule
            AND i.subject = v_subject
            AND i.status NOT IN ('resolved', 'false_positive')
        FOR UPDATE;
    END IF;

    IF v_inc.id IS NULL THEN
        SELECT format('%s by %s: %s', NEW.rule, v_subject,
            coalesce(r.description, 'alert of rule ' || NEW.rule))
        INTO v_title
        FROM (SELECT NULL) AS one
        LEFT JOIN warden.detection_rules AS r ON r.rule = NEW.rule;

        -- Two sessions may alert on the same subject at once: the unique
        -- index lets one insert win and the other join it.
        INSERT INTO warden.incidents AS i (
            rule, severity, risk_score, user_id, subject, ip_address,
            title, detected_at, due_at
        )
        VALUES (
            NEW.rule, NEW.severity, NEW.risk_score, NEW.user_id, v_subject,
            NEW.ip_address, v_title, v_now,
            warden._incident_due_at(NEW.severity, v_now)
        )
        ON CONFLICT (rule, subject)
        WHERE status NOT IN ('resolved', 'false_positive')
        DO NOTHING
        RETURNING i.* INTO v_inc;
        IF v_inc.id IS NULL THEN
            SELECT i.* INTO STRICT v_inc
            FROM warden.incidents AS i
            WHERE i.rule = NEW.rule
                AND i.subject = v_subject
                AND i.status NOT IN ('resolved', 'false_positive')
            FOR UPDATE;
        ELSE
            v_opened := true;
        END IF;
    END IF;

    IF NEW.incident_id IS DISTINCT FROM v_inc.id THEN
        UPDATE warden.alerts AS a
        SET incident_id = v_inc.id
        WHERE a.id = NEW.id;
    END IF;

    IF v_opened THEN
        PERFORM warden._incident_record(
            v_inc.id, 'opened', 'pgwarden',
            format('Alert %s (%s, %s) opened the incident; due at %s.',
                NEW.id, NEW.rule, NEW.severity,
                warden._incident_time(v_inc.due_at)),
            jsonb_build_object('alert_id', NEW.id, 'level', 1,
                'evidence', to_jsonb(NEW.evidence)),
            NULL, 'open'
        );
        PERFORM warden._incident_escalate(
            v_inc.id,
            CASE WHEN v_inc.severity = 'critical' THEN 3 ELSE 2 END,
            'pgwarden', 'New ' || v_inc.severity || ' incident.'
        );
        RETURN NULL;
    END IF;

    IF NEW.incident_id IS DISTINCT FROM v_inc.id THEN
        PERFORM warden._incident_record(
            v_inc.id, 'alert_joined', 'pgwarden',
            format('Alert %s (%s, %s) joined the incident.',
                NEW.id, NEW.rule, NEW.severity),
            jsonb_build_object('alert_id', NEW.id,
                'evidence', to_jsonb(NEW.evidence))
        );
    END IF;

    IF warden._incident_severity_rank(NEW.severity)
        > warden._incident_severity_rank(v_inc.severity)
    THEN
        UPDATE warden.incidents AS i
        SET severity = NEW.severity,
            risk_score = greatest(i.risk_score, NEW.risk_score),
            due_at = least(i.due_at,
                warden._incident_due_at(NEW.severity, v_now)),
            updated_at = v_now
        WHERE i.id = v_inc.id
        RETURNING i.* INTO v_inc;
        PERFORM warden._incident_record(
            v_inc.id, 'severity_raised', 'pgwarden',
            format('Alert %s raised the severity to %s; due at %s.',
                NEW.id, NEW.severity, warden._incident_time(v_inc.due_at)),
            jsonb_build_object('alert_id', NEW.id,
                'severity', NEW.severity, 'due_at', v_inc.due_at)
        );
        IF v_inc.severity = 'critical' THEN
            PERFORM warden._incident_escalate(
                v_inc.id, greatest(3, v_inc.escalation_level), 'pgwarden',
                'Severity raised to critical.'
            );
        END IF;
    ELSE
        UPDATE warden.incidents AS i
        SET risk_score = greatest(i.risk_score, NEW.risk_score),
            updated_at = v_now
        WHERE i.id = v_inc.id;
    END IF;
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION warden.tg_alerts__open_incident() IS
'Trigger: an open alert opens or joins the open incident of its rule and '
'subject, raising its severity and escalating it as needed.';

REVOKE ALL ON FUNCTION warden.tg_alerts__open_incident() FROM PUBLIC;
