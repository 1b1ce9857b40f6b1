-- warden.tg_dashboard_profiles__stamp() RETURNS trigger
--
-- Stamps who approved a dashboard profile and when, as the approval
-- happens, so that approved_by and approved_at cannot be left out or
-- back-dated; withdrawing the approval clears them.
CREATE OR REPLACE FUNCTION warden.tg_dashboard_profiles__stamp()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NEW.approved AND (TG_OP = 'INSERT' OR NOT OLD.approved) THEN
        NEW.approved_by := warden.current_actor();
        NEW.approved_at := now();
    ELSIF NOT NEW.approved THEN
        NEW.approved_by := NULL;
        NEW.approved_at := NULL;
    END IF;
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION warden.tg_dashboard_profiles__stamp() IS
'Trigger: record who approved a dashboard profile and when.';

REVOKE ALL ON FUNCTION warden.tg_dashboard_profiles__stamp() FROM PUBLIC;
