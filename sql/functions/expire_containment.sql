-- warden.expire_containment() RETURNS integer
--
-- Records the end of locks and blocks whose expiry has passed: marks them
-- lifted at their expiry by pgwarden and writes an account_unlocked or
-- ip_unblocked event for each. Expired locks already stop counting in
-- warden.is_account_locked without this; the scheduler calls it so that
-- the log shows when they ended. Returns the number recorded.
--
-- SECURITY DEFINER so that the scheduler (warden_admin) can run it.
CREATE OR REPLACE FUNCTION warden.expire_containment()
RETURNS integer
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_row record;
    v_count integer := 0;
BEGIN
    FOR v_row IN
        UPDATE warden.account_locks AS l
        SET lifted_at = l.expires_at,
            lifted_by = 'pgwarden',
            lift_reason = 'expired'
        WHERE l.lifted_at IS NULL
            AND l.expires_at <= now()
        RETURNING l.id, l.user_id, l.expires_at, l.alert_id
    LOOP
        PERFORM warden._log_internal(
            'account_unlocked',
            jsonb_build_object(
                'lock_ids', jsonb_build_array(v_row.id),
                'reason', 'expired',
                'expired_at', v_row.expires_at,
                'alert_id', v_row.alert_id,
                'lifted_by', 'pgwarden'
            ),
            v_row.user_id
        );
        v_count := v_count + 1;
    END LOOP;

    FOR v_row IN
        UPDATE warden.ip_blocks AS b
        SET lifted_at = b.expires_at,
            lifted_by = 'pgwarden',
            lift_reason = 'expired'
        WHERE b.lifted_at IS NULL
            AND b.expires_at <= now()
        RETURNING b.id, b.network, b.expires_at, b.alert_id
    LOOP
        PERFORM warden._log_internal(
            'ip_unblocked',
            jsonb_build_object(
                'block_ids', jsonb_build_array(v_row.id),
                'reason', 'expired',
                'expired_at', v_row.expires_at,
                'alert_id', v_row.alert_id,
                'lifted_by', 'pgwarden'
            ),
            NULL,
            v_row.network
        );
        v_count := v_count + 1;
    END LOOP;
    RETURN v_count;
END
$$;

COMMENT ON FUNCTION warden.expire_containment() IS
'Record the end of expired locks and blocks as events (run by the '
'scheduler); returns how many were recorded.';

REVOKE ALL ON FUNCTION warden.expire_containment() FROM PUBLIC;

SELECT warden._grant_execute('warden.expire_containment()', 'warden_admin');
