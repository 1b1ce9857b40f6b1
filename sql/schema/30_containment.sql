-- pgwarden schema, part 3: containment (account locks, address blocks,
-- session revocation), the customer tables pgwarden watches, and the seals
-- that make tampering with the event log evident.
--
-- This file and migrations/0003_containment.sql build the same objects; the
-- drift test (tests/test_schema_drift.py) fails when they differ.

-- Locks and suspensions of application accounts.
CREATE TABLE warden.account_locks (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id text NOT NULL CHECK (btrim(user_id) <> ''),
    kind text NOT NULL DEFAULT 'lock'
        CHECK (kind IN ('lock', 'suspend')),
    reason text NOT NULL,
    locked_at timestamptz NOT NULL DEFAULT now(),
    locked_by text NOT NULL,
    expires_at timestamptz,
    lifted_at timestamptz,
    lifted_by text,
    lift_reason text,
    alert_id bigint,
    CHECK (expires_at IS NULL OR expires_at > locked_at),
    CHECK ((lifted_at IS NULL) = (lifted_by IS NULL))
);

COMMENT ON TABLE warden.account_locks IS
'Locks and suspensions of application accounts. A lock is active while '
'lifted_at is NULL and expires_at is NULL or still ahead.';
COMMENT ON COLUMN warden.account_locks.id IS
'Lock id, named in hints when a write is refused.';
COMMENT ON COLUMN warden.account_locks.user_id IS
'Application user (or database role) that is locked.';
COMMENT ON COLUMN warden.account_locks.kind IS
'lock (until lifted or expired) or suspend (a rate-limit pause).';
COMMENT ON COLUMN warden.account_locks.reason IS
'Why the account was locked.';
COMMENT ON COLUMN warden.account_locks.locked_at IS
'When the lock was placed.';
COMMENT ON COLUMN warden.account_locks.locked_by IS
'Actor that placed the lock (pgwarden for automatic responses).';
COMMENT ON COLUMN warden.account_locks.expires_at IS
'When the lock lifts itself; NULL keeps it until lifted.';
COMMENT ON COLUMN warden.account_locks.lifted_at IS
'When the lock was lifted early or its expiry was recorded.';
COMMENT ON COLUMN warden.account_locks.lifted_by IS
'Actor that lifted the lock; pgwarden when it expired.';
COMMENT ON COLUMN warden.account_locks.lift_reason IS
'Why the lock was lifted (expired, false positive, ...).';
COMMENT ON COLUMN warden.account_locks.alert_id IS
'Alert that caused the lock, if any (warden.alerts.id).';

CREATE INDEX account_locks_active_idx
ON warden.account_locks (user_id, expires_at)
WHERE lifted_at IS NULL;

CREATE INDEX account_locks_alert_idx
ON warden.account_locks (alert_id)
WHERE alert_id IS NOT NULL;

-- Blocks of client addresses and networks.
CREATE TABLE warden.ip_blocks (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    network inet NOT NULL,
    reason text NOT NULL,
    blocked_at timestamptz NOT NULL DEFAULT now(),
    blocked_by text NOT NULL,
    expires_at timestamptz,
    lifted_at timestamptz,
    lifted_by text,
    lift_reason text,
    alert_id bigint,
    CHECK (expires_at IS NULL OR expires_at > blocked_at),
    CHECK ((lifted_at IS NULL) = (lifted_by IS NULL))
);

COMMENT ON TABLE warden.ip_blocks IS
'Blocked client addresses and networks. A block is active while lifted_at '
'is NULL and expires_at is NULL or still ahead.';
COMMENT ON COLUMN warden.ip_blocks.id IS
'Block id, named in hints when a write is refused.';
COMMENT ON COLUMN warden.ip_blocks.network IS
'Blocked address (/32 or /128) or network.';
COMMENT ON COLUMN warden.ip_blocks.reason IS
'Why the address was blocked.';
COMMENT ON COLUMN warden.ip_blocks.blocked_at IS
'When the block was placed.';
COMMENT ON COLUMN warden.ip_blocks.blocked_by IS
'Actor that placed the block (pgwarden for automatic responses).';
COMMENT ON COLUMN warden.ip_blocks.expires_at IS
'When the block lifts itself; NULL keeps it until lifted.';
COMMENT ON COLUMN warden.ip_blocks.lifted_at IS
'When the block was lifted early or its expiry was recorded.';
COMMENT ON COLUMN warden.ip_blocks.lifted_by IS
'Actor that lifted the block; pgwarden when it expired.';
COMMENT ON COLUMN warden.ip_blocks.lift_reason IS
'Why the block was lifted.';
COMMENT ON COLUMN warden.ip_blocks.alert_id IS
'Alert that caused the block, if any (warden.alerts.id).';

