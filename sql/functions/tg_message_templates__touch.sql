-- warden.tg_message_templates__touch() RETURNS trigger
--
-- Stamps updated_at when a security manager edits a template, so that a
-- changed message can be traced to the time of the edit.
CREATE OR REPLACE FUNCTION warden.tg_message_templates__touch()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION warden.tg_message_templates__touch() IS
'Trigger: set updated_at of an edited message template.';

REVOKE ALL ON FUNCTION warden.tg_message_templates__touch() FROM PUBLIC;
