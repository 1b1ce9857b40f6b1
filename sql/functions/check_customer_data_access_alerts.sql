-- warden.check_customer_data_access_alerts() RETURNS SETOF warden.alerts
--
-- The scheduled run: judges every event stored since the previous run, by
-- insertion order (id), with every enabled rule of both monitoring
-- functions, so that events arriving late with old timestamps are judged
-- too. Findings become alerts (warden._save_finding): new ones get their
-- response, a security_alert event and NOTIFY warden_alerts; a continuing
-- attack extends its open alert, and the alerts of the two rules a late
-- event can undo are judged again (warden._revise_alerts). Returns the
-- alerts created or changed.
--
-- Ids are assigned at insert but become visible at commit, so a lower id
-- can appear after a higher one was judged. The run therefore does not
-- stop at the highest id it saw: warden.detection_state keeps
-- rescan_from_id, below which every event is final and judged, and moves
-- it up to the highest id of a previous run (scanned_to_id) only once
-- every transaction in flight when that id was read has ended (the
-- snapshot's xmin has passed scanned_xmax). Events between the two are
-- judged again by the next run; alerts are idempotent, so that costs work
-- but never duplicates. A long-running writing transaction anywhere in the
-- cluster holds the mark back and makes runs re-judge more events until it
-- ends. This needs every inserting transaction to have its transaction
-- id before it draws an event id: the BEFORE INSERT statement trigger
-- security_audit_log_05_assign_xid sees to it (rows inserted straight
-- into a partition bypass it).
--
-- Runs serialize on the row lock of warden.detection_state (FOR UPDATE):
-- a concurrent second run waits, then finds the events judged. A row lock
-- rather than an advisory lock, because any login may take any advisory
-- key and so stall detection; locking this row needs UPDATE on the table,
-- which only the function owner has. Call it in READ COMMITTED (the
-- default); under REPEATABLE READ a waiting run fails with a
-- serialization error instead.
--
-- SECURITY DEFINER because it writes alerts, the state, the event log and
-- containment, which its callers (warden_admin, the scheduler) may not
-- write directly.
CREATE OR REPLACE FUNCTION warden.check_customer_data_access_alerts()
RETURNS SETOF warden.alerts
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_state warden.detection_state;
    v_final boolean;
    v_finding warden.detection_finding;
    v_alert warden.alerts;
    v_ids bigint [] := '{}';
    v_max bigint;
    v_xmax xid8;
    v_late bigint [];
BEGIN
    SELECT * INTO v_state
    FROM warden.detection_state AS s
    FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO warden.detection_state (singleton) VALUES (true)
        RETURNING * INTO v_state;
    END IF;
    v_final := v_state.scanned_xmax IS NULL
        OR pg_snapshot_xmin(pg_current_snapshot()) >= v_state.scanned_xmax;

    v_late := warden._alerts_reached_late(v_state.rescan_from_id);
    FOR v_finding IN
        SELECT *
        FROM warden._detect(
            NULL, '-infinity', 'infinity', v_state.rescan_from_id
        )
    LOOP
        v_alert := warden._save_finding(v_finding);
        IF v_alert.id IS NOT NULL THEN
            v_ids := v_ids || v_alert.id;
        END IF;
    END LOOP;
    -- Late events can undo windows of moderate_rate and cumulative_export
    -- that an earlier run saw without them (warden._revise_alerts).
    v_ids := v_ids || ARRAY(
        SELECT r.id
        FROM warden._revise_alerts(v_late) AS r (id)
        WHERE NOT r.id = ANY (v_ids)
    );

    IF v_final THEN
        -- Read the highest id before the snapshot: every transaction that
        -- holds a lower id then has a transaction id below its xmax.
        SELECT max(l.id) INTO v_max FROM warden.security_audit_log AS l;
        v_xmax := pg_snapshot_xmax(pg_current_snapshot());
        UPDATE warden.detection_state AS s
        SET rescan_from_id = coalesce(s.scanned_to_id, s.rescan_from_id),
            scanned_to_id = coalesce(v_max, s.rescan_from_id),
            scanned_xmax = v_xmax
        WHERE s.singleton;
    END IF;
    UPDATE warden.detection_state AS s
    SET last_run_at = clock_timestamp(),
        runs = s.runs + 1
    WHERE s.singleton;
    RAISE DEBUG 'check_customer_data_access_alerts: from id %, % alerts',
        v_state.rescan_from_id, cardinality(v_ids);

    RETURN QUERY
    SELECT a.*
    FROM warden.alerts AS a
    WHERE a.id = ANY (v_ids)
    ORDER BY a.id;
END
$$;

COMMENT ON FUNCTION warden.check_customer_data_access_alerts() IS
'Judge the events stored since the previous run (by insertion order) with '
'every enabled rule, create or extend alerts, apply responses; returns '
'the alerts created or extended. Safe to call concurrently and again.';

REVOKE ALL ON FUNCTION warden.check_customer_data_access_alerts()
FROM PUBLIC;

SELECT warden._grant_execute(
    'warden.check_customer_data_access_alerts()', 'warden_admin'
);
