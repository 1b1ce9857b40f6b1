-- Each queued message wakes the deliverers listening on warden_outbox.
CREATE OR REPLACE TRIGGER notification_outbox_10_notify
AFTER INSERT ON warden.notification_outbox
FOR EACH ROW
EXECUTE FUNCTION warden.tg_notification_outbox__notify();

COMMENT ON TRIGGER notification_outbox_10_notify
ON warden.notification_outbox IS
'Sends NOTIFY warden_outbox with the id of each new message.';
