-- warden._capture_event(p_table_name text, p_relation text,
--                       p_operation text, p_record_count bigint,
--                       p_metadata jsonb) RETURNS bigint
--
-- Stores one customer_data_modify event for a statement on a watched
-- table, with the actor, the database role, the client address and the
-- application name of the session. Source 'trigger'. The address is the
-- end user's when the application passes it in app.client_ip (the
-- connection's address then goes to metadata.connection_address), else
-- the connection's.
CREATE OR REPLACE FUNCTION warden._capture_event(
    p_table_name text,
    p_relation text,
    p_operation text,
    p_record_count bigint,
    p_metadata jsonb
)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_role text := current_setting('role');
    v_connection inet := warden._parse_inet(host(inet_client_addr()));
    v_address inet := warden._parse_inet(
        current_setting('app.client_ip', true)
    );
    v_metadata jsonb;
    v_id bigint;
BEGIN
    IF v_role IS NULL OR v_role = 'none' THEN
        v_role := session_user;
    END IF;
    v_metadata := jsonb_build_object(
        'operation', p_operation,
        'application_name', current_setting('application_name', true)
    ) || coalesce(p_metadata, '{}'::jsonb);
    IF p_relation IS DISTINCT FROM p_table_name THEN
        v_metadata := v_metadata || jsonb_build_object('relation',
            p_relation);
    END IF;
    IF v_address IS NULL THEN
        v_address := v_connection;
    ELSIF v_connection <> v_address THEN
        v_metadata := v_metadata || jsonb_build_object('connection_address',
            host(v_connection));
    END IF;
    IF p_record_count > 2147483647 THEN
        v_metadata := v_metadata || jsonb_build_object('true_record_count',
            p_record_count);
    END IF;
    INSERT INTO warden.security_audit_log (
        user_id, event_type, metadata, risk_score, ip_address, table_name,
        record_count, db_role, session_id, source
    )
    SELECT
        warden.current_actor(),
        t.event_type,
        v_metadata,
        t.default_risk_score,
        v_address,
        p_table_name,
        least(p_record_count, 2147483647)::integer,
        v_role,
        warden._session_id(),
        'trigger'
    FROM warden.event_types AS t
    WHERE t.event_type = 'customer_data_modify'
    RETURNING id INTO v_id;
    RETURN v_id;
END
$$;

COMMENT ON FUNCTION warden._capture_event(text, text, text, bigint, jsonb)
IS
'Private: store the customer_data_modify event of one statement on a '
'watched table.';

REVOKE ALL ON FUNCTION warden._capture_event(text, text, text, bigint, jsonb)
FROM PUBLIC;
