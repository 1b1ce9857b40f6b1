-- The runbook's "High-risk events": events with risk score 4 or 5 of the
-- last 24 hours, newest first.
CREATE OR REPLACE VIEW warden.recent_high_risk_events AS
SELECT e.*
FROM warden.security_audit_log AS e
WHERE e.risk_score >= 4
    AND e.created_at > now() - interval '24 hours'
ORDER BY e.created_at DESC, e.id DESC;

COMMENT ON VIEW warden.recent_high_risk_events IS
'Events with risk score 4 or more of the last 24 hours, newest first (the '
'runbook''s high-risk events query).';

-- Its columns are those of the event log; so are their comments.
SELECT warden._incident_copy_comments(
    'warden.recent_high_risk_events', 'warden.security_audit_log'
);
