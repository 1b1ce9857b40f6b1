-- warden.is_ip_blocked(address text) RETURNS boolean
--
-- True while an active block covers the address (or the whole network,
-- when a network is given). An address that cannot be parsed is not
-- blocked.
--
-- SECURITY DEFINER so that the application (warden_app) may ask without
-- reading the blocks table.
CREATE OR REPLACE FUNCTION warden.is_ip_blocked(
    address text
)
RETURNS boolean
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT EXISTS (
        SELECT 1
        FROM warden.ip_blocks AS b
        WHERE b.network >>= warden._parse_inet(is_ip_blocked.address)
            AND b.lifted_at IS NULL
            AND (b.expires_at IS NULL OR b.expires_at > now())
    );
$$;

COMMENT ON FUNCTION warden.is_ip_blocked(text) IS
'True while an active block covers the address or network.';

REVOKE ALL ON FUNCTION warden.is_ip_blocked(text) FROM PUBLIC;

SELECT warden._grant_execute('warden.is_ip_blocked(text)', role_name)
FROM unnest(ARRAY['warden_app', 'warden_analyst', 'warden_admin']::name[])
    AS role_name;
