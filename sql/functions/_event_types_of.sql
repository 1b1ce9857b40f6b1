-- warden._event_types_of(p_categories text[]) RETURNS text[]
--
-- The event types of the given categories, so that a type a DBA adds to
-- warden.event_types (say a second kind of export) feeds the rules of its
-- category without a code change.
--
-- No SET search_path: a SQL-standard body is resolved when the function
-- is created, so the caller's path cannot change what it means, and
-- without a SET clause PostgreSQL can inline it into the calling query.
CREATE OR REPLACE FUNCTION warden._event_types_of(
    p_categories text[]
)
RETURNS text[]
LANGUAGE sql
STABLE
RETURN (
    SELECT coalesce(array_agg(t.event_type ORDER BY t.event_type), '{}')
    FROM warden.event_types AS t
    WHERE t.category = ANY(p_categories)
);

COMMENT ON FUNCTION warden._event_types_of(text[]) IS
'Private: the event types of the given categories.';

REVOKE ALL ON FUNCTION warden._event_types_of(text[]) FROM PUBLIC;
