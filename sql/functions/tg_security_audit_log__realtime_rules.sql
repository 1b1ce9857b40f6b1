-- warden.tg_security_audit_log__realtime_rules() RETURNS trigger
--
-- AFTER INSERT, once per statement (a COPY of many events is judged
-- once): runs the real-time rules (realtime in warden.detection_rules:
-- failed-login bursts, credential stuffing, bulk and sensitive exports,
-- role and high-value violations, privilege escalation) over the new
-- events, inside the transaction that stores them, so that a lock takes
-- effect before the next attempt is stored. Only the rules whose events
-- are among the new rows run. Findings go through warden._save_finding
-- like those of the scheduled run, so both meet in one alert.
--
-- SECURITY DEFINER because the reporting role (warden_app through
-- log_event, or an importer's COPY) may not write alerts or containment.
CREATE OR REPLACE FUNCTION warden.tg_security_audit_log__realtime_rules()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_ids bigint [];
    v_rows warden.security_audit_log [];
    v_rules text [] := '{}';
    v_login boolean;
    v_escalation boolean;
    v_many boolean;
    v_rule warden.detection_rules;
    v_name text;
    v_hit boolean;
    v_users text [];
    v_addresses inet [];
    v_times timestamptz [];
    v_user_window interval;
    v_address_window interval;
    v_user_peak bigint := 0;
    v_address_peak bigint := 0;
    v_address_users bigint := 0;
    v_single warden.detection_finding [];
    v_finding warden.detection_finding;
BEGIN
    -- One pass over the new rows: their ids, which rule families they can
    -- feed, and the rows that a single-event rule could flag (see
    -- warden._judge_single): escalation attempts, exports, and reads or
    -- changes by a known user. A statement of one row (an event reported
    -- with warden.log_event, a captured change) is checked more closely:
    -- its read or change can hit only when its user holds an application
    -- role or its table or customer is high value, and most are neither,
    -- so the judging query is then skipped. Those lookups run row by row,
    -- which would cost a COPY of many rows more than they save.
    SELECT count(*) > 1 INTO v_many
    FROM (SELECT 1 FROM new_rows LIMIT 2) AS x;
    SELECT
        array_agg(n.id),
        array_agg(n) FILTER (
            WHERE n.event_type = 'privilege_escalation_attempt'
                OR t.category = 'data_export'
                OR (
                    t.category IN ('data_read', 'data_modify')
                    AND n.user_id IS NOT NULL
                    AND (
                        v_many
                        OR (
                            n.table_name IS NOT NULL
                            AND EXISTS (
                                SELECT 1 FROM warden.app_user_roles AS ur
                                WHERE ur.user_id = n.user_id
                            )
                        )
                        OR EXISTS (
                            SELECT 1 FROM warden.high_value_customers AS hv
                            WHERE hv.customer_id
                                = n.metadata ->> 'customer_id'
                        )
                        OR EXISTS (
                            SELECT 1 FROM warden.table_sensitivity AS s
                            WHERE s.sensitivity = 'high_value'
                                AND regexp_replace(s.table_name,
                                    '^public\.', '')
                                = regexp_replace(n.table_name,
                                    '^public\.', '')
                        )
                    )
                )
        ),
        coalesce(bool_or(n.event_type = 'login_failed'), FALSE),
        coalesce(bool_or(n.event_type = 'privilege_escalation_attempt'),
            FALSE)
    INTO v_ids, v_rows, v_login, v_escalation
    FROM new_rows AS n
    LEFT JOIN warden.event_types AS t ON n.event_type = t.event_type
    WHERE n.source <> 'pgwarden';
    IF v_ids IS NULL THEN
        RETURN NULL;
    END IF;

    -- The single-event rules judge the statement's rows as they are, all
    -- enabled ones in one query (warden._judge_single is inlined).
    IF v_rows IS NOT NULL THEN
        v_single := ARRAY(
            SELECT f
            FROM warden.detection_rules AS r
            CROSS JOIN LATERAL warden._judge_single(r, v_rows) AS f
            WHERE r.enabled
                AND r.realtime
                AND r.rule IN ('bulk_export', 'sensitive_export',
                    'privilege_escalation_attempt', 'role_violation',
                    'unauthorized_high_value_access')
            ORDER BY f.rule, f.first_seen, f.evidence[1]
        );
    END IF;
    IF NOT v_login AND NOT v_escalation
        AND coalesce(cardinality(v_single), 0) = 0 THEN
        RETURN NULL;
    END IF;

    IF v_login THEN
        -- Copied out of the transition table first: one plan for the
        -- counts below, which read the log by user and by address.
        SELECT
            array_agg(left(coalesce(n.user_id,
                nullif(btrim(n.metadata ->> 'attempted_user'), '')), 256)),
            array_agg(warden._address_subject(n.ip_address)),
            array_agg(n.created_at)
        INTO v_users, v_addresses, v_times
        FROM new_rows AS n
        WHERE n.event_type = 'login_failed'
            AND n.source <> 'pgwarden';
        SELECT
            max(r.time_window) FILTER (
                WHERE r.rule = 'failed_login_burst_user'),
            max(r.time_window) FILTER (
                WHERE r.rule IN ('failed_login_burst_ip',
                    'credential_stuffing'))
        INTO v_user_window, v_address_window
        FROM warden.detection_rules AS r
        WHERE r.enabled
            AND r.realtime;
        SELECT max(cu.n), max(ca.n), max(ca.users)
        INTO v_user_peak, v_address_peak, v_address_users
        FROM unnest(v_users, v_addresses, v_times) AS n (u, a, t)
        CROSS JOIN LATERAL (
            SELECT count(*) AS n
            FROM warden.security_audit_log AS e
            WHERE e.event_type = 'login_failed'
                AND left(coalesce(e.user_id,
                    nullif(btrim(e.metadata ->> 'attempted_user'), '')), 256)
                = n.u
                AND e.created_at BETWEEN n.t - v_user_window
                AND n.t + v_user_window
        ) AS cu
        CROSS JOIN LATERAL (
            SELECT
                count(*) AS n,
                count(DISTINCT left(coalesce(e.user_id,
                    nullif(btrim(e.metadata ->> 'attempted_user'), '')), 256))
                    AS users
            FROM warden.security_audit_log AS e
            WHERE e.event_type = 'login_failed'
                AND (CASE WHEN family(e.ip_address) = 6
                    THEN network(set_masklen(e.ip_address, 64))
                    ELSE e.ip_address END)
                = n.a
                AND e.created_at BETWEEN n.t - v_address_window
                AND n.t + v_address_window
        ) AS ca;
    END IF;

    -- Cheap pre-checks for the window rules: a rule runs only when it
    -- could hit. A subject of a new event needs more events than the
    -- threshold within one window either side of it (the peaks above);
    -- that over-counts, never under-counts, so no hit is missed.
    IF v_login OR v_escalation THEN
        FOR v_rule IN
            SELECT r.*
            FROM warden.detection_rules AS r
            WHERE r.enabled
                AND r.realtime
                AND r.rule IN ('failed_login_burst_user',
                    'failed_login_burst_ip', 'credential_stuffing',
                    'privilege_escalation_burst')
        LOOP
            v_hit := FALSE;
            CASE
                WHEN v_rule.rule = 'failed_login_burst_user' THEN
                    v_hit := v_user_peak > v_rule.threshold;
                WHEN v_rule.rule = 'failed_login_burst_ip' THEN
                    v_hit := v_address_peak > v_rule.threshold;
                WHEN v_rule.rule = 'credential_stuffing' THEN
                    v_hit := v_address_users >= v_rule.threshold;
                WHEN v_rule.rule = 'privilege_escalation_burst'
                    AND v_escalation THEN
                    SELECT bool_or(c.n >= v_rule.threshold) INTO v_hit
                    FROM new_rows AS n
                    CROSS JOIN LATERAL (
                        SELECT count(*) AS n
                        FROM warden.security_audit_log AS e
                        WHERE e.event_type = 'privilege_escalation_attempt'
                            AND e.user_id = n.user_id
                            AND e.created_at
                            BETWEEN n.created_at - v_rule.time_window
                            AND n.created_at + v_rule.time_window
                    ) AS c
                    WHERE n.event_type = 'privilege_escalation_attempt'
                        AND n.source <> 'pgwarden';
                ELSE
                    v_hit := FALSE;
            END CASE;
            IF v_hit THEN
                v_rules := v_rules || v_rule.rule;
            END IF;
        END LOOP;
    END IF;

    -- Findings are saved rule by rule in the order of the rule ids, the
    -- single-event findings as judged above, the window rules reading
    -- the log around the new rows.
    FOR v_name IN
        SELECT DISTINCT x.rule
        FROM (
            SELECT unnest(v_rules) AS rule
            UNION ALL
            SELECT f.rule FROM unnest(v_single) AS f
        ) AS x
        ORDER BY x.rule
    LOOP
        IF v_name = ANY (v_rules) THEN
            SELECT r.* INTO v_rule
            FROM warden.detection_rules AS r
            WHERE r.rule = v_name;
            FOR v_finding IN
                SELECT *
                FROM warden._detect_windowed(
                    v_rule, '-infinity', 'infinity', NULL, v_ids
                )
            LOOP
                PERFORM warden._save_finding(v_finding);
            END LOOP;
        ELSE
            FOR v_finding IN
                SELECT f.*
                FROM unnest(v_single) AS f
                WHERE f.rule = v_name
            LOOP
                PERFORM warden._save_finding(v_finding);
            END LOOP;
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION warden.tg_security_audit_log__realtime_rules() IS
'Trigger: run the real-time rules over the events of an insert statement '
'and raise or extend their alerts at once.';

REVOKE ALL ON FUNCTION warden.tg_security_audit_log__realtime_rules()
FROM PUBLIC;
