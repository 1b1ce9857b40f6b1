-- warden._incident_render(p_template text, p_incident_id bigint,
--     OUT subject text, OUT body text)
--
-- Fills one row of warden.message_templates with the data of an incident.
-- Placeholders the template does not use are ignored; text in brackets
-- that is no placeholder is left as written.
CREATE OR REPLACE FUNCTION warden._incident_render(
    p_template text,
    p_incident_id bigint,
    OUT subject text,
    OUT body text
)
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_values jsonb := warden._incident_placeholders(p_incident_id);
    v_pair record;
BEGIN
    SELECT m.subject, m.body
    INTO subject, body
    FROM warden.message_templates AS m
    WHERE m.name = p_template;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'pgwarden: message template "%" does not exist',
            p_template
            USING ERRCODE = 'undefined_object',
                HINT = 'warden.message_templates needs the rows '
                    || 'critical_alert and user_notification.';
    END IF;
    FOR v_pair IN SELECT e.key, e.value FROM jsonb_each_text(v_values) AS e
    LOOP
        subject := replace(subject, v_pair.key, v_pair.value);
        body := replace(body, v_pair.key, v_pair.value);
    END LOOP;
END
$$;

COMMENT ON FUNCTION warden._incident_render(text, bigint) IS
'Private: a message template filled with the data of one incident.';

REVOKE ALL ON FUNCTION warden._incident_render(text, bigint) FROM PUBLIC;
