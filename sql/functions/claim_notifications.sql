-- warden.claim_notifications(p_limit integer DEFAULT 50)
-- RETURNS SETOF warden.notification_outbox
--
-- Hands a deliverer up to p_limit messages that are due: pending ones
-- whose next_attempt_at has come, and claimed ones whose claim lapsed
-- (their deliverer died; setting notification_claim_timeout). Each is
-- marked 'sending' with one more attempt, and its claim lapses after the
-- timeout. Rows locked by another deliverer are skipped, so deliverers may
-- run side by side. A lapsed claim that already used every attempt is
-- marked 'failed' instead. Refuses a limit below 1 (22023).
--
-- SECURITY DEFINER because deliverers change the outbox only through this
-- function and warden.complete_notification.
CREATE OR REPLACE FUNCTION warden.claim_notifications(
    p_limit integer DEFAULT 50
)
RETURNS SETOF warden.notification_outbox
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_max integer := warden._incident_setting(
        'notification_max_attempts', '5')::integer;
    v_lease interval := warden._incident_setting(
        'notification_claim_timeout', '5 minutes')::interval;
BEGIN
    IF p_limit IS NULL OR p_limit < 1 THEN
        RAISE EXCEPTION 'pgwarden: claim limit % is not positive', p_limit
            USING ERRCODE = 'invalid_parameter_value',
                HINT = 'Claim at least one notification, such as 50.';
    END IF;

    UPDATE warden.notification_outbox AS o
    SET status = 'failed',
        last_error = coalesce(o.last_error || '; ', '')
            || 'claim lapsed after the last attempt'
    WHERE o.status = 'sending'
        AND o.next_attempt_at <= now()
        AND o.attempts >= v_max;

    RETURN QUERY
    WITH due AS (
        SELECT o.id
        FROM warden.notification_outbox AS o
        WHERE o.status IN ('pending', 'sending')
            AND o.next_attempt_at <= now()
        ORDER BY o.next_attempt_at, o.id
        LIMIT p_limit
        FOR UPDATE SKIP LOCKED
    )
    UPDATE warden.notification_outbox AS o
    SET status = 'sending',
        attempts = o.attempts + 1,
        next_attempt_at = now() + v_lease
    FROM due
    WHERE o.id = due.id
    RETURNING o.*;
END
$$;

COMMENT ON FUNCTION warden.claim_notifications(integer) IS
'Claim up to p_limit due notifications for delivery (FOR UPDATE SKIP '
'LOCKED): marks them sending and counts the attempt. Report each with '
'warden.complete_notification.';

REVOKE ALL ON FUNCTION warden.claim_notifications(integer) FROM PUBLIC;

SELECT warden._grant_execute(
    'warden.claim_notifications(integer)', 'warden_admin'
);
