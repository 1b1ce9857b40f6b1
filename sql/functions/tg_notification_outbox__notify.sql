-- warden.tg_notification_outbox__notify() RETURNS trigger
--
-- Wakes the deliverers: NOTIFY warden_outbox with the new message id, sent
-- when the inserting transaction commits.
CREATE OR REPLACE FUNCTION warden.tg_notification_outbox__notify()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM pg_notify('warden_outbox', NEW.id::text);
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION warden.tg_notification_outbox__notify() IS
'Trigger: NOTIFY warden_outbox with the id of each queued message.';

REVOKE ALL ON FUNCTION warden.tg_notification_outbox__notify() FROM PUBLIC;
