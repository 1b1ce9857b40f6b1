-- The customer-data index of the event log carries the event source, so
-- that the 30-day baselines of unusual_access_pattern read the index only.
-- depends: 0005_index_fixes

-- Every detection query leaves out the events pgwarden wrote itself
-- (source 'pgwarden'); with the source in the index, counting a user's
-- customer-data events by hour needs no visit to the table.
DROP INDEX warden.security_audit_log_customer_user_idx;

-- Made again after it, as a new install makes it, so that the indexes of
-- the partitions get the same names.
DROP INDEX warden.security_audit_log_export_user_idx;

CREATE INDEX security_audit_log_customer_user_idx
ON warden.security_audit_log (user_id, created_at)
INCLUDE (source)
WHERE event_type IN ('customer_data_access', 'customer_data_bulk_export',
    'customer_data_modify');

CREATE INDEX security_audit_log_export_user_idx
ON warden.security_audit_log (user_id, created_at)
WHERE event_type = 'customer_data_bulk_export';
