-- warden._incident_setting(p_name text, p_default text) RETURNS text
--
-- Reads one row of warden.settings, falling back to p_default when the row
-- is missing or empty, so that a DBA who deletes a setting gets the
-- documented default rather than an error in the middle of an alert.
CREATE OR REPLACE FUNCTION warden._incident_setting(
    p_name text,
    p_default text
)
RETURNS text
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(
        (
            SELECT nullif(btrim(s.value), '')
            FROM warden.settings AS s
            WHERE s.name = p_name
        ),
        p_default
    );
$$;

COMMENT ON FUNCTION warden._incident_setting(text, text) IS
'Private: the value of a warden.settings row, or the default when unset.';

REVOKE ALL ON FUNCTION warden._incident_setting(text, text) FROM PUBLIC;
