-- warden._incident_actor() RETURNS text
--
-- Who is acting on an incident, for the timeline: warden.current_actor()
-- (the application user, else the JWT subject, else the role). Inside a
-- SECURITY DEFINER function current_user is the owner, so the role that
-- current_actor falls back to is the caller's SET ROLE or session user.
CREATE OR REPLACE FUNCTION warden._incident_actor()
RETURNS text
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- plpgsql, not sql: current_actor is loaded after this file.
    RETURN coalesce(
        nullif(warden.current_actor(), ''),
        nullif(current_setting('role'), 'none'),
        session_user::text
    );
END
$$;

COMMENT ON FUNCTION warden._incident_actor() IS
'Private: the actor written on the incident timeline.';

REVOKE ALL ON FUNCTION warden._incident_actor() FROM PUBLIC;
