-- Refuses TRUNCATE of the event log (partitions get their own copy from
-- warden._protect_log_partition). ALWAYS: fires in replica mode too.
CREATE OR REPLACE TRIGGER security_audit_log_10_refuse_truncate
BEFORE TRUNCATE ON warden.security_audit_log
FOR EACH STATEMENT
EXECUTE FUNCTION warden.tg_security_audit_log__refuse_truncate();

ALTER TABLE warden.security_audit_log
ENABLE ALWAYS TRIGGER security_audit_log_10_refuse_truncate;

COMMENT ON TRIGGER security_audit_log_10_refuse_truncate
ON warden.security_audit_log IS
'Refuses TRUNCATE: the event log is append-only.';
