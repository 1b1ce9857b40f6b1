-- Runs the real-time detection rules once per insert statement (COPY
-- included), in the transaction that stores the events.
CREATE OR REPLACE TRIGGER security_audit_log_30_realtime_rules
AFTER INSERT ON warden.security_audit_log
REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT
EXECUTE FUNCTION warden.tg_security_audit_log__realtime_rules();

COMMENT ON TRIGGER security_audit_log_30_realtime_rules
ON warden.security_audit_log IS
'Runs the real-time detection rules over the events of each insert '
'statement.';
