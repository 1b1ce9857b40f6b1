-- warden._respond_to_alert(p_alert warden.alerts) RETURNS jsonb
--
-- Applies the automatic response of the alert's rule (response and
-- response_duration of warden.detection_rules) through the containment
-- functions, passing the alert id so that lifting the alert lifts what it
-- caused: lock_account, suspend_account (a lock of kind suspend),
-- block_ip, lock_and_revoke (lock and revoke_sessions). refuse and none
-- do nothing here: refusing is done where pgwarden enforces access.
-- Returns what was done, for the security_alert event.
--
-- Old events get no response: when the alert's last event lies further
-- back than the response would last (response_duration, or 24 hours when
-- it is open-ended), the lock or block would already have ended, so an
-- import of last year's logs alerts but locks nobody today.
--
-- A failing response must not lose the alert, nor fail the statement that
-- stored the events (the real-time trigger runs inside it): the error is
-- caught, raised as a WARNING and returned, and the alert stands.
CREATE OR REPLACE FUNCTION warden._respond_to_alert(
    p_alert warden.alerts
)
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_rule warden.detection_rules;
    v_reason text;
    v_done jsonb := '{}';
BEGIN
    SELECT * INTO v_rule
    FROM warden.detection_rules AS r
    WHERE r.rule = p_alert.rule;
    IF v_rule.response IN ('none', 'refuse') OR v_rule.response IS NULL THEN
        RETURN jsonb_build_object('response', coalesce(v_rule.response,
            'none'));
    END IF;
    IF to_regproc('warden.lock_account') IS NULL
        OR to_regproc('warden.block_ip') IS NULL
        OR to_regproc('warden.revoke_sessions') IS NULL THEN
        RAISE WARNING 'pgwarden: alert % wants response % but containment '
            'is not installed', p_alert.id, v_rule.response;
        RETURN jsonb_build_object('response', v_rule.response,
            'error', 'containment functions are not installed');
    END IF;
    IF p_alert.last_seen
        + coalesce(v_rule.response_duration, interval '24 hours') < now() THEN
        RETURN jsonb_build_object('response', v_rule.response,
            'skipped', 'the events are older than the response would last');
    END IF;
    v_reason := format('pgwarden alert %s: %s (%s)', p_alert.id,
        p_alert.rule, p_alert.subject);
    v_done := jsonb_build_object('response', v_rule.response,
        'duration', v_rule.response_duration::text);
    BEGIN
        IF v_rule.response IN ('lock_account', 'suspend_account',
            'lock_and_revoke') THEN
            IF p_alert.user_id IS NULL THEN
                RETURN v_done || '{"skipped": "no user to lock"}';
            END IF;
            v_done := v_done || jsonb_build_object(
                'lock_id',
                warden.lock_account(
                    user_id => p_alert.user_id,
                    duration => v_rule.response_duration,
                    reason => v_reason,
                    alert_id => p_alert.id,
                    kind => CASE v_rule.response
                        WHEN 'suspend_account' THEN 'suspend'
                        ELSE 'lock' END
                )
            );
            IF v_rule.response = 'lock_and_revoke' THEN
                v_done := v_done || jsonb_build_object(
                    'revocation_id',
                    warden.revoke_sessions(
                        user_id => p_alert.user_id,
                        reason => v_reason,
                        alert_id => p_alert.id
                    )
                );
            END IF;
        ELSIF v_rule.response = 'block_ip' THEN
            IF p_alert.ip_address IS NULL THEN
                RETURN v_done || '{"skipped": "no address to block"}';
            END IF;
            v_done := v_done || jsonb_build_object(
                'block_id',
                warden.block_ip(
                    address => abbrev(p_alert.ip_address),
                    duration => v_rule.response_duration,
                    reason => v_reason,
                    alert_id => p_alert.id
                )
            );
        END IF;
    EXCEPTION
        WHEN OTHERS THEN
            RAISE WARNING 'pgwarden: response % to alert % failed: %',
                v_rule.response, p_alert.id, SQLERRM
                USING HINT = 'The alert stands; contain the threat by hand.';
            v_done := v_done || jsonb_build_object(
                'error', SQLERRM, 'sqlstate', SQLSTATE);
    END;
    RETURN v_done;
END
$$;

COMMENT ON FUNCTION warden._respond_to_alert(warden.alerts) IS
'Private: apply the automatic response of an alert''s rule (lock, '
'suspend, block, revoke) and return what was done.';

REVOKE ALL ON FUNCTION warden._respond_to_alert(warden.alerts) FROM PUBLIC;
