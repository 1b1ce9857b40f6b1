-- warden._login_location_is_new(p_user_id text, p_ip inet, p_country text,
--                               p_at timestamptz, p_id bigint,
--                               p_window interval) RETURNS boolean
--
-- Whether a successful login comes from a location the user has not
-- logged in from within p_window before it. The location is
-- metadata.country when both logins report one, else the network (IPv4
-- /24, IPv6 /64). NULL when it cannot be judged: the user's first login
-- ever, or a login with neither address nor country.
--
-- No SET search_path: a SQL-standard body is resolved when the function
-- is created, so the caller's path cannot change what it means, and
-- without a SET clause PostgreSQL can inline it into the calling query.
CREATE OR REPLACE FUNCTION warden._login_location_is_new(
    p_user_id text,
    p_ip inet,
    p_country text,
    p_at timestamptz,
    p_id bigint,
    p_window interval
)
RETURNS boolean
LANGUAGE sql
STABLE
RETURN CASE
    WHEN p_ip IS NULL AND nullif(btrim(p_country), '') IS NULL THEN NULL
    WHEN NOT EXISTS (
        SELECT 1
        FROM warden.security_audit_log AS p
        WHERE p.event_type = 'login_success'
            AND p.user_id = p_user_id
            AND p.source <> 'pgwarden'
            AND p.created_at <= p_at
            AND (p.created_at < p_at OR p.id < p_id)
    ) THEN NULL
    ELSE NOT EXISTS (
        SELECT 1
        FROM warden.security_audit_log AS p
        WHERE p.event_type = 'login_success'
            AND p.user_id = p_user_id
            AND p.source <> 'pgwarden'
            AND p.created_at >= p_at - p_window
            AND p.created_at <= p_at
            AND (p.created_at < p_at OR p.id < p_id)
            AND CASE
                WHEN nullif(btrim(p_country), '') IS NOT NULL
                    AND nullif(btrim(p.metadata ->> 'country'), '')
                    IS NOT NULL
                    THEN upper(btrim(p.metadata ->> 'country'))
                    = upper(btrim(p_country))
                ELSE warden._location_network(p.ip_address)
                    = warden._location_network(p_ip)
            END
    )
END;

COMMENT ON FUNCTION warden._login_location_is_new(
    text, inet, text, timestamptz, bigint, interval
) IS
'Private: whether a login comes from a location (country, else network) '
'not seen for the user within the window; NULL for a first login.';

REVOKE ALL ON FUNCTION warden._login_location_is_new(
    text, inet, text, timestamptz, bigint, interval
) FROM PUBLIC;
