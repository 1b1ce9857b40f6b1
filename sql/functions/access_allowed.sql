-- warden.access_allowed() RETURNS boolean
--
-- True when the current actor (warden.current_actor) may proceed: no
-- active lock on the account, no active block on the client address, no
-- revocation after its token was issued. Meant for row-level-security
-- policies on customer tables; write it as (SELECT warden.access_allowed())
-- so that it runs once per query rather than once per row.
--
-- SECURITY DEFINER so that application roles (members of warden_app) can
-- call it in policies without reading the containment tables.
CREATE OR REPLACE FUNCTION warden.access_allowed()
RETURNS boolean
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT warden._access_denial() IS NULL;
$$;

COMMENT ON FUNCTION warden.access_allowed() IS
'True when the current actor is neither locked, nor blocked by address, '
'nor revoked; for row-level-security policies.';

REVOKE ALL ON FUNCTION warden.access_allowed() FROM PUBLIC;

SELECT warden._grant_execute('warden.access_allowed()', role_name)
FROM unnest(ARRAY['warden_app', 'warden_analyst', 'warden_admin']::name[])
    AS role_name;
