-- warden._grant_execute(p_function regprocedure, p_role name)
--
-- Grants EXECUTE on a pgwarden function to a package role when the role
-- exists, so that an installer without CREATEROLE can still install; a later
-- `pgwarden migrate`, once the role exists, grants what was skipped.
CREATE OR REPLACE FUNCTION warden._grant_execute(
    p_function regprocedure,
    p_role name
)
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_catalog.pg_roles AS r WHERE r.rolname = p_role
    ) THEN
        RAISE DEBUG '_grant_execute: role % missing, % not granted',
            p_role, p_function;
        RETURN false;
    END IF;
    EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I', p_function, p_role);
    RETURN true;
END
$$;

COMMENT ON FUNCTION warden._grant_execute(regprocedure, name) IS
'Private: grant EXECUTE on a function to a package role if the role exists.';

REVOKE ALL ON FUNCTION warden._grant_execute(regprocedure, name) FROM PUBLIC;
