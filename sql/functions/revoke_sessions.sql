-- warden.revoke_sessions(user_id text, reason text,
--                        alert_id bigint DEFAULT NULL) RETURNS bigint
--
-- Revokes the sessions of an account: records the revocation (tokens
-- issued before it are then refused by warden.access_allowed), records a
-- session_revoked event, sends NOTIFY warden_sessions with a JSON payload
-- for applications that LISTEN, and ends the database sessions of the
-- roles mapped to the user in warden.user_db_roles where the installing
-- role may (superuser, pg_signal_backend, or member of the role). Says in
-- a NOTICE, and in the event, when some could not be ended. Returns the
-- revocation id.
--
-- SECURITY DEFINER so that ending sessions uses the installer's rights;
-- EXECUTE is granted to warden_admin.
CREATE OR REPLACE FUNCTION warden.revoke_sessions(
    user_id text,
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
    v_user text := btrim(revoke_sessions.user_id);
    v_by text;
    v_session record;
    v_ended integer := 0;
    v_refused integer := 0;
    v_roles name[];
    v_id bigint;
BEGIN
    IF v_user IS NULL OR v_user = '' THEN
        RAISE EXCEPTION 'pgwarden: cannot revoke sessions without a user id'
            USING ERRCODE = 'invalid_parameter_value',
                HINT = 'Give the application user id.';
    END IF;
    v_by := CASE WHEN revoke_sessions.alert_id IS NOT NULL THEN 'pgwarden'
        ELSE warden.current_actor() END;

    SELECT array_agg(m.db_role ORDER BY m.db_role)
    INTO v_roles
    FROM warden.user_db_roles AS m
    WHERE m.user_id = v_user;

    FOR v_session IN
        SELECT a.pid, a.usename
        FROM pg_catalog.pg_stat_activity AS a
        WHERE a.usename = ANY (v_roles)
            AND a.pid <> pg_backend_pid()
    LOOP
        BEGIN
            IF pg_terminate_backend(v_session.pid) THEN
                v_ended := v_ended + 1;
            END IF;
        EXCEPTION
            WHEN insufficient_privilege THEN
                v_refused := v_refused + 1;
        END;
    END LOOP;

    INSERT INTO warden.session_revocations (
        user_id, reason, revoked_by, alert_id, sessions_ended,
        sessions_not_ended
    )
    VALUES (
        v_user,
        coalesce(nullif(btrim(revoke_sessions.reason), ''),
            'no reason given'),
        v_by,
        revoke_sessions.alert_id,
        v_ended,
        v_refused
    )
    RETURNING id INTO v_id;

    PERFORM warden._log_internal(
        'session_revoked',
        jsonb_build_object(
            'revocation_id', v_id,
            'reason', revoke_sessions.reason,
            'alert_id', revoke_sessions.alert_id,
            'revoked_by', v_by,
            'db_roles', to_jsonb(coalesce(v_roles, '{}')),
            'sessions_ended', v_ended,
            'sessions_not_ended', v_refused
        ),
        v_user
    );
    PERFORM pg_notify(
        'warden_sessions',
        jsonb_build_object(
            'revocation_id', v_id,
            'user_id', v_user,
            'reason', revoke_sessions.reason,
            'alert_id', revoke_sessions.alert_id,
            'revoked_at', now()
        )::text
    );
    IF v_refused > 0 THEN
        RAISE NOTICE 'pgwarden: % database sessions of % could not be ended',
            v_refused, v_user
            USING DETAIL = format('Roles %s; the role that installed '
                'pgwarden may not signal their backends.', v_roles),
                HINT = 'GRANT pg_signal_backend TO the installing role, '
                    || 'or end them with pg_terminate_backend as a '
                    || 'superuser.';
    END IF;
    RETURN v_id;
END
$$;

COMMENT ON FUNCTION warden.revoke_sessions(text, text, bigint) IS
'Revoke an account''s sessions: record it, NOTIFY warden_sessions, end the '
'database sessions of mapped roles where allowed; returns the revocation '
'id.';

REVOKE ALL ON FUNCTION warden.revoke_sessions(text, text, bigint)
FROM PUBLIC;

SELECT warden._grant_execute(
    'warden.revoke_sessions(text, text, bigint)', 'warden_admin'
);
