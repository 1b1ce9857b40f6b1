-- warden._protect_log_partition(p_partition regclass)
--
-- Statement-level and TRUNCATE triggers are not inherited by partitions, so
-- each partition of the event log gets its own: TRUNCATE of a partition is
-- refused and UPDATE or DELETE aimed at it directly is recorded, as on the
-- parent. Row-level triggers are cloned by PostgreSQL itself.
CREATE OR REPLACE FUNCTION warden._protect_log_partition(
    p_partition regclass
)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    EXECUTE format(
        'CREATE OR REPLACE TRIGGER security_audit_log_10_refuse_truncate '
        'BEFORE TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION '
        'warden.tg_security_audit_log__refuse_truncate()',
        p_partition
    );
    EXECUTE format(
        'CREATE OR REPLACE TRIGGER security_audit_log_10_record_tamper '
        'BEFORE UPDATE OR DELETE ON %s FOR EACH STATEMENT EXECUTE FUNCTION '
        'warden.tg_security_audit_log__record_tamper()',
        p_partition
    );
    EXECUTE format(
        'ALTER TABLE %s ENABLE ALWAYS TRIGGER '
        'security_audit_log_10_refuse_truncate',
        p_partition
    );
    EXECUTE format(
        'ALTER TABLE %s ENABLE ALWAYS TRIGGER '
        'security_audit_log_10_record_tamper',
        p_partition
    );
    EXECUTE format(
        'ALTER TABLE %s ENABLE ALWAYS TRIGGER '
        'security_audit_log_20_refuse_change',
        p_partition
    );
END
$$;

COMMENT ON FUNCTION warden._protect_log_partition(regclass) IS
'Private: give one partition of the event log the append-only triggers that '
'partitions do not inherit.';

REVOKE ALL ON FUNCTION warden._protect_log_partition(regclass) FROM PUBLIC;
