-- Privileges on the event log, its catalog, the rules and the settings.
-- Re-run on every install, so roles created after pgwarden get them too.
-- warden_app reports through warden.log_event only; it reads nothing.

REVOKE ALL ON SCHEMA warden FROM PUBLIC;

DO $grant$
DECLARE
    v_role text;
BEGIN
    FOREACH v_role IN ARRAY ARRAY['warden_admin', 'warden_analyst',
        'warden_app']
    LOOP
        IF EXISTS (
            SELECT 1 FROM pg_catalog.pg_roles AS r WHERE r.rolname = v_role
        ) THEN
            EXECUTE format('GRANT USAGE ON SCHEMA warden TO %I', v_role);
        END IF;
    END LOOP;
END
$grant$;

SELECT warden._grant_table(
    '{SELECT}', t.tbl::regclass, r.role_name
)
FROM unnest(ARRAY[
    'warden.security_audit_log',
    'warden.event_types',
    'warden.detection_rules',
    'warden.settings'
]) AS t (tbl)
CROSS JOIN unnest(ARRAY['warden_analyst', 'warden_admin']::name[]) AS r (
    role_name
);

SELECT warden._grant_table(
    '{INSERT, UPDATE}', t.tbl::regclass, 'warden_admin'
)
FROM unnest(ARRAY[
    'warden.event_types',
    'warden.detection_rules',
    'warden.settings'
]) AS t (tbl);
