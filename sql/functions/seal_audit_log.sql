-- warden.seal_audit_log(p_grace interval DEFAULT NULL) RETURNS integer
--
-- Seals the event log up to a safe horizon: each seal covers the ids
-- after the previous seal, holds per-month sha256 digests of the events
-- in its range, and chains its digest to the previous seal, so that a row
-- changed, removed or slipped in later by someone who bypassed the
-- triggers shows in warden.verify_audit_log.
--
-- Writers are never held up: ids come from the identity sequence before
-- their transaction commits, so a range may only be sealed once every
-- transaction that could still hold an id of it has ended. Each call
-- notes a mark (the highest id handed out and the next transaction id)
-- and seals up to the newest earlier mark that is older than p_grace
-- (setting seal_grace, 1 minute) and older than every running
-- transaction. The scheduler calls it regularly; ranges are cut at
-- seal_max_rows events. Returns the number of seals made.
--
-- SECURITY DEFINER so that the scheduler (warden_admin) can run it.
CREATE OR REPLACE FUNCTION warden.seal_audit_log(
    p_grace interval DEFAULT NULL
)
RETURNS integer
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_grace interval := coalesce(
        p_grace,
        (SELECT s.value::interval FROM warden.settings AS s
            WHERE s.name = 'seal_grace'),
        interval '1 minute'
    );
    v_max_rows bigint := coalesce(
        (SELECT s.value::bigint FROM warden.settings AS s
            WHERE s.name = 'seal_max_rows'),
        10000
    );
    v_previous warden.audit_log_seals;
    v_horizon bigint;
    v_first bigint;
    v_last bigint;
    v_rows bigint;
    v_digests jsonb;
    v_handed_out bigint;
    v_seals integer := 0;
BEGIN
    -- Sealers wait for each other; writers of the log are not involved.
    -- A table lock rather than an advisory key: no other role may take a
    -- lock on the seals that conflicts with this one, so nobody outside
    -- pgwarden can stall sealing.
    LOCK TABLE warden.audit_log_seals IN SHARE ROW EXCLUSIVE MODE;

    SELECT * INTO v_previous
    FROM warden.audit_log_seals AS s
    ORDER BY s.id DESC
    LIMIT 1;

    SELECT max(m.max_id)
    INTO v_horizon
    FROM warden.audit_log_seal_marks AS m
    WHERE m.taken_at <= now() - v_grace
        AND m.snapshot_xmax <= pg_snapshot_xmin(pg_current_snapshot());

    v_first := coalesce(v_previous.last_id, 0) + 1;
    WHILE v_horizon IS NOT NULL AND v_first <= v_horizon LOOP
        SELECT max(r.id), count(*)
        INTO v_last, v_rows
        FROM (
            SELECT l.id
            FROM warden.security_audit_log AS l
            WHERE l.id BETWEEN v_first AND v_horizon
            ORDER BY l.id
            LIMIT v_max_rows
        ) AS r;
        IF v_rows < v_max_rows THEN
            v_last := v_horizon;
        END IF;
        v_digests := warden._audit_month_digests(v_first, v_last);
        INSERT INTO warden.audit_log_seals (
            first_id, last_id, row_count, month_digests, previous_digest,
            chain_digest, sealed_by
        )
        VALUES (
            v_first, v_last, v_rows, v_digests, v_previous.chain_digest,
            warden._seal_chain_digest(v_previous.chain_digest, v_first,
                v_last, v_rows, v_digests),
            warden.current_actor()
        )
        RETURNING * INTO v_previous;
        v_seals := v_seals + 1;
        v_first := v_last + 1;
    END LOOP;

    DELETE FROM warden.audit_log_seal_marks AS m
    WHERE m.max_id < v_first;

    v_handed_out := coalesce(pg_sequence_last_value(
        pg_get_serial_sequence('warden.security_audit_log', 'id')::regclass
    ), 0);
    IF v_handed_out >= v_first AND NOT EXISTS (
        SELECT 1 FROM warden.audit_log_seal_marks AS m
        WHERE m.max_id = v_handed_out
    ) THEN
        INSERT INTO warden.audit_log_seal_marks (max_id, snapshot_xmax)
        VALUES (v_handed_out, pg_snapshot_xmax(pg_current_snapshot()));
    END IF;
    RAISE DEBUG 'seal_audit_log: % seals, sealed up to %', v_seals,
        v_first - 1;
    RETURN v_seals;
END
$$;

COMMENT ON FUNCTION warden.seal_audit_log(interval) IS
'Seal the event log with chained per-month sha256 digests up to a horizon '
'no running transaction can still write below; returns the seals made.';

REVOKE ALL ON FUNCTION warden.seal_audit_log(interval) FROM PUBLIC;

SELECT warden._grant_execute('warden.seal_audit_log(interval)',
    'warden_admin');
