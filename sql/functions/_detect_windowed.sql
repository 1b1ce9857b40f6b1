-- warden._detect_windowed(p_rule warden.detection_rules,
--                         p_since timestamptz, p_until timestamptz,
--                         p_min_id bigint, p_ids bigint[])
-- RETURNS SETOF warden.detection_finding
--
-- The sliding-window rules: failed_login_burst_user, failed_login_burst_ip,
-- credential_stuffing, privilege_escalation_burst, rate_limit,
-- moderate_rate, cumulative_export and the distinct-networks half of
-- suspicious_activity.
--
-- moderate_rate judges each window on its own: a window of more than
-- threshold and at most params.upper events is a hit, whether or not a
-- later window passes upper too (that one is a rate_limit hit). So the
-- same events give the same alerts however the scheduled runs fell.
--
-- How a window is judged: every event of a subject is the end (anchor) of
-- a window reaching time_window back from it, both ends included (a RANGE
-- frame, never a fixed bucket). An anchor is a hit when the window's
-- measure passes the threshold. Hit windows that overlap form one episode,
-- and one finding: its evidence is every event of the subject inside the
-- union of those windows, first_seen and last_seen its first and last.
--
-- Which events are judged: the "new" events are those with created_at in
-- [p_since, p_until], and, when given, id > p_min_id (the scheduled run)
-- or id in p_ids (the real-time trigger). For every subject of a new event,
-- the anchors are its events from the earliest new one to time_window
-- after the latest (a late event can complete a window that ends at an
-- older event), and the context read reaches time_window before that.
-- So the cost follows the new events, not the size of the log.
--
-- Dynamic SQL because the subject expression differs per rule and must
-- appear literally to match the partial expression indexes of 0002.
CREATE OR REPLACE FUNCTION warden._detect_windowed(
    p_rule warden.detection_rules,
    p_since timestamptz,
    p_until timestamptz,
    p_min_id bigint,
    p_ids bigint[]
)
RETURNS SETOF warden.detection_finding
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    -- Subject expressions, alike to the indexes of migration 0002.
    -- Attempted names are cut to 256 characters, like user ids, so that
    -- the index holds any name an attacker types.
    c_user_or_attempted constant text := 'left(coalesce(e.user_id, '
        || 'nullif(btrim(e.metadata ->> ''attempted_user''), '''')), 256)';
    c_address constant text := '(CASE WHEN family(e.ip_address) = 6 THEN '
        || 'network(set_masklen(e.ip_address, 64)) ELSE e.ip_address END)';
    v_types text [];
    v_key text;
    v_kind text;
    v_value text := 'NULL::text';
    v_measure text := 'count';
    v_cmp text := '>';
    v_upper numeric;
    v_sql text;
    v_row record;
    v_out warden.detection_finding;
BEGIN
    CASE p_rule.rule
        WHEN 'failed_login_burst_user' THEN
            v_types := ARRAY['login_failed'];
            v_key := c_user_or_attempted;
            v_kind := 'user';
        WHEN 'failed_login_burst_ip' THEN
            v_types := ARRAY['login_failed'];
            v_key := c_address;
            v_kind := 'ip';
        WHEN 'credential_stuffing' THEN
            v_types := ARRAY['login_failed'];
            v_key := c_address;
            v_kind := 'ip';
            v_value := c_user_or_attempted;
            v_measure := 'distinct';
            v_cmp := '>=';
        WHEN 'privilege_escalation_burst' THEN
            v_types := ARRAY['privilege_escalation_attempt'];
            v_key := 'e.user_id';
            v_kind := 'user';
            v_cmp := '>=';
        WHEN 'rate_limit', 'moderate_rate' THEN
            v_types := warden._event_types_of(
                ARRAY['data_read', 'data_export', 'data_modify']
            );
            v_key := 'e.user_id';
            v_kind := 'user';
            IF p_rule.rule = 'moderate_rate' THEN
                v_upper := (p_rule.params ->> 'upper')::numeric;
            END IF;
        WHEN 'cumulative_export' THEN
            v_types := warden._event_types_of(ARRAY['data_export']);
            v_key := 'e.user_id';
            v_kind := 'user';
            v_measure := 'sum';
        WHEN 'suspicious_activity' THEN
            -- A user's own activity: failed logins are attempts on the
            -- account, not activity of its owner.
            SELECT array_agg(t.event_type)
            INTO v_types
            FROM warden.event_types AS t
            WHERE t.category IN ('authentication', 'data_read',
                    'data_export', 'data_modify', 'privilege')
                AND t.event_type <> 'login_failed';
            v_key := 'e.user_id';
            v_kind := 'user';
            v_value := 'warden._location_network(e.ip_address)::text';
            v_measure := 'distinct';
            v_cmp := '>=';
        ELSE
            RAISE EXCEPTION 'pgwarden: rule "%" is not a window rule',
                p_rule.rule
                USING ERRCODE = 'invalid_parameter_value',
                    HINT = 'This is a bug in pgwarden.';
    END CASE;

    v_sql := format(
        $q$
        WITH new_ev AS MATERIALIZED (
            SELECT %1$s AS k, e.created_at AS t
            FROM warden.security_audit_log AS e
            WHERE e.event_type = ANY (%2$L::text [])
                AND e.source <> 'pgwarden'
                AND e.created_at BETWEEN $1 AND $2
                AND ($3::bigint IS NULL OR e.id > $3)
                AND ($4::bigint [] IS NULL OR e.id = ANY ($4))
                AND %6$s
        ),
        subj AS (
            SELECT n.k, min(n.t) AS t_lo, max(n.t) + $5 AS t_hi
            FROM new_ev AS n
            WHERE n.k IS NOT NULL
            GROUP BY n.k
        ),
        -- Each subject's own events, read by an index scan per subject;
        -- OFFSET 0 keeps the planner from turning them into one join with
        -- the whole log. Only what the windows and the findings need is
        -- kept, so that the rows stay within work_mem.
        ctx AS MATERIALIZED (
            SELECT s.k, e.id, e.t, e.record_count, e.v
            FROM subj AS s
            CROSS JOIN LATERAL (
                SELECT e.id, e.created_at AS t, e.record_count, %3$s AS v
                FROM warden.security_audit_log AS e
                WHERE %1$s = s.k
                    AND e.created_at >= greatest(s.t_lo, $1) - $5
                    AND e.created_at <= least(s.t_hi, $2)
                    AND e.event_type = ANY (%2$L::text [])
                    AND e.source <> 'pgwarden'
                    AND %6$s
                OFFSET 0
            ) AS e
        ),
        -- A subject that cannot reach the threshold over its whole context
        -- cannot reach it in a window: counting distinct values per window
        -- is the dear part, so such subjects are left out first.
        judged AS (
            SELECT c.k
            FROM ctx AS c
            GROUP BY c.k
            HAVING %9$s
        ),
        win AS (
            SELECT c.k, c.t, s.t_lo, s.t_hi, %4$s
            FROM ctx AS c
            INNER JOIN subj AS s ON c.k = s.k
            WHERE c.k IN (SELECT j.k FROM judged AS j)
            WINDOW w AS (
                PARTITION BY c.k ORDER BY c.t
                RANGE BETWEEN $5 PRECEDING AND CURRENT ROW
            )
        ),
        hits AS (
            SELECT DISTINCT h.k, h.t AS anchor, h.m
            FROM (
                SELECT w1.k, w1.t, w1.t_lo, w1.t_hi, w1.largest, %5$s AS m
                FROM win AS w1
            ) AS h
            WHERE h.m %7$s $6
                AND ($7::numeric IS NULL OR h.m <= $7)
                AND h.t BETWEEN h.t_lo AND h.t_hi
                AND h.t BETWEEN $1 AND $2
                AND %8$s
        ),
        grouped AS (
            SELECT g.k, g.anchor, g.m,
                count(*) FILTER (
                    WHERE g.prev IS NULL OR g.anchor - $5 > g.prev
                ) OVER (PARTITION BY g.k ORDER BY g.anchor) AS grp
            FROM (
                SELECT h.k, h.anchor, h.m,
                    lag(h.anchor) OVER (
                        PARTITION BY h.k ORDER BY h.anchor
                    ) AS prev
                FROM hits AS h
            ) AS g
        ),
        episodes AS (
            SELECT g.k, min(g.anchor) - $5 AS lo, max(g.anchor) AS hi,
                max(g.m) AS peak, count(*) AS windows
            FROM grouped AS g
            GROUP BY g.k, g.grp
        )
        SELECT p.k AS k, p.peak, p.windows, ev.*,
            (
                SELECT l.ip_address
                FROM warden.security_audit_log AS l
                WHERE l.id = ev.last_id
                    AND l.created_at = ev.last_t
            ) AS last_ip
        FROM episodes AS p
        CROSS JOIN LATERAL (
            SELECT
                array_agg(c.id ORDER BY c.id) AS ids,
                count(*)::integer AS n,
                sum(c.record_count)::bigint AS records,
                min(c.t) AS first_t,
                max(c.t) AS last_t,
                (array_agg(c.id ORDER BY c.t DESC, c.id DESC))[1]
                    AS last_id,
                count(DISTINCT c.v) AS distinct_values
            FROM ctx AS c
            WHERE c.k = p.k
                AND c.t BETWEEN p.lo AND p.hi
        ) AS ev
        ORDER BY ev.first_t, p.k::text
        $q$,
        v_key,
        v_types,
        v_value,
        CASE v_measure
            WHEN 'count' THEN 'count(*) OVER w AS raw, 0 AS largest'
            WHEN 'sum' THEN 'sum(coalesce(c.record_count, 0)) OVER w AS raw,'
                || ' max(coalesce(c.record_count, 0)) OVER w AS largest'
            ELSE 'array_agg(c.v) OVER w AS raw, 0 AS largest'
        END,
        CASE v_measure
            WHEN 'distinct' THEN
                '(SELECT count(DISTINCT x) FROM unnest(w1.raw) AS x)'
            ELSE 'w1.raw'
        END,
        -- The measured value must exist: an event without a user name
        -- cannot count as a distinct user, one without an address as a
        -- network.
        CASE WHEN v_measure = 'distinct'
            THEN v_value || ' IS NOT NULL' ELSE 'true' END,
        v_cmp,
        -- cumulative_export: no single export in the window passes the
        -- threshold (bulk_export reports those).
        CASE WHEN v_measure = 'sum' THEN 'h.largest <= $6' ELSE 'true' END,
        CASE v_measure
            WHEN 'count' THEN 'count(*) ' || v_cmp || ' $6'
            WHEN 'sum' THEN 'sum(coalesce(c.record_count, 0)) > $6'
            ELSE 'count(DISTINCT c.v) ' || v_cmp || ' $6'
        END
    );

    FOR v_row IN EXECUTE v_sql
        USING p_since, p_until, p_min_id, p_ids, p_rule.time_window,
            p_rule.threshold, v_upper
    LOOP
        v_out.rule := p_rule.rule;
        v_out.severity := p_rule.severity;
        v_out.risk_score := p_rule.risk_score;
        IF v_kind = 'user' THEN
            v_out.user_id := v_row.k::text;
            v_out.ip_address := v_row.last_ip;
            v_out.subject := 'user:' || v_row.k::text;
        ELSE
            v_out.user_id := NULL;
            v_out.ip_address := v_row.k::inet;
            v_out.subject := 'ip:' || abbrev(v_row.k::inet);
        END IF;
        v_out.first_seen := v_row.first_t;
        v_out.last_seen := v_row.last_t;
        v_out.event_count := v_row.n;
        v_out.record_count := v_row.records;
        v_out.evidence := v_row.ids;
        v_out.details := jsonb_strip_nulls(jsonb_build_object(
            'threshold', p_rule.threshold,
            'window', p_rule.time_window::text,
            'measure', CASE v_measure
                WHEN 'count' THEN 'events'
                WHEN 'sum' THEN 'records'
                ELSE CASE v_kind WHEN 'ip' THEN 'distinct users'
                    ELSE 'distinct networks' END
                END,
            'peak', v_row.peak,
            'upper', v_upper,
            'windows_over_threshold', v_row.windows,
            'distinct', CASE WHEN v_measure = 'distinct'
                THEN v_row.distinct_values END
        ));
        RETURN NEXT v_out;
    END LOOP;
END
$$;

COMMENT ON FUNCTION warden._detect_windowed(
    warden.detection_rules, timestamptz, timestamptz, bigint, bigint[]
) IS
'Private: findings of a sliding-window rule over the new events given by '
'time range, smallest id or ids, with exact RANGE windows.';

REVOKE ALL ON FUNCTION warden._detect_windowed(
    warden.detection_rules, timestamptz, timestamptz, bigint, bigint[]
) FROM PUBLIC;
