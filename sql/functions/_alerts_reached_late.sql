-- warden._alerts_reached_late(p_min_id bigint) RETURNS bigint[]
--
-- The open moderate_rate and cumulative_export alerts that an event with
-- id > p_min_id reached late: an event of the alert's user, not in its
-- evidence, inside the span the alert judged (a window before first_seen
-- up to last_seen). warden._revise_alerts judges those again. Events
-- after last_seen cannot undo an earlier window (windows look back), so
-- an attack whose events arrive in time order picks no alert here.
--
-- Read before the scheduled run extends alerts with its findings: after
-- that, the late event is in the evidence. A SQL-standard body, resolved
-- when created, so the caller's search_path cannot change it.
CREATE OR REPLACE FUNCTION warden._alerts_reached_late(p_min_id bigint)
RETURNS bigint[]
LANGUAGE sql
STABLE
RETURN coalesce((
    SELECT array_agg(a.id ORDER BY a.id)
    FROM warden.alerts AS a
    INNER JOIN warden.detection_rules AS r ON a.rule = r.rule
    -- A lateral LIMIT 1 rather than EXISTS: the body is planned once for
    -- any p_min_id, and as a semi join that plan walked the whole index
    -- of the log; per alert, it reads the user's events of the span only.
    CROSS JOIN LATERAL (
        SELECT e.id
        FROM warden.security_audit_log AS e
        WHERE e.user_id = a.user_id
            AND e.created_at
            BETWEEN a.first_seen - r.time_window AND a.last_seen
            AND e.id > coalesce(p_min_id, 0)
            AND e.source <> 'pgwarden'
            AND NOT a.evidence @> ARRAY[e.id]
        ORDER BY e.created_at
        LIMIT 1
    ) AS late
    WHERE a.status = 'open'
        AND r.enabled
        AND a.rule IN ('moderate_rate', 'cumulative_export')
), '{}');

COMMENT ON FUNCTION warden._alerts_reached_late(bigint) IS
'Private: open moderate_rate and cumulative_export alerts that an event '
'newer than the given id reached inside their span.';

REVOKE ALL ON FUNCTION warden._alerts_reached_late(bigint) FROM PUBLIC;
