-- An approval records its approver and time.
CREATE OR REPLACE TRIGGER dashboard_profiles_10_stamp
BEFORE INSERT OR UPDATE ON warden.dashboard_profiles
FOR EACH ROW
EXECUTE FUNCTION warden.tg_dashboard_profiles__stamp();

COMMENT ON TRIGGER dashboard_profiles_10_stamp ON warden.dashboard_profiles IS
'Sets approved_by and approved_at when a profile is approved.';
