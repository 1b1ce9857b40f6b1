-- warden.tg_security_audit_log__check_types() RETURNS trigger
--
-- AFTER INSERT, once per statement: rows that reach the log without
-- warden.log_event (COPY by the importer, INSERT by the owner) must name a
-- known event type too. One join over the new rows, so a COPY of many
-- events is checked once.
CREATE OR REPLACE FUNCTION warden.tg_security_audit_log__check_types()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_bad text;
BEGIN
    SELECT n.event_type
    INTO v_bad
    FROM new_rows AS n
    WHERE NOT EXISTS (
        SELECT 1 FROM warden.event_types AS t
        WHERE t.event_type = n.event_type
    )
    LIMIT 1;
    IF v_bad IS NOT NULL THEN
        RAISE EXCEPTION 'pgwarden: unknown event type "%"', v_bad
            USING ERRCODE = 'invalid_parameter_value',
                DETAIL = 'No row of this statement was stored.',
                HINT = 'Allowed event types: ' || (
                    SELECT string_agg(t.event_type, ', '
                        ORDER BY t.event_type)
                    FROM warden.event_types AS t
                ) || '. A DBA adds types to warden.event_types.';
    END IF;
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION warden.tg_security_audit_log__check_types() IS
'Trigger: refuse a statement that stores events of an unknown type.';

REVOKE ALL ON FUNCTION warden.tg_security_audit_log__check_types()
FROM PUBLIC;