CREATE INDEX ip_blocks_active_idx
ON warden.ip_blocks USING gist (network inet_ops)
WHERE lifted_at IS NULL;

CREATE INDEX ip_blocks_alert_idx
ON warden.ip_blocks (alert_id)
WHERE alert_id IS NOT NULL;

-- Which database roles an application user logs in as, so that revoking
-- the user's sessions can end those database sessions too.
CREATE TABLE warden.user_db_roles (
    user_id text NOT NULL CHECK (btrim(user_id) <> ''),
    db_role name NOT NULL,
    PRIMARY KEY (user_id, db_role)
);

COMMENT ON TABLE warden.user_db_roles IS
'Maps application users to the database roles they log in as; '
'warden.revoke_sessions ends the sessions of those roles.';
COMMENT ON COLUMN warden.user_db_roles.user_id IS
'Application user id.';
COMMENT ON COLUMN warden.user_db_roles.db_role IS
'Database role whose sessions belong to that user.';

-- Session revocations, for applications that check token issue times.
CREATE TABLE warden.session_revocations (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id text NOT NULL,
    reason text NOT NULL,
    revoked_at timestamptz NOT NULL DEFAULT now(),
    revoked_by text NOT NULL,
    alert_id bigint,
    sessions_ended integer NOT NULL DEFAULT 0,
    sessions_not_ended integer NOT NULL DEFAULT 0
);

COMMENT ON TABLE warden.session_revocations IS
'Revocations of the sessions of an account. Tokens issued before '
'revoked_at are refused by warden.access_allowed.';
COMMENT ON COLUMN warden.session_revocations.id IS
'Revocation id, sent in the warden_sessions notification.';
COMMENT ON COLUMN warden.session_revocations.user_id IS
'Application user whose sessions were revoked.';
COMMENT ON COLUMN warden.session_revocations.reason IS
'Why the sessions were revoked.';
COMMENT ON COLUMN warden.session_revocations.revoked_at IS
'When the sessions were revoked.';
COMMENT ON COLUMN warden.session_revocations.revoked_by IS
'Actor that revoked them (pgwarden for automatic responses).';
COMMENT ON COLUMN warden.session_revocations.alert_id IS
'Alert that caused the revocation, if any.';
COMMENT ON COLUMN warden.session_revocations.sessions_ended IS
'Database sessions of mapped roles that were ended.';
COMMENT ON COLUMN warden.session_revocations.sessions_not_ended IS
'Database sessions of mapped roles that the installing role could not '
'end for lack of privilege.';

CREATE INDEX session_revocations_user_idx
ON warden.session_revocations (user_id, revoked_at);

-- Customer tables whose changes pgwarden captures.
CREATE TABLE warden.watched_tables (
    table_name text PRIMARY KEY,
    relation regclass NOT NULL UNIQUE,
    sensitivity text NOT NULL DEFAULT 'normal'
        CHECK (sensitivity IN ('normal', 'sensitive', 'high_value')),
    key_columns name[],
    watched_at timestamptz NOT NULL DEFAULT now(),
    watched_by text NOT NULL
);

COMMENT ON TABLE warden.watched_tables IS
'Customer tables whose inserts, updates, deletes and truncates are '
'recorded as customer_data_modify events (see warden.watch_table).';
COMMENT ON COLUMN warden.watched_tables.table_name IS
'Logical name, schema-qualified and quoted as by format(''%I.%I''); the '
'top partitioned parent for a partitioned table.';
COMMENT ON COLUMN warden.watched_tables.relation IS
'The watched table (the top parent when partitioned).';
COMMENT ON COLUMN warden.watched_tables.sensitivity IS
'normal, sensitive or high_value, as in warden.table_sensitivity.';
COMMENT ON COLUMN warden.watched_tables.key_columns IS
'Primary-key columns recorded per statement; NULL when the table has no '
'primary key and only counts are recorded.';
COMMENT ON COLUMN warden.watched_tables.watched_at IS
'When the table was first watched.';
COMMENT ON COLUMN warden.watched_tables.watched_by IS
'Actor that asked for the table to be watched.';

