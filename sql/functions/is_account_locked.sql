-- warden.is_account_locked(user_id text) RETURNS boolean
--
-- True while the account has an active lock: not lifted and not expired.
-- Expired locks stop counting at once; warden.expire_containment records
-- their end as events.
--
-- SECURITY DEFINER so that the application (warden_app) may ask without
-- reading the locks table.
CREATE OR REPLACE FUNCTION warden.is_account_locked(
    user_id text
)
RETURNS boolean
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT EXISTS (
        SELECT 1
        FROM warden.account_locks AS l
        WHERE l.user_id = btrim(is_account_locked.user_id)
            AND l.lifted_at IS NULL
            AND (l.expires_at IS NULL OR l.expires_at > now())
    );
$$;

COMMENT ON FUNCTION warden.is_account_locked(text) IS
'True while the account has a lock that is neither lifted nor expired.';

REVOKE ALL ON FUNCTION warden.is_account_locked(text) FROM PUBLIC;

SELECT warden._grant_execute('warden.is_account_locked(text)', role_name)
FROM unnest(ARRAY['warden_app', 'warden_analyst', 'warden_admin']::name[])
    AS role_name;
