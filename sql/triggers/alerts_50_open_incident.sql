-- A new alert opens or joins an incident.
CREATE OR REPLACE TRIGGER alerts_50_open_incident
AFTER INSERT ON warden.alerts
FOR EACH ROW
EXECUTE FUNCTION warden.tg_alerts__open_incident();

COMMENT ON TRIGGER alerts_50_open_incident ON warden.alerts IS
'Opens or joins the open incident of the alert''s rule and subject.';
