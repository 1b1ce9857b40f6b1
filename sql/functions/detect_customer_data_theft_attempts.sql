-- warden.detect_customer_data_theft_attempts(since timestamptz DEFAULT NULL,
--                                            until timestamptz DEFAULT NULL)
-- RETURNS TABLE (rule, severity, risk_score, user_id, ip_address,
--                first_seen, last_seen, event_count, record_count,
--                evidence, details)
--
-- The theft rules (monitor 'theft' in warden.detection_rules: exports,
-- rates, compromise, unusual access). Read-only. until defaults to now(),
-- since to 24 hours before until. A finding is reported when its last
-- event lies in [since, until]; events before since still count towards
-- windows that end inside the range.
--
-- SECURITY DEFINER so that analysts need no rights on the private rule
-- functions or on the containment tables they read; it only reads.
CREATE OR REPLACE FUNCTION warden.detect_customer_data_theft_attempts(
    since timestamptz DEFAULT NULL,
    until timestamptz DEFAULT NULL
)
RETURNS TABLE (
    rule text,
    severity text,
    risk_score smallint,
    user_id text,
    ip_address inet,
    first_seen timestamptz,
    last_seen timestamptz,
    event_count integer,
    record_count bigint,
    evidence bigint[],
    details jsonb
)
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT f.rule, f.severity, f.risk_score, f.user_id, f.ip_address,
        f.first_seen, f.last_seen, f.event_count, f.record_count,
        f.evidence, f.details || jsonb_build_object('subject', f.subject)
    FROM warden._detect(
        'theft',
        coalesce($1, coalesce($2, now()) - interval '24 hours'),
        coalesce($2, now())
    ) AS f
$$;

COMMENT ON FUNCTION warden.detect_customer_data_theft_attempts(
    timestamptz, timestamptz
) IS
'Findings of the theft rules (exports, rates, compromise, unusual access) '
'whose last event lies in [since, until]; read-only. since defaults to 24 '
'hours before until, until to now().';

REVOKE ALL ON FUNCTION warden.detect_customer_data_theft_attempts(
    timestamptz, timestamptz
) FROM PUBLIC;

SELECT warden._grant_execute(
    'warden.detect_customer_data_theft_attempts(timestamptz, timestamptz)',
    role_name
)
FROM unnest(ARRAY['warden_analyst', 'warden_admin']::name[]) AS role_name;
