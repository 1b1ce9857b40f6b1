-- warden.lift_alert_containment(alert_id bigint, reason text)
-- RETURNS integer
--
-- Lifts every active lock and block that one alert caused (for example
-- when its incident turns out to be a false positive), recording an
-- account_unlocked or ip_unblocked event for each account or network.
-- Returns the number of locks and blocks lifted.
--
-- SECURITY DEFINER; EXECUTE is granted to warden_admin only.
CREATE OR REPLACE FUNCTION warden.lift_alert_containment(
    alert_id bigint,
    reason text
)
RETURNS integer
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_by text := warden.current_actor();
    v_row record;
    v_count integer := 0;
BEGIN
    FOR v_row IN
        WITH lifted AS (
            UPDATE warden.account_locks AS l
            SET lifted_at = now(),
                lifted_by = v_by,
                lift_reason = lift_alert_containment.reason
            WHERE l.alert_id = lift_alert_containment.alert_id
                AND l.lifted_at IS NULL
                AND (l.expires_at IS NULL OR l.expires_at > now())
            RETURNING l.id, l.user_id
        )
        SELECT lifted.user_id, array_agg(lifted.id ORDER BY lifted.id) AS ids
        FROM lifted
        GROUP BY lifted.user_id
    LOOP
        PERFORM warden._log_internal(
            'account_unlocked',
            jsonb_build_object(
                'lock_ids', to_jsonb(v_row.ids),
                'reason', lift_alert_containment.reason,
                'alert_id', lift_alert_containment.alert_id,
                'lifted_by', v_by
            ),
            v_row.user_id
        );
        v_count := v_count + cardinality(v_row.ids);
    END LOOP;

    FOR v_row IN
        WITH lifted AS (
            UPDATE warden.ip_blocks AS b
            SET lifted_at = now(),
                lifted_by = v_by,
                lift_reason = lift_alert_containment.reason
            WHERE b.alert_id = lift_alert_containment.alert_id
                AND b.lifted_at IS NULL
                AND (b.expires_at IS NULL OR b.expires_at > now())
            RETURNING b.id, b.network
        )
        SELECT lifted.network, array_agg(lifted.id ORDER BY lifted.id) AS ids
        FROM lifted
        GROUP BY lifted.network
    LOOP
        PERFORM warden._log_internal(
            'ip_unblocked',
            jsonb_build_object(
                'block_ids', to_jsonb(v_row.ids),
                'reason', lift_alert_containment.reason,
                'alert_id', lift_alert_containment.alert_id,
                'lifted_by', v_by
            ),
            NULL,
            v_row.network
        );
        v_count := v_count + cardinality(v_row.ids);
    END LOOP;
    RETURN v_count;
END
$$;

COMMENT ON FUNCTION warden.lift_alert_containment(bigint, text) IS
'Lift every active lock and block an alert caused (security manager '
'only); returns how many were lifted.';

REVOKE ALL ON FUNCTION warden.lift_alert_containment(bigint, text)
FROM PUBLIC;

SELECT warden._grant_execute(
    'warden.lift_alert_containment(bigint, text)', 'warden_admin'
);
