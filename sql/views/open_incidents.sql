-- Incidents not yet closed, most urgent first, with the time left to
-- respond and whether the deadline passed unacknowledged.
CREATE OR REPLACE VIEW warden.open_incidents AS
SELECT
    i.id,
    i.reference,
    i.rule,
    i.severity,
    i.status,
    i.user_id,
    i.subject,
    i.title,
    i.detected_at,
    i.due_at,
    CASE
        WHEN i.acknowledged_at IS NULL THEN i.due_at - now()
    END AS time_left,
    (i.acknowledged_at IS NULL AND i.due_at < now()) AS overdue,
    i.escalation_level,
    i.acknowledged_at,
    i.acknowledged_by,
    (
        SELECT count(*)
        FROM warden.alerts AS a
        WHERE a.incident_id = i.id
    ) AS alert_count
FROM warden.incidents AS i
WHERE i.status NOT IN ('resolved', 'false_positive')
ORDER BY
    (i.acknowledged_at IS NULL AND i.due_at < now()) DESC,
    CASE i.severity
        WHEN 'critical' THEN 4
        WHEN 'high' THEN 3
        WHEN 'medium' THEN 2
        ELSE 1
    END DESC,
    i.due_at;

COMMENT ON VIEW warden.open_incidents IS
'Incidents not yet resolved, overdue first, then by severity and deadline, '
'with time_left and overdue.';
COMMENT ON COLUMN warden.open_incidents.id IS 'Incident id.';
COMMENT ON COLUMN warden.open_incidents.reference IS
'Readable reference, such as INC-000042.';
COMMENT ON COLUMN warden.open_incidents.rule IS 'Detection rule.';
COMMENT ON COLUMN warden.open_incidents.severity IS
'critical, high, medium or low.';
COMMENT ON COLUMN warden.open_incidents.status IS
'open, acknowledged, investigating or contained.';
COMMENT ON COLUMN warden.open_incidents.user_id IS
'User the incident is about.';
COMMENT ON COLUMN warden.open_incidents.subject IS
'What the alerts are grouped by.';
COMMENT ON COLUMN warden.open_incidents.title IS 'What was detected.';
COMMENT ON COLUMN warden.open_incidents.detected_at IS
'When the first alert was raised.';
COMMENT ON COLUMN warden.open_incidents.due_at IS 'Response deadline.';
COMMENT ON COLUMN warden.open_incidents.time_left IS
'Time left until the deadline (negative once passed); NULL once '
'acknowledged.';
COMMENT ON COLUMN warden.open_incidents.overdue IS
'True when the deadline passed without acknowledgement.';
COMMENT ON COLUMN warden.open_incidents.escalation_level IS
'1 logged, 2 dashboard, 3 e-mail and SMS, 4 management.';
COMMENT ON COLUMN warden.open_incidents.acknowledged_at IS
'When the incident was acknowledged.';
COMMENT ON COLUMN warden.open_incidents.acknowledged_by IS
'Who acknowledged it.';
COMMENT ON COLUMN warden.open_incidents.alert_count IS
'Number of alerts that make up the incident.';
