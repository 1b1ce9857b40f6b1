-- warden._revise_alerts(p_alerts bigint[]) RETURNS SETOF bigint
--
-- Brings the open alerts of the rules whose verdict a later event can undo
-- back in line with the events as stored now; returns the ids of the
-- alerts it changed. The scheduled run picks the alerts a late event
-- reached (warden._alerts_reached_late) before it judges the new events,
-- and calls this after.
--
-- Most rules only ever gain from more events ("more than N within W"): a
-- window that passed its threshold still passes when an event arrives
-- late, so extending an alert with each run's findings ends where judging
-- all events at once would. Two rules are not like that:
-- - moderate_rate counts a window only while it holds at most
--   params.upper events; a late event can push it past (a rate_limit hit);
-- - cumulative_export counts a window only while no single export in it
--   passes the threshold; a late bulk export disqualifies it.
-- Events become visible at commit, not in event-time order (a statement
-- that waited for a row lock commits after a later one), so a run can see
-- such a window without the event that undoes it. When an event of the
-- alert's user arrives inside the span the alert judged, the alert's
-- whole span is judged again and its evidence, counts and times replaced.
--
-- An alert that nothing supports any more is closed, its evidence kept,
-- with details.retracted; its response (none by default for both rules)
-- is not undone.
CREATE OR REPLACE FUNCTION warden._revise_alerts(p_alerts bigint[])
RETURNS SETOF bigint
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_rule warden.detection_rules;
    v_alert warden.alerts;
    v_from timestamptz;
    v_to timestamptz;
    v_ids bigint [];
    v_evidence bigint [];
    v_last warden.detection_finding;
    v_finding warden.detection_finding;
BEGIN
    FOR v_alert IN
        SELECT a.*
        FROM warden.alerts AS a
        WHERE a.id = ANY (p_alerts)
            AND a.status = 'open'
        ORDER BY a.id
    LOOP
        SELECT * INTO STRICT v_rule
        FROM warden.detection_rules AS r
        WHERE r.rule = v_alert.rule;
        v_from := v_alert.first_seen - v_rule.time_window;
        v_to := v_alert.last_seen + v_rule.time_window;
        v_ids := ARRAY(
            SELECT e.id
            FROM warden.security_audit_log AS e
            WHERE e.user_id = v_alert.user_id
                AND e.created_at BETWEEN v_from AND v_to
        );
        v_evidence := '{}';
        v_last := NULL;
        FOR v_finding IN
            SELECT *
            FROM warden._detect_windowed(v_rule, v_from, v_to, NULL, v_ids)
            AS f
            WHERE f.subject = v_alert.subject
        LOOP
            v_evidence := warden._merge_ids(v_evidence, v_finding.evidence);
            v_last := v_finding;
        END LOOP;

        IF v_evidence = v_alert.evidence THEN
            CONTINUE;
        END IF;
        IF cardinality(v_evidence) = 0 THEN
            UPDATE warden.alerts AS a
            SET status = 'closed',
                details = a.details || jsonb_build_object(
                    'retracted', true,
                    'retracted_at', clock_timestamp()
                ),
                updated_at = now()
            WHERE a.id = v_alert.id;
            RAISE DEBUG '_revise_alerts: alert % retracted', v_alert.id;
            RETURN NEXT v_alert.id;
            CONTINUE;
        END IF;

        UPDATE warden.alerts AS a
        SET evidence = v_evidence,
            event_count = cardinality(v_evidence),
            (first_seen, last_seen, record_count) = (
                SELECT min(l.created_at), max(l.created_at),
                    sum(l.record_count)
                FROM warden.security_audit_log AS l
                WHERE l.id = ANY (v_evidence)
            ),
            ip_address = coalesce(v_last.ip_address, a.ip_address),
            details = a.details || coalesce(v_last.details, '{}')
            || jsonb_build_object('revised_at', clock_timestamp()),
            updated_at = now()
        WHERE a.id = v_alert.id;
        RAISE DEBUG '_revise_alerts: alert % now % events (was %)',
            v_alert.id, cardinality(v_evidence), v_alert.event_count;
        RETURN NEXT v_alert.id;
    END LOOP;
END
$$;

COMMENT ON FUNCTION warden._revise_alerts(bigint[]) IS
'Private: judge the spans of open moderate_rate and cumulative_export '
'alerts again and replace their evidence and counts.';

REVOKE ALL ON FUNCTION warden._revise_alerts(bigint[]) FROM PUBLIC;
