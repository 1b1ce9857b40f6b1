-- warden._incident_time(p_at timestamptz) RETURNS text
--
-- A time as messages and reports show it: local time of the setting
-- business_time_zone, to the second, followed by the zone name.
CREATE OR REPLACE FUNCTION warden._incident_time(
    p_at timestamptz
)
RETURNS text
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT to_char(p_at AT TIME ZONE z.zone, 'YYYY-MM-DD HH24:MI:SS')
        || ' ' || z.zone
    FROM (
        SELECT warden._incident_setting('business_time_zone', 'UTC') AS zone
    ) AS z;
$$;

COMMENT ON FUNCTION warden._incident_time(timestamptz) IS
'Private: a time in the business time zone, as messages show it.';

REVOKE ALL ON FUNCTION warden._incident_time(timestamptz) FROM PUBLIC;
