-- warden.complete_notification(p_id bigint, p_error text DEFAULT NULL)
-- RETURNS text
--
-- Reports the delivery of a claimed message: without an error it is sent;
-- with one it goes back to pending with a backoff (notification_retry_delay,
-- doubled after each failure, at most one hour), or becomes failed once
-- notification_max_attempts attempts were made. Returns the new status.
-- Refuses an unknown message (P0002) and one that is not claimed (55000).
--
-- SECURITY DEFINER because deliverers change the outbox only through this
-- function and warden.claim_notifications.
CREATE OR REPLACE FUNCTION warden.complete_notification(
    p_id bigint,
    p_error text DEFAULT NULL
)
RETURNS text
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_row warden.notification_outbox;
    v_max integer := warden._incident_setting(
        'notification_max_attempts', '5')::integer;
    v_delay interval := warden._incident_setting(
        'notification_retry_delay', '30 seconds')::interval;
BEGIN
    SELECT o.* INTO v_row
    FROM warden.notification_outbox AS o
    WHERE o.id = p_id
    FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'pgwarden: notification % does not exist', p_id
            USING ERRCODE = 'no_data_found';
    END IF;
    IF v_row.status <> 'sending' THEN
        RAISE EXCEPTION 'pgwarden: notification % is %, not sending',
            p_id, v_row.status
            USING ERRCODE = 'object_not_in_prerequisite_state',
                HINT = 'Complete only notifications returned by '
                    || 'warden.claim_notifications.';
    END IF;

    IF p_error IS NULL THEN
        UPDATE warden.notification_outbox AS o
        SET status = 'sent',
            sent_at = now()
        WHERE o.id = p_id
        RETURNING o.* INTO v_row;
    ELSE
        UPDATE warden.notification_outbox AS o
        SET status = CASE
                WHEN o.attempts >= v_max THEN 'failed'
                ELSE 'pending'
            END,
            last_error = p_error,
            next_attempt_at = now() + least(
                v_delay * power(2, greatest(o.attempts - 1, 0)),
                interval '1 hour'
            )
        WHERE o.id = p_id
        RETURNING o.* INTO v_row;
    END IF;
    RETURN v_row.status;
END
$$;

COMMENT ON FUNCTION warden.complete_notification(bigint, text) IS
'Report the delivery of a claimed notification: NULL error marks it sent; '
'an error sends it back to pending with backoff, or failed after '
'notification_max_attempts. Returns the new status.';

REVOKE ALL ON FUNCTION warden.complete_notification(bigint, text)
FROM PUBLIC;

SELECT warden._grant_execute(
    'warden.complete_notification(bigint, text)', 'warden_admin'
);
