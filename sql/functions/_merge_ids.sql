-- warden._merge_ids(p_a bigint[], p_b bigint[]) RETURNS bigint[]
--
-- The sorted union of two lists of event ids, for extending evidence.
--
-- No SET search_path: a SQL-standard body is resolved when the function
-- is created, so the caller's path cannot change what it means, and
-- without a SET clause PostgreSQL can inline it into the calling query.
CREATE OR REPLACE FUNCTION warden._merge_ids(
    p_a bigint[],
    p_b bigint[]
)
RETURNS bigint[]
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
RETURN ARRAY(
    SELECT DISTINCT x
    FROM unnest(coalesce(p_a, '{}') || coalesce(p_b, '{}')) AS x
    ORDER BY x
);

COMMENT ON FUNCTION warden._merge_ids(bigint[], bigint[]) IS
'Private: sorted union of two lists of event ids.';

REVOKE ALL ON FUNCTION warden._merge_ids(bigint[], bigint[]) FROM PUBLIC;
