-- Every change of who may open the dashboard is an event of the log.
CREATE OR REPLACE TRIGGER dashboard_profiles_20_log
AFTER INSERT OR UPDATE OR DELETE ON warden.dashboard_profiles
FOR EACH ROW
EXECUTE FUNCTION warden.tg_dashboard_profiles__log();

COMMENT ON TRIGGER dashboard_profiles_20_log ON warden.dashboard_profiles IS
'Logs each change of a dashboard profile as a role_change event.';
