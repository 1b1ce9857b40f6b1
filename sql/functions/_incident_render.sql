-- warden._incident_render(p_template text, p_incident_id bigint,
--     OUT subject text, OUT body text)
--
-- Fills one row of warden.message_templates with the data of an incident.
-- Placeholders the template does not use are ignored; text in brackets
-- that is no placeholder is left as written. Placeholders are filled in a
-- single pass (warden._incident_fill), so a value holding a placeholder,
-- such as a user id, is never expanded again.
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
    subject := warden._incident_fill(subject, v_values);
    body := warden._incident_fill(body, v_values);
END
$$;

COMMENT ON FUNCTION warden._incident_render(text, bigint) IS
'Private: a message template filled with the data of one incident.';

REVOKE ALL ON FUNCTION warden._incident_render(text, bigint) FROM PUBLIC;
