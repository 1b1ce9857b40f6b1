-- warden._customer_action(p_event_type text, p_metadata jsonb) RETURNS text
--
-- What a customer-data event did, in the words of
-- warden.app_role_permissions.actions: read, export, or for a change
-- insert, update, delete or truncate (metadata.operation), else modify.
-- NULL for events that do not touch customer data.
--
-- No SET search_path: a SQL-standard body is resolved when the function
-- is created, so the caller's path cannot change what it means, and
-- without a SET clause PostgreSQL can inline it into the calling query.
CREATE OR REPLACE FUNCTION warden._customer_action(
    p_event_type text,
    p_metadata jsonb
)
RETURNS text
LANGUAGE sql
STABLE
RETURN (
    SELECT CASE t.category
        WHEN 'data_read' THEN 'read'
        WHEN 'data_export' THEN 'export'
        WHEN 'data_modify' THEN CASE
            WHEN lower(p_metadata ->> 'operation')
                IN ('insert', 'update', 'delete', 'truncate')
                THEN lower(p_metadata ->> 'operation')
            ELSE 'modify'
        END
    END
    FROM warden.event_types AS t
    WHERE t.event_type = p_event_type
);

COMMENT ON FUNCTION warden._customer_action(text, jsonb) IS
'Private: the action of a customer-data event (read, export, insert, '
'update, delete, truncate or modify).';

REVOKE ALL ON FUNCTION warden._customer_action(text, jsonb) FROM PUBLIC;
