-- warden._incident_due_at(p_severity text, p_from timestamptz)
-- RETURNS timestamptz
--
-- The response deadline of an incident of this severity detected at
-- p_from: critical, high and medium add the settings response_time_*
-- (5, 15 and 60 minutes by default); low is due at the end of business
-- hours on the next business day after p_from, in business_time_zone.
CREATE OR REPLACE FUNCTION warden._incident_due_at(
    p_severity text,
    p_from timestamptz
)
RETURNS timestamptz
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_zone text := warden._incident_setting('business_time_zone', 'UTC');
    v_end time := warden._incident_setting('business_hours_end', '17:00');
    v_days integer[];
    v_day date;
BEGIN
    IF p_severity IN ('critical', 'high', 'medium') THEN
        RETURN p_from + warden._incident_setting(
            'response_time_' || p_severity,
            CASE p_severity
                WHEN 'critical' THEN '5 minutes'
                WHEN 'high' THEN '15 minutes'
                ELSE '60 minutes'
            END
        )::interval;
    END IF;
    v_days := string_to_array(
        replace(warden._incident_setting('business_days', '1,2,3,4,5'),
            ' ', ''),
        ','
    )::integer[];
    IF NOT v_days && ARRAY[1, 2, 3, 4, 5, 6, 7] THEN
        RAISE EXCEPTION 'pgwarden: setting business_days "%" names no day',
            array_to_string(v_days, ',')
            USING ERRCODE = 'invalid_parameter_value',
                HINT = 'Use ISO weekday numbers, 1 (Monday) to 7 (Sunday), '
                    || 'such as 1,2,3,4,5.';
    END IF;
    v_day := (p_from AT TIME ZONE v_zone)::date + 1;
    WHILE NOT extract(isodow FROM v_day)::integer = ANY (v_days) LOOP
        v_day := v_day + 1;
    END LOOP;
    RETURN (v_day + v_end) AT TIME ZONE v_zone;
END
$$;

COMMENT ON FUNCTION warden._incident_due_at(text, timestamptz) IS
'Private: response deadline of an incident of a severity detected at a '
'time (low: end of the next business day).';

REVOKE ALL ON FUNCTION warden._incident_due_at(text, timestamptz)
FROM PUBLIC;
