-- warden.assert_access_allowed() RETURNS void
--
-- Raises SQLSTATE 42501 (insufficient_privilege) when the current actor is
-- locked, blocked by address or revoked, with a hint naming the lock or
-- block and the incident behind it; returns quietly otherwise. The
-- triggers of watched tables call it before every write.
--
-- SECURITY DEFINER for the same reason as warden.access_allowed.
CREATE OR REPLACE FUNCTION warden.assert_access_allowed()
RETURNS void
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_denial jsonb := warden._access_denial();
    v_what text;
    v_incident text;
BEGIN
    IF v_denial IS NULL THEN
        RETURN;
    END IF;
    v_what := CASE v_denial ->> 'reason'
        WHEN 'ip_blocked' THEN format('block %s of %s',
            v_denial ->> 'block_id', v_denial ->> 'network')
        WHEN 'session_revoked' THEN format('session revocation %s',
            v_denial ->> 'revocation_id')
        ELSE format('lock %s on %s', v_denial ->> 'lock_id',
            v_denial ->> 'user_id') END;
    v_incident := CASE
        WHEN v_denial ->> 'incident' IS NOT NULL
            THEN format(' (incident %s)', v_denial ->> 'incident')
        WHEN v_denial ->> 'alert_id' IS NOT NULL
            THEN format(' (alert %s)', v_denial ->> 'alert_id')
        ELSE '' END;
    RAISE LOG 'pgwarden: access refused to % by %', v_denial ->> 'actor',
        v_what;
    RAISE EXCEPTION 'pgwarden: access refused to "%": %',
        v_denial ->> 'actor', replace(v_denial ->> 'reason', '_', ' ')
        USING ERRCODE = 'insufficient_privilege',
            DETAIL = v_denial::text,
            HINT = format('Refused by %s%s%s. A security manager lifts it '
                'with warden.unlock_account, warden.unblock_ip or '
                'warden.lift_alert_containment.', v_what, v_incident,
                CASE WHEN v_denial ->> 'expires_at' IS NOT NULL
                    THEN ', until ' || (v_denial ->> 'expires_at')
                    ELSE '' END);
END
$$;

COMMENT ON FUNCTION warden.assert_access_allowed() IS
'Raise 42501, with a hint naming the lock, block or incident, when the '
'current actor is not allowed; return quietly otherwise.';

REVOKE ALL ON FUNCTION warden.assert_access_allowed() FROM PUBLIC;

SELECT warden._grant_execute('warden.assert_access_allowed()', role_name)
FROM unnest(ARRAY['warden_app', 'warden_analyst', 'warden_admin']::name[])
    AS role_name;
