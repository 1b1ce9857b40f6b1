-- warden._was_ip_blocked(p_ip inet, p_at timestamptz) RETURNS boolean
--
-- Whether an address lay in a block that was active at a given time
-- (warden.ip_blocks of the containment area; false while that area is
-- not installed).
CREATE OR REPLACE FUNCTION warden._was_ip_blocked(
    p_ip inet,
    p_at timestamptz
)
RETURNS boolean
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF p_ip IS NULL OR to_regclass('warden.ip_blocks') IS NULL THEN
        RETURN false;
    END IF;
    RETURN EXISTS (
        SELECT 1
        FROM warden.ip_blocks AS b
        WHERE p_ip <<= b.network
            AND b.blocked_at <= p_at
            AND (b.lifted_at IS NULL OR b.lifted_at > p_at)
            AND (b.expires_at IS NULL OR b.expires_at > p_at)
    );
END
$$;

COMMENT ON FUNCTION warden._was_ip_blocked(inet, timestamptz) IS
'Private: whether an address was blocked at a given time.';

REVOKE ALL ON FUNCTION warden._was_ip_blocked(inet, timestamptz) FROM PUBLIC;
