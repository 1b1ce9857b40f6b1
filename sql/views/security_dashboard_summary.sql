-- One row for the security dashboard: incidents by severity and status,
-- overdue incidents, active locks and blocks, alerts of the last 24 hours.
CREATE OR REPLACE VIEW warden.security_dashboard_summary AS
SELECT
    (
        SELECT count(*)
        FROM warden.incidents AS i
        WHERE i.status NOT IN ('resolved', 'false_positive')
    ) AS open_incidents,
    (
        SELECT coalesce(jsonb_object_agg(s.severity, s.n), '{}')
        FROM (
            SELECT i.severity, count(*) AS n
            FROM warden.incidents AS i
            WHERE i.status NOT IN ('resolved', 'false_positive')
            GROUP BY i.severity
        ) AS s
    ) AS open_by_severity,
    (
        SELECT coalesce(jsonb_object_agg(s.status, s.n), '{}')
        FROM (
            SELECT i.status, count(*) AS n
            FROM warden.incidents AS i
            GROUP BY i.status
        ) AS s
    ) AS incidents_by_status,
    (
        SELECT count(*)
        FROM warden.incidents AS i
        WHERE i.status = 'open'
            AND i.acknowledged_at IS NULL
            AND i.due_at < now()
    ) AS overdue_incidents,
    (
        SELECT count(*)
        FROM warden.account_locks AS l
        WHERE l.lifted_at IS NULL
            AND (l.expires_at IS NULL OR l.expires_at > now())
    ) AS active_account_locks,
    (
        SELECT count(*)
        FROM warden.ip_blocks AS b
        WHERE b.lifted_at IS NULL
            AND (b.expires_at IS NULL OR b.expires_at > now())
    ) AS active_ip_blocks,
    (
        SELECT count(*)
        FROM warden.alerts AS a
        WHERE a.created_at > now() - interval '24 hours'
    ) AS alerts_last_24h,
    (
        SELECT count(*)
        FROM warden.security_audit_log AS e
        WHERE e.risk_score >= 4
            AND e.created_at > now() - interval '24 hours'
    ) AS high_risk_events_last_24h,
    (
        SELECT count(*)
        FROM warden.notification_outbox AS o
        WHERE o.status IN ('pending', 'sending')
    ) AS notifications_pending,
    now() AS as_of;

COMMENT ON VIEW warden.security_dashboard_summary IS
'One row summing up the security state: open incidents by severity, all '
'incidents by status, overdue incidents, active locks and blocks, alerts '
'and high-risk events of the last 24 hours, undelivered notifications.';
COMMENT ON COLUMN warden.security_dashboard_summary.open_incidents IS
'Incidents not yet resolved.';
COMMENT ON COLUMN warden.security_dashboard_summary.open_by_severity IS
'Open incidents per severity, as {"critical": n, ...}.';
COMMENT ON COLUMN warden.security_dashboard_summary.incidents_by_status IS
'All incidents per status, as {"open": n, ...}.';
COMMENT ON COLUMN warden.security_dashboard_summary.overdue_incidents IS
'Open incidents past their deadline without acknowledgement.';
COMMENT ON COLUMN warden.security_dashboard_summary.active_account_locks IS
'Account locks and suspensions in force.';
COMMENT ON COLUMN warden.security_dashboard_summary.active_ip_blocks IS
'Address blocks in force.';
COMMENT ON COLUMN warden.security_dashboard_summary.alerts_last_24h IS
'Alerts raised in the last 24 hours.';
COMMENT ON COLUMN
warden.security_dashboard_summary.high_risk_events_last_24h IS
'Events with risk score 4 or more in the last 24 hours.';
COMMENT ON COLUMN warden.security_dashboard_summary.notifications_pending IS
'Notifications not yet delivered (pending or being sent).';
COMMENT ON COLUMN warden.security_dashboard_summary.as_of IS
'When the summary was computed.';
