-- warden._merge_ids(p_a bigint[], p_b bigint[]) RETURNS bigint[]
--
-- The sorted union of two lists of event ids, for extending evidence.
CREATE OR REPLACE FUNCTION warden._merge_ids(
    p_a bigint [],
    p_b bigint []
)
RETURNS bigint []
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN ARRAY(
    SELECT DISTINCT x
    FROM unnest(coalesce(p_a, '{}') || coalesce(p_b, '{}')) AS x
    ORDER BY x
);

COMMENT ON FUNCTION warden._merge_ids(bigint [], bigint []) IS
'Private: sorted union of two lists of event ids.';

REVOKE ALL ON FUNCTION warden._merge_ids(bigint [], bigint []) FROM PUBLIC;
