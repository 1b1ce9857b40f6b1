-- warden._seal_chain_digest(p_previous bytea, p_first bigint,
--                           p_last bigint, p_row_count bigint,
--                           p_month_digests jsonb) RETURNS bytea
--
-- The chained digest of a seal: sha256 over the previous seal's chain
-- digest and this seal's range, count and month digests. Changing or
-- removing any earlier seal changes every later chain digest.
CREATE OR REPLACE FUNCTION warden._seal_chain_digest(
    p_previous bytea,
    p_first bigint,
    p_last bigint,
    p_row_count bigint,
    p_month_digests jsonb
)
RETURNS bytea
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT sha256(
        coalesce(p_previous, '\x'::bytea)
        || convert_to(
            format('%s|%s|%s|%s', p_first, p_last, p_row_count,
                p_month_digests::text),
            'UTF8'
        )
    );
$$;

COMMENT ON FUNCTION warden._seal_chain_digest(
    bytea, bigint, bigint, bigint, jsonb
) IS
'Private: the chained sha256 digest of one seal of the event log.';

REVOKE ALL ON FUNCTION warden._seal_chain_digest(
    bytea, bigint, bigint, bigint, jsonb
) FROM PUBLIC;