-- Seals: chained digests over ranges of the event log.
CREATE TABLE warden.audit_log_seals (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    first_id bigint NOT NULL,
    last_id bigint NOT NULL,
    row_count bigint NOT NULL,
    month_digests jsonb NOT NULL,
    previous_digest bytea,
    chain_digest bytea NOT NULL,
    sealed_at timestamptz NOT NULL DEFAULT now(),
    sealed_by text NOT NULL,
    CHECK (first_id <= last_id),
    UNIQUE (first_id)
);

COMMENT ON TABLE warden.audit_log_seals IS
'Seals of the event log: each covers the ids first_id..last_id, follows '
'the previous seal without a gap, and chains its digest to it. '
'warden.verify_audit_log recomputes them.';
COMMENT ON COLUMN warden.audit_log_seals.id IS
'Seal number, in sealing order.';
COMMENT ON COLUMN warden.audit_log_seals.first_id IS
'First event id covered (the previous seal''s last_id + 1).';
COMMENT ON COLUMN warden.audit_log_seals.last_id IS
'Last event id covered.';
COMMENT ON COLUMN warden.audit_log_seals.row_count IS
'Events present in the range when it was sealed.';
COMMENT ON COLUMN warden.audit_log_seals.month_digests IS
'Per UTC month of created_at: {"YYYY-MM": {"rows": n, "digest": hex}}, '
'so that retention of a month is told apart from tampering.';
COMMENT ON COLUMN warden.audit_log_seals.previous_digest IS
'chain_digest of the previous seal; NULL for the first seal.';
COMMENT ON COLUMN warden.audit_log_seals.chain_digest IS
'sha256 over previous_digest, the range and month_digests.';
COMMENT ON COLUMN warden.audit_log_seals.sealed_at IS
'When the seal was made.';
COMMENT ON COLUMN warden.audit_log_seals.sealed_by IS
'Actor that ran warden.seal_audit_log.';

-- Horizons noted by warden.seal_audit_log: ids handed out up to a moment,
-- sealed only once every transaction that could still hold one has ended.
CREATE TABLE warden.audit_log_seal_marks (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    max_id bigint NOT NULL,
    snapshot_xmax xid8 NOT NULL,
    taken_at timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE warden.audit_log_seal_marks IS
'Horizons for sealing: event ids up to max_id were handed out before '
'taken_at; they are sealed once no transaction older than snapshot_xmax '
'is running.';
COMMENT ON COLUMN warden.audit_log_seal_marks.id IS
'Mark number.';
COMMENT ON COLUMN warden.audit_log_seal_marks.max_id IS
'Highest event id handed out when the mark was taken.';
COMMENT ON COLUMN warden.audit_log_seal_marks.snapshot_xmax IS
'First transaction id not yet started when the mark was taken.';
COMMENT ON COLUMN warden.audit_log_seal_marks.taken_at IS
'When the mark was taken.';

INSERT INTO warden.event_types (
    event_type, category, default_risk_score, builtin, description
)
VALUES
('ip_unblocked', 'containment', 2, TRUE,
    'A block on an address or network was lifted.'),
('capture_changed', 'integrity', 2, TRUE,
    'A customer table started or stopped being watched by pgwarden.')
ON CONFLICT (event_type) DO NOTHING;

INSERT INTO warden.settings (name, value, description)
VALUES
('capture_max_keys', '100',
    'Primary keys listed per customer_data_modify event; the true count '
    'is kept when the list is cut.'),
('seal_grace', '1 minute',
    'How long warden.seal_audit_log waits before sealing ids handed out, '
    'so that transactions still writing them can commit.'),
('seal_max_rows', '10000',
    'Most events covered by one seal.')
ON CONFLICT (name) DO NOTHING;

-- Alerts that warden.verify_audit_log raises; like every alert they name a
-- rule. They are raised by the integrity check, never by the detection
-- runs, so they are not realtime and report under the unauthorized monitor.
INSERT INTO warden.detection_rules (
    rule, severity, risk_score, threshold, time_window, response,
    response_duration, realtime, monitor, params, description
)
VALUES
('audit_log_tampering', 'critical', 5, 1, '0 seconds', 'none', NULL, FALSE,
    'unauthorized', '{"raised_by": "warden.verify_audit_log"}',
    'Rows of the event log were changed, removed or inserted out of band, '
    'or its seals or triggers were tampered with.'),
('capture_disabled', 'high', 4, 1, '0 seconds', 'none', NULL, FALSE,
    'unauthorized', '{"raised_by": "warden.verify_audit_log"}',
    'The capture triggers of a watched customer table were disabled or '
    'dropped.')
ON CONFLICT (rule) DO NOTHING;
