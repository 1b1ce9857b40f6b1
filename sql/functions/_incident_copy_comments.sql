-- warden._incident_copy_comments(p_view regclass, p_table regclass)
-- RETURNS integer
--
-- Gives the columns of a view that selects a table's columns the comments
-- of those columns, matched by name; returns how many it set. Run by the
-- view files, so that \d+ of the view explains every column.
CREATE OR REPLACE FUNCTION warden._incident_copy_comments(
    p_view regclass,
    p_table regclass
)
RETURNS integer
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_col record;
    v_count integer := 0;
BEGIN
    FOR v_col IN
        SELECT v.attname, pg_catalog.col_description(t.attrelid, t.attnum)
            AS comment
        FROM pg_catalog.pg_attribute AS v
        JOIN pg_catalog.pg_attribute AS t
            ON t.attrelid = p_table
            AND t.attname = v.attname
            AND NOT t.attisdropped
        WHERE v.attrelid = p_view
            AND v.attnum > 0
            AND NOT v.attisdropped
            AND pg_catalog.col_description(t.attrelid, t.attnum) IS NOT NULL
    LOOP
        EXECUTE format('COMMENT ON COLUMN %s.%I IS %L',
            p_view, v_col.attname, v_col.comment);
        v_count := v_count + 1;
    END LOOP;
    RETURN v_count;
END
$$;

COMMENT ON FUNCTION warden._incident_copy_comments(regclass, regclass) IS
'Private: copy the column comments of a table to the same-named columns '
'of a view.';

REVOKE ALL ON FUNCTION warden._incident_copy_comments(regclass, regclass)
FROM PUBLIC;
