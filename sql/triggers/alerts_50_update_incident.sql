-- An alert that grows (last_seen) or changes severity re-joins its
-- incident: a more severe alert raises the incident, and an alert whose
-- incident was closed while the attack went on opens a new one.
CREATE OR REPLACE TRIGGER alerts_50_update_incident
AFTER UPDATE OF severity, last_seen, status ON warden.alerts
FOR EACH ROW
WHEN (
    NEW.status = 'open'
    AND (
        OLD.severity IS DISTINCT FROM NEW.severity
        OR OLD.last_seen IS DISTINCT FROM NEW.last_seen
        OR OLD.status IS DISTINCT FROM NEW.status
        OR NEW.incident_id IS NULL
    )
)
EXECUTE FUNCTION warden.tg_alerts__open_incident();

COMMENT ON TRIGGER alerts_50_update_incident ON warden.alerts IS
'Raises the incident of an alert that grew or became more severe, or '
'opens a new one when its incident was already closed.';
