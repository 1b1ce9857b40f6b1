-- warden._role_permits(p_user_id text, p_table text, p_action text)
-- RETURNS boolean
--
-- Whether one of the application roles of a user allows an action on a
-- table. NULL when the user holds no role: such users are not judged by
-- role_violation, since pgwarden cannot know what they may do.
--
-- No SET search_path: a SQL-standard body is resolved when the function
-- is created, so the caller's path cannot change what it means, and
-- without a SET clause PostgreSQL can inline it into the calling query.
CREATE OR REPLACE FUNCTION warden._role_permits(
    p_user_id text,
    p_table text,
    p_action text
)
RETURNS boolean
LANGUAGE sql
STABLE
RETURN CASE
    WHEN NOT EXISTS (
        SELECT 1 FROM warden.app_user_roles AS ur
        WHERE ur.user_id = p_user_id
    ) THEN NULL
    ELSE EXISTS (
        SELECT 1
        FROM warden.app_user_roles AS ur
        INNER JOIN warden.app_role_permissions AS p
            ON ur.app_role = p.app_role
        WHERE ur.user_id = p_user_id
            AND (
                p.table_name = '*'
                OR regexp_replace(p.table_name, '^public\.', '')
                = regexp_replace(p_table, '^public\.', '')
            )
            AND (
                p.actions && ARRAY['*', p_action]
                OR (
                    'modify' = ANY(p.actions)
                    AND p_action IN ('insert', 'update', 'delete',
                        'truncate', 'modify')
                )
            )
    )
END;

COMMENT ON FUNCTION warden._role_permits(text, text, text) IS
'Private: whether a role of the user allows the action on the table; NULL '
'when the user holds no application role.';

REVOKE ALL ON FUNCTION warden._role_permits(text, text, text) FROM PUBLIC;
