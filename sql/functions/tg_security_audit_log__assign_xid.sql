-- warden.tg_security_audit_log__assign_xid() RETURNS trigger
--
-- BEFORE INSERT, once per statement: gives the inserting transaction its
-- transaction id before any row of the statement draws an event id. The
-- scheduled run (warden.check_customer_data_access_alerts) relies on it:
-- it treats every id below the highest it read as final once every
-- transaction that was in flight then has ended, which holds only if no
-- transaction can hold an id yet get its transaction id later. Without
-- this, a statement that draws ids first (a COPY buffers up to a thousand
-- rows before writing) could slip between the two.
CREATE OR REPLACE FUNCTION warden.tg_security_audit_log__assign_xid()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM pg_current_xact_id();
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION warden.tg_security_audit_log__assign_xid() IS
'Trigger: assign the transaction id before a statement draws event ids, '
'so that the scheduled detection run can tell when ids are final.';

REVOKE ALL ON FUNCTION warden.tg_security_audit_log__assign_xid()
FROM PUBLIC;
