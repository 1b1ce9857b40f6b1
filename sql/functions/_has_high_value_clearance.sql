-- warden._has_high_value_clearance(p_user_id text) RETURNS boolean
--
-- Whether one of the application roles of a user has high-value
-- clearance. A user without any role has none.
--
-- No SET search_path: a SQL-standard body is resolved when the function
-- is created, so the caller's path cannot change what it means, and
-- without a SET clause PostgreSQL can inline it into the calling query.
CREATE OR REPLACE FUNCTION warden._has_high_value_clearance(
    p_user_id text
)
RETURNS boolean
LANGUAGE sql
STABLE
RETURN EXISTS (
    SELECT 1
    FROM warden.app_user_roles AS ur
    INNER JOIN warden.app_roles AS r ON ur.app_role = r.app_role
    WHERE ur.user_id = p_user_id
        AND r.high_value_clearance
);

COMMENT ON FUNCTION warden._has_high_value_clearance(text) IS
'Private: whether a role of the user has high-value clearance.';

REVOKE ALL ON FUNCTION warden._has_high_value_clearance(text) FROM PUBLIC;
