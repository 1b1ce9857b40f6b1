-- warden._log_internal(p_event_type text, p_metadata jsonb,
--                      p_user_id text DEFAULT NULL,
--                      p_ip_address inet DEFAULT NULL,
--                      p_risk_score integer DEFAULT NULL)
-- RETURNS bigint
--
-- Writes an event that pgwarden itself produces (locks, alerts, tamper
-- attempts, retention), marked with source 'pgwarden' so that the rules
-- never feed on their own output.
CREATE OR REPLACE FUNCTION warden._log_internal(
    p_event_type text,
    p_metadata jsonb,
    p_user_id text DEFAULT NULL,
    p_ip_address inet DEFAULT NULL,
    p_risk_score integer DEFAULT NULL
)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_role text := current_setting('role');
    v_id bigint;
BEGIN
    INSERT INTO warden.security_audit_log (
        user_id, event_type, metadata, risk_score, ip_address, db_role,
        session_id, source
    )
    SELECT
        p_user_id,
        t.event_type,
        coalesce(p_metadata, '{}'::jsonb),
        coalesce(p_risk_score, t.default_risk_score),
        p_ip_address,
        CASE WHEN v_role = 'none' THEN session_user ELSE v_role END,
        warden._session_id(),
        'pgwarden'
    FROM warden.event_types AS t
    WHERE t.event_type = p_event_type
    RETURNING id INTO v_id;
    IF v_id IS NULL THEN
        RAISE EXCEPTION 'pgwarden: unknown internal event type "%"',
            p_event_type
            USING ERRCODE = 'invalid_parameter_value',
                HINT = 'This is a bug in pgwarden: its own event types '
                    || 'must be in warden.event_types.';
    END IF;
    RETURN v_id;
END
$$;

COMMENT ON FUNCTION warden._log_internal(text, jsonb, text, inet, integer) IS
'Private: record an event produced by pgwarden itself (source pgwarden).';

REVOKE ALL ON FUNCTION warden._log_internal(text, jsonb, text, inet, integer)
FROM PUBLIC;
