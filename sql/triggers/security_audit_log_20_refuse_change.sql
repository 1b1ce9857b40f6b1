-- Skips every UPDATE and DELETE of an event-log row; cloned to partitions.
CREATE OR REPLACE TRIGGER security_audit_log_20_refuse_change
BEFORE UPDATE OR DELETE ON warden.security_audit_log
FOR EACH ROW
EXECUTE FUNCTION warden.tg_security_audit_log__refuse_change();

ALTER TABLE warden.security_audit_log
ENABLE ALWAYS TRIGGER security_audit_log_20_refuse_change;

COMMENT ON TRIGGER security_audit_log_20_refuse_change
ON warden.security_audit_log IS
'Skips UPDATE and DELETE of event-log rows: the log is append-only.';
