-- Privileges on the containment tables, the watched tables and the seals.
-- Re-run on every install. Nobody but the owner writes these tables
-- directly: locks, blocks, watches and seals change through the functions,
-- which record each change as an event. warden_app reads nothing.

SELECT warden._grant_table('{SELECT}', t.tbl::regclass, r.role_name)
FROM unnest(ARRAY[
    'warden.account_locks',
    'warden.ip_blocks',
    'warden.user_db_roles',
    'warden.session_revocations',
    'warden.watched_tables',
    'warden.audit_log_seals'
]) AS t (tbl)
CROSS JOIN unnest(ARRAY['warden_analyst', 'warden_admin']::name[]) AS r (
    role_name
);

-- The security manager maps application users to database roles.
SELECT warden._grant_table(
    '{INSERT, DELETE}', 'warden.user_db_roles', 'warden_admin'
);
