-- warden._table_sensitivity(p_table text) RETURNS text
--
-- Sensitivity of a logical table as events name it: normal, sensitive or
-- high_value (normal when the table is not listed). A leading "public." is
-- ignored on both sides, so "customers" and "public.customers" agree.
--
-- No SET search_path: a SQL-standard body is resolved when the function
-- is created, so the caller's path cannot change what it means, and
-- without a SET clause PostgreSQL can inline it into the calling query.
CREATE OR REPLACE FUNCTION warden._table_sensitivity(
    p_table text
)
RETURNS text
LANGUAGE sql
STABLE
RETURN coalesce(
    (
        SELECT s.sensitivity
        FROM warden.table_sensitivity AS s
        WHERE regexp_replace(s.table_name, '^public\.', '')
            = regexp_replace(p_table, '^public\.', '')
        ORDER BY s.table_name = p_table DESC
        LIMIT 1
    ),
    'normal'
);

COMMENT ON FUNCTION warden._table_sensitivity(text) IS
'Private: sensitivity of a logical table (normal when not listed).';

REVOKE ALL ON FUNCTION warden._table_sensitivity(text) FROM PUBLIC;
