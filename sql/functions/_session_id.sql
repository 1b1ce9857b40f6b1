-- warden._session_id() RETURNS text
--
-- The current database session in the form of log_line_prefix %c (backend
-- start time and process id in hex), so that events can be matched with
-- server log lines. Cached in a session setting after the first call.
CREATE OR REPLACE FUNCTION warden._session_id()
RETURNS text
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_id text := current_setting('warden.session_id', true);
BEGIN
    -- A value set by hand in another session's name is ignored.
    IF v_id IS NULL
        OR v_id NOT LIKE '%.' || to_hex(pg_backend_pid()) THEN
        SELECT format(
            '%s.%s',
            to_hex(trunc(extract(EPOCH FROM a.backend_start))::bigint),
            to_hex(a.pid)
        )
        INTO v_id
        FROM pg_catalog.pg_stat_get_activity(pg_backend_pid()) AS a;
        PERFORM set_config('warden.session_id', coalesce(v_id, ''), false);
    END IF;
    RETURN v_id;
END
$$;

COMMENT ON FUNCTION warden._session_id() IS
'Private: the current session as in log_line_prefix %c.';

REVOKE ALL ON FUNCTION warden._session_id() FROM PUBLIC;
