-- Back to the customer-data index of migration 0002, made in the order
-- of 0002 so that the indexes of the partitions keep their names.
DROP INDEX warden.security_audit_log_customer_user_idx;

DROP INDEX warden.security_audit_log_export_user_idx;

CREATE INDEX security_audit_log_customer_user_idx
ON warden.security_audit_log (user_id, created_at)
WHERE event_type IN ('customer_data_access', 'customer_data_bulk_export',
    'customer_data_modify');

CREATE INDEX security_audit_log_export_user_idx
ON warden.security_audit_log (user_id, created_at)
WHERE event_type = 'customer_data_bulk_export';
