-- warden._grant_table(p_privileges text[], p_table regclass, p_role name)
--
-- Grants table or view privileges to a package role when the role exists.
-- The privilege words are checked against a fixed list before they reach
-- dynamic SQL.
CREATE OR REPLACE FUNCTION warden._grant_table(
    p_privileges text[],
    p_table regclass,
    p_role name
)
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_allowed constant text[] := ARRAY['SELECT', 'INSERT', 'UPDATE',
        'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'];
    v_bad text;
BEGIN
    SELECT p INTO v_bad
    FROM unnest(p_privileges) AS p
    WHERE NOT (p = ANY (v_allowed))
    LIMIT 1;
    IF v_bad IS NOT NULL THEN
        RAISE EXCEPTION 'pgwarden: unknown table privilege "%"', v_bad
            USING ERRCODE = 'invalid_parameter_value',
                DETAIL = format('Granting on %s to %s.', p_table, p_role),
                HINT = 'Allowed: ' || array_to_string(v_allowed, ', ') || '.';
    END IF;
    IF NOT EXISTS (
        SELECT 1 FROM pg_catalog.pg_roles AS r WHERE r.rolname = p_role
    ) THEN
        RAISE DEBUG '_grant_table: role % missing, % not granted',
            p_role, p_table;
        RETURN false;
    END IF;
    EXECUTE format(
        'GRANT %s ON TABLE %s TO %I',
        array_to_string(p_privileges, ', '), p_table, p_role
    );
    RETURN true;
END
$$;

COMMENT ON FUNCTION warden._grant_table(text[], regclass, name) IS
'Private: grant table privileges to a package role if the role exists.';

REVOKE ALL ON FUNCTION warden._grant_table(text[], regclass, name) FROM PUBLIC;
