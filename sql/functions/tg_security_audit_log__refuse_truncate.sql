-- warden.tg_security_audit_log__refuse_truncate() RETURNS trigger
--
-- BEFORE TRUNCATE on the event log and each partition: refused with an
-- error. Unlike UPDATE and DELETE, a TRUNCATE cannot be skipped, and the
-- error rolls back any record of it; the attempt shows in the server log
-- and, if a superuser forces it, in warden.verify_audit_log.
CREATE OR REPLACE FUNCTION warden.tg_security_audit_log__refuse_truncate()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE LOG 'pgwarden: TRUNCATE of %.% refused (session_user %)',
        TG_TABLE_SCHEMA, TG_TABLE_NAME, session_user;
    RAISE EXCEPTION 'pgwarden: TRUNCATE of %.% is refused',
        TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege',
            DETAIL = 'warden.security_audit_log is append-only.',
            HINT = 'Retention is done with warden.drop_log_partitions.';
END
$$;

COMMENT ON FUNCTION warden.tg_security_audit_log__refuse_truncate() IS
'Trigger: refuse TRUNCATE of the event log.';

REVOKE ALL ON FUNCTION warden.tg_security_audit_log__refuse_truncate()
FROM PUBLIC;
