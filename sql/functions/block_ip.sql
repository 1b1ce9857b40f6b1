-- warden.block_ip(address text, duration interval, reason text,
--                 alert_id bigint DEFAULT NULL) RETURNS bigint
--
-- Blocks a client address or network for duration (NULL: until lifted)
-- and records an ip_blocked event. Returns the block id. A second call for
-- the same network and alert while that block is active returns the same
-- block, moving its expiry later if needed.
--
-- SECURITY DEFINER because warden_admin and the rules write the blocks and
-- the log through this function only; EXECUTE is granted to warden_admin.
CREATE OR REPLACE FUNCTION warden.block_ip(
    address text,
    duration interval,
    reason text,
    alert_id bigint DEFAULT NULL
)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_network inet := warden._parse_inet(block_ip.address);
    v_expires timestamptz := now() + block_ip.duration;
    v_by text;
    v_id bigint;
BEGIN
    IF v_network IS NULL THEN
        RAISE EXCEPTION 'pgwarden: "%" is not an address or network',
            block_ip.address
            USING ERRCODE = 'invalid_text_representation',
                HINT = 'Give an IPv4 or IPv6 address, or a network such '
                    || 'as 203.0.113.0/24.';
    END IF;
    IF block_ip.duration <= interval '0' THEN
        RAISE EXCEPTION 'pgwarden: block duration % is not positive',
            block_ip.duration
            USING ERRCODE = 'invalid_parameter_value',
                HINT = 'Give a positive interval, or NULL to block until '
                    || 'lifted.';
    END IF;
    v_network := network(v_network)::inet;
    v_by := CASE WHEN block_ip.alert_id IS NOT NULL THEN 'pgwarden'
        ELSE warden.current_actor() END;

    IF block_ip.alert_id IS NOT NULL THEN
        UPDATE warden.ip_blocks AS b
        SET expires_at = CASE
            WHEN b.expires_at IS NULL OR v_expires IS NULL THEN NULL
            ELSE greatest(b.expires_at, v_expires) END
        WHERE b.network = v_network
            AND b.alert_id = block_ip.alert_id
            AND b.lifted_at IS NULL
            AND (b.expires_at IS NULL OR b.expires_at > now())
        RETURNING b.id INTO v_id;
        IF v_id IS NOT NULL THEN
            RETURN v_id;
        END IF;
    END IF;

    INSERT INTO warden.ip_blocks (
        network, reason, blocked_by, expires_at, alert_id
    )
    VALUES (
        v_network,
        coalesce(nullif(btrim(block_ip.reason), ''), 'no reason given'),
        v_by,
        v_expires,
        block_ip.alert_id
    )
    RETURNING id INTO v_id;

    PERFORM warden._log_internal(
        'ip_blocked',
        jsonb_build_object(
            'block_id', v_id,
            'network', v_network::text,
            'reason', block_ip.reason,
            'expires_at', v_expires,
            'alert_id', block_ip.alert_id,
            'blocked_by', v_by
        ),
        NULL,
        v_network
    );
    RETURN v_id;
END
$$;

COMMENT ON FUNCTION warden.block_ip(text, interval, text, bigint) IS
'Block an address or network for a duration (NULL: until lifted); records '
'an ip_blocked event and returns the block id.';

REVOKE ALL ON FUNCTION warden.block_ip(text, interval, text, bigint)
FROM PUBLIC;

SELECT warden._grant_execute(
    'warden.block_ip(text, interval, text, bigint)', 'warden_admin'
);
