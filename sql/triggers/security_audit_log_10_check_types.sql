-- Checks the event types of every insert statement, COPY included.
CREATE OR REPLACE TRIGGER security_audit_log_10_check_types
AFTER INSERT ON warden.security_audit_log
REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT
EXECUTE FUNCTION warden.tg_security_audit_log__check_types();

ALTER TABLE warden.security_audit_log
ENABLE ALWAYS TRIGGER security_audit_log_10_check_types;

COMMENT ON TRIGGER security_audit_log_10_check_types
ON warden.security_audit_log IS
'Refuses a statement that stores events of an unknown event type.';
