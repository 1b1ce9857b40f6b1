-- Remove containment, watched tables and seals: first the triggers that
-- pgwarden added to watched customer tables (and their partitions), then
-- the functions of this area, its tables, and its rows in the catalogs.

-- Refuse to delete what users stored unless the DBA said so: `pgwarden
-- migrate rollback --discard-data` (and removing pgwarden entirely) sets
-- pgwarden.discard_data. Applying the migration again does not bring the
-- rows back. Written out here rather than shared through a function: the
-- script may run against functions of an older release.
DO $guard$
DECLARE
    v_rows text;
BEGIN
    IF current_setting('pgwarden.discard_data', TRUE) = 'on' THEN
        RETURN;
    END IF;
    SELECT string_agg(format('%s %s', v.n, v.what), ', ')
    INTO v_rows
    FROM (VALUES
        ('account locks',
            (SELECT count(*) FROM warden.account_locks)),
        ('address blocks',
            (SELECT count(*) FROM warden.ip_blocks)),
        ('session revocations',
            (SELECT count(*) FROM warden.session_revocations)),
        ('user database roles',
            (SELECT count(*) FROM warden.user_db_roles)),
        ('watched tables',
            (SELECT count(*) FROM warden.watched_tables)),
        ('audit log seals',
            (SELECT count(*) FROM warden.audit_log_seals))
    ) AS v (what, n)
    WHERE v.n > 0;
    IF v_rows IS NOT NULL THEN
        RAISE EXCEPTION
            'pgwarden: rolling back the containment area would delete %',
            v_rows
            USING ERRCODE = 'object_not_in_prerequisite_state',
                DETAIL = 'The rollback drops '
                    || 'locks, blocks, watched tables and seals with '
                    || 'their rows; applying it again starts them empty.',
                HINT = 'Back up first (pg_dump --schema=warden), then run '
                    || 'pgwarden migrate rollback --discard-data; or leave '
                    || 'this migration applied.';
    END IF;
END
$guard$;

DO $rollback$
DECLARE
    v_trigger record;
    v_fn record;
BEGIN
    FOR v_trigger IN
        SELECT t.tgrelid::regclass AS rel, t.tgname
        FROM pg_catalog.pg_trigger AS t
        INNER JOIN pg_catalog.pg_proc AS p ON t.tgfoid = p.oid
        WHERE p.pronamespace = 'warden'::regnamespace
            AND p.proname LIKE 'tg\_watched\_table\_\_%'
    LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s',
            v_trigger.tgname, v_trigger.rel);
    END LOOP;

    FOR v_fn IN
        SELECT p.oid::regprocedure AS fn
        FROM pg_catalog.pg_proc AS p
        WHERE p.pronamespace = 'warden'::regnamespace
            AND (p.proname IN ('lock_account', 'unlock_account',
                'is_account_locked', 'block_ip', 'unblock_ip',
                'is_ip_blocked', 'revoke_sessions', 'lift_alert_containment',
                'expire_containment', 'watch_table', 'unwatch_table',
                'current_actor', 'access_allowed', 'assert_access_allowed',
                'verify_audit_log', 'seal_audit_log', '_access_denial',
                '_capture_event', '_audit_month_digests', '_seal_chain_digest',
                '_raise_integrity_alert')
                OR p.proname LIKE 'tg\_watched\_table\_\_%')
    LOOP
        EXECUTE format('DROP FUNCTION IF EXISTS %s CASCADE', v_fn.fn);
    END LOOP;
END
$rollback$;

DROP TABLE IF EXISTS warden.audit_log_seal_marks;
DROP TABLE IF EXISTS warden.audit_log_seals;
DROP TABLE IF EXISTS warden.watched_tables;
DROP TABLE IF EXISTS warden.session_revocations;
DROP TABLE IF EXISTS warden.user_db_roles;
DROP TABLE IF EXISTS warden.ip_blocks;
DROP TABLE IF EXISTS warden.account_locks;

DELETE FROM warden.settings
WHERE name IN ('capture_max_keys', 'seal_grace', 'seal_max_rows');

DELETE FROM warden.event_types
WHERE event_type IN ('ip_unblocked', 'capture_changed');

-- The integrity rules stay while alerts of the detection area still name
-- them; rolling back that area removes both.
DO $rules$
BEGIN
    IF to_regclass('warden.alerts') IS NULL THEN
        DELETE FROM warden.detection_rules
        WHERE rule IN ('audit_log_tampering', 'capture_disabled');
    ELSE
        EXECUTE 'DELETE FROM warden.detection_rules AS r '
            'WHERE r.rule IN (''audit_log_tampering'', '
            '''capture_disabled'') AND NOT EXISTS (SELECT 1 FROM '
            'warden.alerts AS a WHERE a.rule = r.rule)';
    END IF;
END
$rules$;
