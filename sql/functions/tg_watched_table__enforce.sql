-- warden.tg_watched_table__enforce() RETURNS trigger
--
-- BEFORE INSERT, UPDATE, DELETE or TRUNCATE, once per statement on a
-- watched customer table: refuses the write with SQLSTATE 42501 when the
-- current actor is locked or its address blocked (see
-- warden.assert_access_allowed).
--
-- SECURITY DEFINER: the writing role has no access to pgwarden's tables.
CREATE OR REPLACE FUNCTION warden.tg_watched_table__enforce()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM warden.assert_access_allowed();
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION warden.tg_watched_table__enforce() IS
'Trigger: refuse writes to a watched table by a locked actor or from a '
'blocked address (42501).';

REVOKE ALL ON FUNCTION warden.tg_watched_table__enforce() FROM PUBLIC;
