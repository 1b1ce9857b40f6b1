-- Remove the detection area: its tables, type and the partial indexes of
-- the event log it added. Functions of the sql/ tree that use them are
-- dropped with the schema, or reloaded by the next apply.
DROP INDEX IF EXISTS warden.security_audit_log_failed_user_idx;
DROP INDEX IF EXISTS warden.security_audit_log_failed_ip_idx;
DROP INDEX IF EXISTS warden.security_audit_log_login_user_idx;
DROP INDEX IF EXISTS warden.security_audit_log_escalation_user_idx;
DROP INDEX IF EXISTS warden.security_audit_log_customer_user_idx;
DROP INDEX IF EXISTS warden.security_audit_log_export_user_idx;
DROP TABLE IF EXISTS warden.high_value_customers;
DROP TABLE IF EXISTS warden.app_role_permissions;
DROP TABLE IF EXISTS warden.app_user_roles;
DROP TABLE IF EXISTS warden.app_roles;
DROP TABLE IF EXISTS warden.table_sensitivity;
DROP TABLE IF EXISTS warden.detection_state;
DROP TYPE IF EXISTS warden.detection_finding CASCADE;
DROP TABLE IF EXISTS warden.alerts CASCADE;
