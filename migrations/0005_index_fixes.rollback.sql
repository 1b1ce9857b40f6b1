-- Back to the indexes of migration 0004.
DROP INDEX warden.security_audit_log_ingest_key_idx;

DROP INDEX warden.security_audit_log_failed_user_idx;

CREATE INDEX security_audit_log_failed_user_idx
ON warden.security_audit_log (
    (coalesce(user_id, nullif(btrim(metadata ->> 'attempted_user'), ''))),
    created_at
)
WHERE event_type = 'login_failed';
