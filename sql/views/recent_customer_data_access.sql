-- The runbook's "Customer data access": every customer-data event (read,
-- export, change) of the last 24 hours, newest first.
CREATE OR REPLACE VIEW warden.recent_customer_data_access AS
SELECT e.*
FROM warden.security_audit_log AS e
WHERE e.event_type LIKE '%customer%'
    AND e.created_at > now() - interval '24 hours'
ORDER BY e.created_at DESC, e.id DESC;

COMMENT ON VIEW warden.recent_customer_data_access IS
'Customer-data events (event types containing "customer") of the last 24 '
'hours, newest first (the runbook''s customer data access query).';

-- Its columns are those of the event log; so are their comments.
SELECT warden._incident_copy_comments(
    'warden.recent_customer_data_access', 'warden.security_audit_log'
);
