-- warden.tg_security_audit_log__record_tamper() RETURNS trigger
--
-- BEFORE UPDATE OR DELETE, once per statement on the event log or one of
-- its partitions: records the attempt as an audit_tamper_attempt event and
-- warns the caller that nothing was changed.
CREATE OR REPLACE FUNCTION warden.tg_security_audit_log__record_tamper()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_OP = 'DELETE'
        AND current_setting('warden.partition_maintenance', true) = 'on' THEN
        RETURN NULL;
    END IF;
    PERFORM warden._log_internal(
        'audit_tamper_attempt',
        jsonb_build_object(
            'operation', TG_OP,
            'table', format('%I.%I', TG_TABLE_SCHEMA, TG_TABLE_NAME),
            'session_user', session_user,
            'current_user', current_user,
            'query', left(current_query(), 2000)
        )
    );
    RAISE WARNING 'pgwarden: % of the event log refused and recorded', TG_OP
        USING ERRCODE = 'insufficient_privilege',
            DETAIL = 'warden.security_audit_log is append-only; no row '
                || 'was changed.',
            HINT = 'Retention is done with warden.drop_log_partitions.';
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION warden.tg_security_audit_log__record_tamper() IS
'Trigger: record an UPDATE or DELETE attempt on the event log as an '
'audit_tamper_attempt event.';

REVOKE ALL ON FUNCTION warden.tg_security_audit_log__record_tamper()
FROM PUBLIC;
