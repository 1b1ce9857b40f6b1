-- Privileges on the detection tables. Re-run on every install.
-- Analysts read alerts and the data model of the access rules; security
-- managers (warden_admin) also maintain that model and close alerts.
-- Alerts are written by pgwarden's own functions only.

SELECT warden._grant_table(
    '{SELECT}', t.tbl::regclass, r.role_name
)
FROM unnest(ARRAY[
    'warden.alerts',
    'warden.detection_state',
    'warden.table_sensitivity',
    'warden.app_roles',
    'warden.app_user_roles',
    'warden.app_role_permissions',
    'warden.high_value_customers'
]) AS t (tbl)
CROSS JOIN unnest(ARRAY['warden_analyst', 'warden_admin']::name[]) AS r (
    role_name
);

SELECT warden._grant_table(
    '{INSERT, UPDATE, DELETE}', t.tbl::regclass, 'warden_admin'
)
FROM unnest(ARRAY[
    'warden.table_sensitivity',
    'warden.app_roles',
    'warden.app_user_roles',
    'warden.app_role_permissions',
    'warden.high_value_customers'
]) AS t (tbl);

SELECT warden._grant_table('{UPDATE}', 'warden.alerts', 'warden_admin');
