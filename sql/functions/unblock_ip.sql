-- warden.unblock_ip(address text, reason text) RETURNS integer
--
-- Lifts early every active block of exactly this address or network, and
-- of the networks that cover it when an address is given, recording an
-- ip_unblocked event. Returns the number of blocks lifted.
--
-- SECURITY DEFINER so that the security manager need not write the blocks
-- table directly; EXECUTE is granted to warden_admin only.
CREATE OR REPLACE FUNCTION warden.unblock_ip(
    address text,
    reason text
)
RETURNS integer
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_network inet := warden._parse_inet(unblock_ip.address);
    v_by text := warden.current_actor();
    v_ids bigint[];
BEGIN
    IF v_network IS NULL THEN
        RAISE EXCEPTION 'pgwarden: "%" is not an address or network',
            unblock_ip.address
            USING ERRCODE = 'invalid_text_representation',
                HINT = 'Give the address or network that was blocked.';
    END IF;
    WITH lifted AS (
        UPDATE warden.ip_blocks AS b
        SET lifted_at = now(),
            lifted_by = v_by,
            lift_reason = unblock_ip.reason
        WHERE b.network >>= v_network
            AND b.lifted_at IS NULL
            AND (b.expires_at IS NULL OR b.expires_at > now())
        RETURNING b.id
    )
    SELECT array_agg(lifted.id ORDER BY lifted.id)
    INTO v_ids
    FROM lifted;

    IF v_ids IS NULL THEN
        RAISE DEBUG 'unblock_ip: % had no active block', v_network;
        RETURN 0;
    END IF;
    PERFORM warden._log_internal(
        'ip_unblocked',
        jsonb_build_object(
            'block_ids', to_jsonb(v_ids),
            'reason', unblock_ip.reason,
            'lifted_by', v_by
        ),
        NULL,
        v_network
    );
    RETURN cardinality(v_ids);
END
$$;

COMMENT ON FUNCTION warden.unblock_ip(text, text) IS
'Lift the active blocks covering an address or network early (security '
'manager only); records ip_unblocked and returns the number lifted.';

REVOKE ALL ON FUNCTION warden.unblock_ip(text, text) FROM PUBLIC;

SELECT warden._grant_execute('warden.unblock_ip(text, text)', 'warden_admin');
