-- warden._incident_severity_rank(p_severity text) RETURNS integer
--
-- Orders severities so that a more severe alert can raise an incident:
-- low 1, medium 2, high 3, critical 4; anything else 0.
CREATE OR REPLACE FUNCTION warden._incident_severity_rank(
    p_severity text
)
RETURNS integer
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE p_severity
        WHEN 'critical' THEN 4
        WHEN 'high' THEN 3
        WHEN 'medium' THEN 2
        WHEN 'low' THEN 1
        ELSE 0
    END;
$$;

COMMENT ON FUNCTION warden._incident_severity_rank(text) IS
'Private: rank of a severity, low 1 to critical 4 (0 when unknown).';

REVOKE ALL ON FUNCTION warden._incident_severity_rank(text) FROM PUBLIC;
