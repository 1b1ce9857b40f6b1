-- warden.can_open_security_dashboard(user_id text DEFAULT NULL)
-- RETURNS boolean
--
-- Whether a user may open the security dashboard: the runbook asks for a
-- manager role and an approved profile, so the user needs a row of
-- warden.dashboard_profiles with job_role security_manager, approved and
-- not expired, and an account that is not locked. Without an argument it
-- answers for warden.current_actor().
--
-- SECURITY DEFINER so that it answers without giving the caller read
-- access to the profiles and the account locks.
CREATE OR REPLACE FUNCTION warden.can_open_security_dashboard(
    user_id text DEFAULT NULL
)
RETURNS boolean
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_user text := coalesce(can_open_security_dashboard.user_id,
        warden._incident_actor());
BEGIN
    RETURN EXISTS (
        SELECT 1
        FROM warden.dashboard_profiles AS p
        WHERE p.user_id = v_user
            AND p.job_role = 'security_manager'
            AND p.approved
            AND (p.expires_at IS NULL OR p.expires_at > now())
    )
    AND NOT coalesce(warden.is_account_locked(v_user), false);
END
$$;

COMMENT ON FUNCTION warden.can_open_security_dashboard(text) IS
'True when the user (default the current actor) is a security manager '
'with an approved, unexpired dashboard profile and an unlocked account.';

REVOKE ALL ON FUNCTION warden.can_open_security_dashboard(text) FROM PUBLIC;

SELECT warden._grant_execute(
    'warden.can_open_security_dashboard(text)', role_name
)
FROM unnest(ARRAY['warden_admin', 'warden_analyst']::name[]) AS role_name;
