-- The runbook's "Check recent bulk operations": bulk events of the last
-- 24 hours with who, where and how many records, newest first.
CREATE OR REPLACE VIEW warden.recent_bulk_operations AS
SELECT
    e.id,
    e.event_type,
    e.user_id,
    e.ip_address,
    e.table_name,
    e.record_count,
    e.metadata,
    e.risk_score,
    e.created_at
FROM warden.security_audit_log AS e
WHERE e.event_type LIKE '%bulk%'
    AND e.created_at > now() - interval '24 hours'
ORDER BY e.created_at DESC, e.id DESC;

COMMENT ON VIEW warden.recent_bulk_operations IS
'Bulk events (event types containing "bulk") of the last 24 hours, newest '
'first (the runbook''s recent bulk operations query).';
COMMENT ON COLUMN warden.recent_bulk_operations.id IS 'Event id.';
COMMENT ON COLUMN warden.recent_bulk_operations.event_type IS
'Type of the event.';
COMMENT ON COLUMN warden.recent_bulk_operations.user_id IS
'User who ran the operation.';
COMMENT ON COLUMN warden.recent_bulk_operations.ip_address IS
'Client address.';
COMMENT ON COLUMN warden.recent_bulk_operations.table_name IS
'Logical table concerned.';
COMMENT ON COLUMN warden.recent_bulk_operations.record_count IS
'Number of customer records involved.';
COMMENT ON COLUMN warden.recent_bulk_operations.metadata IS
'Further facts reported with the event.';
COMMENT ON COLUMN warden.recent_bulk_operations.risk_score IS
'Risk score of the event.';
COMMENT ON COLUMN warden.recent_bulk_operations.created_at IS
'When the operation happened.';
