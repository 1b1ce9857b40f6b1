-- An edited template records when it was edited.
CREATE OR REPLACE TRIGGER message_templates_10_touch
BEFORE UPDATE ON warden.message_templates
FOR EACH ROW
EXECUTE FUNCTION warden.tg_message_templates__touch();

COMMENT ON TRIGGER message_templates_10_touch ON warden.message_templates IS
'Sets updated_at when a template is edited.';
