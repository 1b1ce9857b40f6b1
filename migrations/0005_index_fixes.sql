-- Indexes that hold any input: attempted user names cut to 256
-- characters in the failed-login index, and the importer's ingest keys.
-- depends: 0004_incidents

-- A failed login naming a user name of several kilobytes exceeded the
-- btree row limit and could not be stored at all.
DROP INDEX warden.security_audit_log_failed_user_idx;

-- Attempted user names are cut to 256 characters, like user ids, so that
-- a failed login naming any user at all fits the index.
CREATE INDEX security_audit_log_failed_user_idx
ON warden.security_audit_log (
    (left(
        coalesce(user_id, nullif(btrim(metadata ->> 'attempted_user'), '')),
        256
    )),
    created_at
)
WHERE event_type = 'login_failed';

-- The importer skips events it stored before by their ingest key.
CREATE INDEX security_audit_log_ingest_key_idx
ON warden.security_audit_log ((metadata ->> 'ingest_key'))
WHERE source = 'importer';
