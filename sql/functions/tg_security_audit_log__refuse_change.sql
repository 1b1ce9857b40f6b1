-- warden.tg_security_audit_log__refuse_change() RETURNS trigger
--
-- BEFORE UPDATE OR DELETE, for each row of the event log: the change is
-- skipped, so the log stays append-only for every role whose triggers
-- fire. The attempt itself is recorded by the statement-level trigger
-- tg_security_audit_log__record_tamper. Only partition maintenance, inside
-- pgwarden's own functions, moves rows.
CREATE OR REPLACE FUNCTION warden.tg_security_audit_log__refuse_change()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_OP = 'DELETE'
        AND current_setting('warden.partition_maintenance', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION warden.tg_security_audit_log__refuse_change() IS
'Trigger: skip every UPDATE and DELETE of an event-log row.';

REVOKE ALL ON FUNCTION warden.tg_security_audit_log__refuse_change()
FROM PUBLIC;
