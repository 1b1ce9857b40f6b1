-- Assigns the transaction id before an insert statement draws event ids,
-- for the horizon of the scheduled detection run. ALWAYS: replica mode
-- inserts draw ids too.
CREATE OR REPLACE TRIGGER security_audit_log_05_assign_xid
BEFORE INSERT ON warden.security_audit_log
FOR EACH STATEMENT
EXECUTE FUNCTION warden.tg_security_audit_log__assign_xid();

ALTER TABLE warden.security_audit_log
ENABLE ALWAYS TRIGGER security_audit_log_05_assign_xid;

COMMENT ON TRIGGER security_audit_log_05_assign_xid
ON warden.security_audit_log IS
'Assigns the transaction id before the statement draws event ids, so that '
'the scheduled detection run knows when ids are final.';
