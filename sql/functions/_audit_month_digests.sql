-- warden._audit_month_digests(p_first bigint, p_last bigint) RETURNS jsonb
--
-- The digest of the events with ids p_first..p_last, one per UTC month of
-- created_at: {"YYYY-MM": {"rows": n, "digest": "<sha256 hex>"}}. Each
-- event is written as a jsonb array of its columns in a fixed order, with
-- times as epoch seconds, so that neither the session's TimeZone nor
-- DateStyle nor a later column added to the log changes the digest. Per
-- month, so that dropping a month's partition for retention is told apart
-- from tampering.
CREATE OR REPLACE FUNCTION warden._audit_month_digests(
    p_first bigint,
    p_last bigint
)
RETURNS jsonb
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(jsonb_object_agg(m.month, jsonb_build_object(
        'rows', m.row_count,
        'digest', encode(m.digest, 'hex')
    )), '{}'::jsonb)
    FROM (
        SELECT
            to_char(l.created_at AT TIME ZONE 'UTC', 'YYYY-MM') AS month,
            count(*) AS row_count,
            sha256(convert_to(string_agg(
                jsonb_build_array(
                    l.id, l.user_id, l.event_type, l.metadata,
                    l.risk_score, extract(EPOCH FROM l.created_at),
                    host(l.ip_address), masklen(l.ip_address),
                    l.table_name, l.record_count, l.db_role, l.session_id,
                    l.source, extract(EPOCH FROM l.stored_at)
                )::text,
                E'\n' ORDER BY l.id
            ), 'UTF8')) AS digest
        FROM warden.security_audit_log AS l
        WHERE l.id BETWEEN p_first AND p_last
        GROUP BY 1
    ) AS m;
$$;

COMMENT ON FUNCTION warden._audit_month_digests(bigint, bigint) IS
'Private: sha256 digests of a range of events, one per UTC month.';

REVOKE ALL ON FUNCTION warden._audit_month_digests(bigint, bigint)
FROM PUBLIC;
