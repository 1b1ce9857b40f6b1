-- warden.current_actor() RETURNS text
--
-- Who is acting: the application user set with SET app.user_id when it is
-- set and not blank, else the sub claim of a PostgREST or Supabase JWT
-- (request.jwt.claims, or request.jwt.claim.sub of older PostgREST), else
-- the database role (the role of SET ROLE, else the session user; never
-- current_user, which inside a SECURITY DEFINER function is its owner).
CREATE OR REPLACE FUNCTION warden.current_actor()
RETURNS text
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_value text := btrim(current_setting('app.user_id', true));
    v_claims text;
BEGIN
    IF v_value <> '' THEN
        RETURN v_value;
    END IF;
    v_claims := current_setting('request.jwt.claims', true);
    IF btrim(v_claims) <> '' THEN
        BEGIN
            v_value := btrim(v_claims::jsonb ->> 'sub');
        EXCEPTION
            WHEN invalid_text_representation THEN
                -- A malformed token claim names no one; fall through.
                v_value := NULL;
        END;
        IF v_value <> '' THEN
            RETURN v_value;
        END IF;
    END IF;
    v_value := btrim(current_setting('request.jwt.claim.sub', true));
    IF v_value <> '' THEN
        RETURN v_value;
    END IF;
    v_value := current_setting('role');
    IF v_value IS NULL OR v_value = 'none' THEN
        RETURN session_user::text;
    END IF;
    RETURN v_value;
END
$$;

COMMENT ON FUNCTION warden.current_actor() IS
'The acting user: app.user_id, else the sub claim of request.jwt.claims, '
'else the database role (SET ROLE, else session_user).';

REVOKE ALL ON FUNCTION warden.current_actor() FROM PUBLIC;

SELECT warden._grant_execute('warden.current_actor()', role_name)
FROM unnest(ARRAY['warden_app', 'warden_analyst', 'warden_admin']::name[])
    AS role_name;
