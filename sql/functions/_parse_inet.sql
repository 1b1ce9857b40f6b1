-- warden._parse_inet(p_value text) RETURNS inet
--
-- Parses a client address or network. Returns NULL when the text is not an
-- address, so that callers can keep the raw text instead of failing. An
-- IPv4-mapped IPv6 address (::ffff:a.b.c.d) becomes the IPv4 address.
CREATE OR REPLACE FUNCTION warden._parse_inet(
    p_value text
)
RETURNS inet
LANGUAGE plpgsql
IMMUTABLE
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_trimmed text := btrim(p_value);
    v_inet inet;
BEGIN
    IF v_trimmed IS NULL OR v_trimmed = '' THEN
        RETURN NULL;
    END IF;
    -- The common case, a dotted quad, needs no subtransaction.
    IF v_trimmed ~ ('^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}'
        || '(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$') THEN
        RETURN v_trimmed::inet;
    END IF;
    IF v_trimmed !~ '^[0-9A-Fa-f:.]+(/[0-9]{1,3})?$' THEN
        RETURN NULL;
    END IF;
    BEGIN
        v_inet := v_trimmed::inet;
    EXCEPTION
        WHEN invalid_text_representation THEN
            RETURN NULL;
    END;
    IF family(v_inet) = 6 AND v_inet <<= inet '::ffff:0.0.0.0/96' THEN
        v_inet := set_masklen(
            inet '0.0.0.0' + (v_inet - inet '::ffff:0.0.0.0'),
            greatest(masklen(v_inet) - 96, 0)
        );
    END IF;
    RETURN v_inet;
END
$$;

COMMENT ON FUNCTION warden._parse_inet(text) IS
'Private: parse an address or network, NULL when it is not one; '
'IPv4-mapped IPv6 becomes IPv4.';

REVOKE ALL ON FUNCTION warden._parse_inet(text) FROM PUBLIC;
