-- warden._access_denial() RETURNS jsonb
--
-- Why the current actor may not proceed, or NULL when it may: an active
-- lock on the actor (or on an application user mapped to the current
-- database role, so that setting another app.user_id does not escape a
-- lock), an active block covering the client address (the connection's,
-- or app.client_ip when the application passes its end user's address),
-- or a revocation of the actor's sessions after its JWT was issued (iat).
-- The result names the lock, block or revocation, and the incident of the
-- alert behind it when the incidents area is installed.
--
-- SECURITY DEFINER: it reads the containment tables for callers that may
-- not; only pgwarden's own functions call it.
CREATE OR REPLACE FUNCTION warden._access_denial()
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_actor text := warden.current_actor();
    v_role text := current_setting('role');
    v_addr inet := warden._parse_inet(host(inet_client_addr()));
    v_app_addr inet := warden._parse_inet(
        current_setting('app.client_ip', true)
    );
    v_claims text := current_setting('request.jwt.claims', true);
    v_iat numeric;
    v_result jsonb;
    v_alert bigint;
    v_incident text;
BEGIN
    IF v_role IS NULL OR v_role = 'none' THEN
        v_role := session_user;
    END IF;

    SELECT
        jsonb_build_object(
            'reason', CASE l.kind WHEN 'suspend' THEN 'account_suspended'
                ELSE 'account_locked' END,
            'lock_id', l.id,
            'user_id', l.user_id,
            'actor', v_actor,
            'expires_at', l.expires_at,
            'lock_reason', l.reason
        ),
        l.alert_id
    INTO v_result, v_alert
    FROM warden.account_locks AS l
    WHERE l.lifted_at IS NULL
        AND (l.expires_at IS NULL OR l.expires_at > now())
        AND (l.user_id = v_actor
            OR l.user_id IN (
                SELECT m.user_id
                FROM warden.user_db_roles AS m
                WHERE m.db_role = v_role
            ))
    ORDER BY l.expires_at DESC NULLS FIRST, l.id
    LIMIT 1;

    IF v_result IS NULL AND (v_addr IS NOT NULL OR v_app_addr IS NOT NULL)
    THEN
        SELECT
            jsonb_build_object(
                'reason', 'ip_blocked',
                'block_id', b.id,
                'network', b.network::text,
                'actor', v_actor,
                'expires_at', b.expires_at,
                'block_reason', b.reason
            ),
            b.alert_id
        INTO v_result, v_alert
        FROM warden.ip_blocks AS b
        WHERE b.lifted_at IS NULL
            AND (b.expires_at IS NULL OR b.expires_at > now())
            AND (b.network >>= v_addr OR b.network >>= v_app_addr)
        ORDER BY b.expires_at DESC NULLS FIRST, b.id
        LIMIT 1;
    END IF;

    IF v_result IS NULL AND btrim(v_claims) <> '' THEN
        BEGIN
            v_iat := (v_claims::jsonb ->> 'iat')::numeric;
        EXCEPTION
            WHEN invalid_text_representation THEN
                v_iat := NULL;
        END;
        IF v_iat IS NOT NULL THEN
            SELECT
                jsonb_build_object(
                    'reason', 'session_revoked',
                    'revocation_id', r.id,
                    'user_id', r.user_id,
                    'actor', v_actor,
                    'revoked_at', r.revoked_at
                ),
                r.alert_id
            INTO v_result, v_alert
            FROM warden.session_revocations AS r
            WHERE r.user_id = v_actor
                AND r.revoked_at > to_timestamp(v_iat)
            ORDER BY r.revoked_at DESC
            LIMIT 1;
        END IF;
    END IF;

    IF v_result IS NULL THEN
        RETURN NULL;
    END IF;
    IF v_alert IS NOT NULL THEN
        v_result := v_result || jsonb_build_object('alert_id', v_alert);
        -- The incidents area may not be installed; look it up by name.
        IF to_regclass('warden.incidents') IS NOT NULL
            AND to_regclass('warden.alerts') IS NOT NULL THEN
            EXECUTE 'SELECT i.reference FROM warden.alerts AS a '
                'INNER JOIN warden.incidents AS i ON a.incident_id = i.id '
                'WHERE a.id = $1'
            INTO v_incident
            USING v_alert;
            v_result := v_result || jsonb_build_object('incident', v_incident);
        END IF;
    END IF;
    RETURN v_result;
END
$$;

COMMENT ON FUNCTION warden._access_denial() IS
'Private: why the current actor is refused (lock, block or revoked '
'session) as jsonb, or NULL when it may proceed.';

REVOKE ALL ON FUNCTION warden._access_denial() FROM PUBLIC;
