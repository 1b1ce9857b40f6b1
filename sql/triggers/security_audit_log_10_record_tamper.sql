-- Records each UPDATE or DELETE attempt on the event log once per statement.
CREATE OR REPLACE TRIGGER security_audit_log_10_record_tamper
BEFORE UPDATE OR DELETE ON warden.security_audit_log
FOR EACH STATEMENT
EXECUTE FUNCTION warden.tg_security_audit_log__record_tamper();

ALTER TABLE warden.security_audit_log
ENABLE ALWAYS TRIGGER security_audit_log_10_record_tamper;

COMMENT ON TRIGGER security_audit_log_10_record_tamper
ON warden.security_audit_log IS
'Records UPDATE and DELETE attempts as audit_tamper_attempt events.';
