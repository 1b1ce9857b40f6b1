-- warden.tg_dashboard_profiles__log() RETURNS trigger
--
-- Records every change of a dashboard profile in the event log as a
-- role_change event about the profile's user: who may open the security
-- dashboard is itself security-relevant.
--
-- SECURITY DEFINER because the security manager who edits profiles may
-- not write the event log directly; the event is written through
-- warden._log_internal (source pgwarden), so it never feeds the rules.
CREATE OR REPLACE FUNCTION warden.tg_dashboard_profiles__log()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_row warden.dashboard_profiles := CASE
        WHEN TG_OP = 'DELETE' THEN OLD
        ELSE NEW
    END;
BEGIN
    PERFORM warden._log_internal(
        'role_change',
        jsonb_build_object(
            'dashboard_profile', lower(TG_OP),
            'job_role', v_row.job_role,
            'approved', CASE WHEN TG_OP = 'DELETE' THEN false
                ELSE v_row.approved END,
            'expires_at', v_row.expires_at,
            'changed_by', warden.current_actor()
        ),
        v_row.user_id
    );
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION warden.tg_dashboard_profiles__log() IS
'Trigger: log each change of a dashboard profile as a role_change event.';

REVOKE ALL ON FUNCTION warden.tg_dashboard_profiles__log() FROM PUBLIC;
