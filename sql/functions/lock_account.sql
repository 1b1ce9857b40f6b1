-- warden.lock_account(user_id text, duration interval, reason text,
--                     alert_id bigint DEFAULT NULL,
--                     kind text DEFAULT 'lock') RETURNS bigint
--
-- Locks an application account (kind 'suspend' for a rate-limit pause)
-- for duration, or until lifted when duration is NULL, and records an
-- account_locked event. Returns the lock id. A second call for the same
-- user and alert while that lock is active returns the same lock, moving
-- its expiry later if needed, so that the real-time and the scheduled run
-- of a rule contain one attack once.
--
-- SECURITY DEFINER because warden_admin and the rules write the locks and
-- the log through this function only; EXECUTE is granted to warden_admin.
CREATE OR REPLACE FUNCTION warden.lock_account(
    user_id text,
    duration interval,
    reason text,
    alert_id bigint DEFAULT NULL,
    kind text DEFAULT 'lock'
)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_user text := btrim(lock_account.user_id);
    v_expires timestamptz := now() + lock_account.duration;
    v_by text;
    v_id bigint;
BEGIN
    IF v_user IS NULL OR v_user = '' THEN
        RAISE EXCEPTION 'pgwarden: cannot lock an account without a user id'
            USING ERRCODE = 'invalid_parameter_value',
                HINT = 'Give the application user id to lock.';
    END IF;
    IF lock_account.duration <= interval '0' THEN
        RAISE EXCEPTION 'pgwarden: lock duration % is not positive',
            lock_account.duration
            USING ERRCODE = 'invalid_parameter_value',
                HINT = 'Give a positive interval, or NULL to lock until '
                    || 'lifted.';
    END IF;
    IF coalesce(lock_account.kind, '') NOT IN ('lock', 'suspend') THEN
        RAISE EXCEPTION 'pgwarden: unknown lock kind "%"', lock_account.kind
            USING ERRCODE = 'invalid_parameter_value',
                HINT = 'Allowed kinds: lock, suspend.';
    END IF;
    -- Automatic responses act for pgwarden, not for the user whose event
    -- set off the rule.
    v_by := CASE WHEN lock_account.alert_id IS NOT NULL THEN 'pgwarden'
        ELSE warden.current_actor() END;

    IF lock_account.alert_id IS NOT NULL THEN
        UPDATE warden.account_locks AS l
        SET expires_at = CASE
            WHEN l.expires_at IS NULL OR v_expires IS NULL THEN NULL
            ELSE greatest(l.expires_at, v_expires) END
        WHERE l.user_id = v_user
            AND l.alert_id = lock_account.alert_id
            AND l.lifted_at IS NULL
            AND (l.expires_at IS NULL OR l.expires_at > now())
        RETURNING l.id INTO v_id;
        IF v_id IS NOT NULL THEN
            RETURN v_id;
        END IF;
    END IF;

    INSERT INTO warden.account_locks (
        user_id, kind, reason, locked_by, expires_at, alert_id
    )
    VALUES (
        v_user,
        lock_account.kind,
        coalesce(nullif(btrim(lock_account.reason), ''), 'no reason given'),
        v_by,
        v_expires,
        lock_account.alert_id
    )
    RETURNING id INTO v_id;

    PERFORM warden._log_internal(
        'account_locked',
        jsonb_build_object(
            'lock_id', v_id,
            'kind', lock_account.kind,
            'reason', lock_account.reason,
            'expires_at', v_expires,
            'alert_id', lock_account.alert_id,
            'locked_by', v_by
        ),
        v_user
    );
    RETURN v_id;
END
$$;

COMMENT ON FUNCTION warden.lock_account(text, interval, text, bigint, text)
IS
'Lock (or suspend) an account for a duration (NULL: until lifted); records '
'an account_locked event and returns the lock id.';

REVOKE ALL ON FUNCTION warden.lock_account(text, interval, text, bigint, text)
FROM PUBLIC;

SELECT warden._grant_execute(
    'warden.lock_account(text, interval, text, bigint, text)', 'warden_admin'
);
