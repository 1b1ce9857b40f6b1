-- warden._failed_login_burst_before(p_user_id text, p_ip inet,
--                                   p_at timestamptz, p_lookback interval)
-- RETURNS text
--
-- Whether a failed-login burst (as the rules failed_login_burst_user and
-- failed_login_burst_ip define it, with their current thresholds and
-- windows, enabled or not) for this user or from this address ended within
-- p_lookback before p_at. Returns the name of the rule that matched, or
-- NULL. Used by compromise_with_data_access.
CREATE OR REPLACE FUNCTION warden._failed_login_burst_before(
    p_user_id text,
    p_ip inet,
    p_at timestamptz,
    p_lookback interval
)
RETURNS text
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_rule warden.detection_rules;
    v_hit boolean;
BEGIN
    SELECT * INTO v_rule
    FROM warden.detection_rules AS r
    WHERE r.rule = 'failed_login_burst_user';
    SELECT EXISTS (
        SELECT 1
        FROM (
            SELECT
                e.created_at,
                count(*) OVER (
                    ORDER BY e.created_at
                    RANGE BETWEEN v_rule.time_window PRECEDING
                    AND CURRENT ROW
                ) AS n
            FROM warden.security_audit_log AS e
            WHERE e.event_type = 'login_failed'
                AND e.source <> 'pgwarden'
                AND left(coalesce(e.user_id,
                    nullif(btrim(e.metadata ->> 'attempted_user'), '')), 256)
                = p_user_id
                AND e.created_at
                BETWEEN p_at - p_lookback - v_rule.time_window AND p_at
        ) AS w
        WHERE w.n > v_rule.threshold
            AND w.created_at >= p_at - p_lookback
    )
    INTO v_hit;
    IF v_hit THEN
        RETURN v_rule.rule;
    END IF;
    IF p_ip IS NULL THEN
        RETURN NULL;
    END IF;

    SELECT * INTO v_rule
    FROM warden.detection_rules AS r
    WHERE r.rule = 'failed_login_burst_ip';
    SELECT EXISTS (
        SELECT 1
        FROM (
            SELECT
                e.created_at,
                count(*) OVER (
                    ORDER BY e.created_at
                    RANGE BETWEEN v_rule.time_window PRECEDING
                    AND CURRENT ROW
                ) AS n
            FROM warden.security_audit_log AS e
            WHERE e.event_type = 'login_failed'
                AND e.source <> 'pgwarden'
                AND (CASE WHEN family(e.ip_address) = 6
                    THEN network(set_masklen(e.ip_address, 64))
                    ELSE e.ip_address END)
                = warden._address_subject(p_ip)
                AND e.created_at
                BETWEEN p_at - p_lookback - v_rule.time_window AND p_at
        ) AS w
        WHERE w.n > v_rule.threshold
            AND w.created_at >= p_at - p_lookback
    )
    INTO v_hit;
    RETURN CASE WHEN v_hit THEN v_rule.rule END;
END
$$;

COMMENT ON FUNCTION warden._failed_login_burst_before(
    text, inet, timestamptz, interval
) IS
'Private: the failed-login burst rule (user or address) that ended within '
'the look-back before a time, or NULL.';

REVOKE ALL ON FUNCTION warden._failed_login_burst_before(
    text, inet, timestamptz, interval
) FROM PUBLIC;
