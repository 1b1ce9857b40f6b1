-- warden._incident_queue(p_incident_id bigint, p_channel text,
--     p_recipient text, p_subject text, p_body text, p_payload jsonb)
-- RETURNS bigint
--
-- Queues one message in the notification outbox (whose insert trigger
-- sends NOTIFY warden_outbox) and returns its id.
CREATE OR REPLACE FUNCTION warden._incident_queue(
    p_incident_id bigint,
    p_channel text,
    p_recipient text,
    p_subject text,
    p_body text,
    p_payload jsonb
)
RETURNS bigint
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    INSERT INTO warden.notification_outbox (
        channel, recipient, subject, body, payload, incident_id
    )
    VALUES (
        p_channel, p_recipient, p_subject, p_body,
        coalesce(p_payload, '{}'), p_incident_id
    )
    RETURNING id;
$$;

COMMENT ON FUNCTION warden._incident_queue(
    bigint, text, text, text, text, jsonb
) IS
'Private: queue one message about an incident in the notification outbox.';

REVOKE ALL ON FUNCTION warden._incident_queue(
    bigint, text, text, text, text, jsonb
) FROM PUBLIC;
