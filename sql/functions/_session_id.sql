-- warden._session_id() RETURNS text
--
-- The current database session in the form of log_line_prefix %c (backend
-- start time and process id in hex), so that events can be matched with
-- server log lines. Read from the server's own activity record on every
-- call and never cached in a setting: any session may SET a custom
-- setting, so a cached value could be forged. The read costs a few
-- microseconds (the activity snapshot is taken once per transaction).
CREATE OR REPLACE FUNCTION warden._session_id()
RETURNS text
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN (
        SELECT format(
            '%s.%s',
            to_hex(trunc(extract(EPOCH FROM a.backend_start))::bigint),
            to_hex(a.pid)
        )
        FROM pg_catalog.pg_stat_get_activity(pg_catalog.pg_backend_pid())
            AS a
    );
END
$$;

COMMENT ON FUNCTION warden._session_id() IS
'Private: the current session as in log_line_prefix %c.';

REVOKE ALL ON FUNCTION warden._session_id() FROM PUBLIC;
