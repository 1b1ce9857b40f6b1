-- warden.unlock_account(user_id text, reason text) RETURNS integer
--
-- Lifts every active lock of an account early and records an
-- account_unlocked event. Returns the number of locks lifted (0 when the
-- account was not locked; nothing is recorded then).
--
-- SECURITY DEFINER so that the security manager need not write the locks
-- table directly; EXECUTE is granted to warden_admin only, so a locked
-- application or analyst cannot lift a lock.
CREATE OR REPLACE FUNCTION warden.unlock_account(
    user_id text,
    reason text
)
RETURNS integer
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_user text := btrim(unlock_account.user_id);
    v_by text := warden.current_actor();
    v_ids bigint[];
BEGIN
    WITH lifted AS (
        UPDATE warden.account_locks AS l
        SET lifted_at = now(),
            lifted_by = v_by,
            lift_reason = unlock_account.reason
        WHERE l.user_id = v_user
            AND l.lifted_at IS NULL
            AND (l.expires_at IS NULL OR l.expires_at > now())
        RETURNING l.id
    )
    SELECT array_agg(lifted.id ORDER BY lifted.id)
    INTO v_ids
    FROM lifted;

    IF v_ids IS NULL THEN
        RAISE DEBUG 'unlock_account: % had no active lock', v_user;
        RETURN 0;
    END IF;
    PERFORM warden._log_internal(
        'account_unlocked',
        jsonb_build_object(
            'lock_ids', to_jsonb(v_ids),
            'reason', unlock_account.reason,
            'lifted_by', v_by
        ),
        v_user
    );
    RETURN cardinality(v_ids);
END
$$;

COMMENT ON FUNCTION warden.unlock_account(text, text) IS
'Lift the active locks of an account early (security manager only); '
'records account_unlocked and returns the number of locks lifted.';

REVOKE ALL ON FUNCTION warden.unlock_account(text, text) FROM PUBLIC;

SELECT warden._grant_execute('warden.unlock_account(text, text)',
    'warden_admin');
