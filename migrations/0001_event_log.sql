-- The event log, the catalog of event types, the detection rules and the
-- package roles.
-- depends:

CREATE SCHEMA IF NOT EXISTS warden;

COMMENT ON SCHEMA warden IS
'pgwarden: security events, detection rules, alerts, containment and '
'incidents for the customer data of this database.';

-- Roles the installer created, so that removal drops only those.
CREATE TABLE warden.installed_roles (
    role_name name PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE warden.installed_roles IS
'Package roles that this installation created; removal drops only these.';
COMMENT ON COLUMN warden.installed_roles.role_name IS
'Name of the role (warden_admin, warden_analyst or warden_app).';
COMMENT ON COLUMN warden.installed_roles.created_at IS
'When the installer created the role.';

DO $roles$
DECLARE
    v_role text;
    v_can_create boolean;
BEGIN
    SELECT r.rolsuper OR r.rolcreaterole
    INTO v_can_create
    FROM pg_catalog.pg_roles AS r
    WHERE r.rolname = current_user;

    FOREACH v_role IN ARRAY ARRAY['warden_admin', 'warden_analyst',
        'warden_app']
    LOOP
        IF EXISTS (
            SELECT 1 FROM pg_catalog.pg_roles AS r WHERE r.rolname = v_role
        ) THEN
            CONTINUE;
        END IF;
        IF v_can_create THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN', v_role);
            INSERT INTO warden.installed_roles (role_name) VALUES (v_role);
        ELSE
            RAISE WARNING 'pgwarden: role % does not exist and % may not '
                'create roles', v_role, current_user
                USING DETAIL = 'pgwarden installs without it; the '
                    'privileges meant for it are not granted.',
                HINT = format('Ask an administrator to run: CREATE ROLE %I '
                    'NOLOGIN; then run pgwarden migrate again.', v_role);
        END IF;
    END LOOP;
END
$roles$;

-- The catalog of event types. Applications may only report listed types.
CREATE TABLE warden.event_types (
    event_type text PRIMARY KEY
        CHECK (event_type ~ '^[a-z][a-z0-9_]{0,62}$'),
    category text NOT NULL
        CHECK (category IN ('authentication', 'data_read', 'data_export',
            'data_modify', 'privilege', 'containment', 'integrity',
            'alert')),
    default_risk_score smallint NOT NULL
        CHECK (default_risk_score BETWEEN 1 AND 5),
    builtin boolean NOT NULL DEFAULT FALSE,
    description text NOT NULL
);

COMMENT ON TABLE warden.event_types IS
'Event types that warden.log_event accepts, each with a category and a '
'default risk score. A DBA may add types; built-in ones are used by rules.';
COMMENT ON COLUMN warden.event_types.event_type IS
'Name of the event type, lower case with underscores.';
COMMENT ON COLUMN warden.event_types.category IS
'What the event is about: authentication, data_read, data_export, '
'data_modify, privilege, containment, integrity or alert.';
COMMENT ON COLUMN warden.event_types.default_risk_score IS
'Risk score (1 to 5) stored when the reporter gives none.';
COMMENT ON COLUMN warden.event_types.builtin IS
'True for the types pgwarden ships and its rules rely on.';
COMMENT ON COLUMN warden.event_types.description IS
'What an event of this type means.';

INSERT INTO warden.event_types (
    event_type, category, default_risk_score, builtin, description
)
VALUES
('login_success', 'authentication', 1, TRUE,
    'A user signed in.'),
('login_failed', 'authentication', 2, TRUE,
    'A sign-in attempt failed; metadata.attempted_user names the account '
    'when the user is unknown.'),
('logout', 'authentication', 1, TRUE,
    'A user signed out.'),
('customer_data_access', 'data_read', 2, TRUE,
    'A user read customer records.'),
('customer_data_bulk_export', 'data_export', 3, TRUE,
    'A user exported customer records.'),
('customer_data_modify', 'data_modify', 2, TRUE,
    'Customer records were inserted, updated, deleted or truncated.'),
('privilege_escalation_attempt', 'privilege', 4, TRUE,
    'A user tried to gain privileges it does not have.'),
('permission_denied', 'privilege', 3, TRUE,
    'An action was refused for lack of permission.'),
('role_change', 'privilege', 3, TRUE,
    'A role or its grants changed.'),
('account_locked', 'containment', 3, TRUE,
    'pgwarden or a security manager locked an account.'),
('account_unlocked', 'containment', 2, TRUE,
    'A lock on an account was lifted.'),
('ip_blocked', 'containment', 3, TRUE,
    'pgwarden or a security manager blocked an address or network.'),
('session_revoked', 'containment', 3, TRUE,
    'The sessions of an account were revoked.'),
('audit_tamper_attempt', 'integrity', 5, TRUE,
    'Someone tried to change or remove rows of the event log.'),
('security_alert', 'alert', 3, TRUE,
    'pgwarden raised an alert; the risk score is the alert''s.'),
('log_retention', 'integrity', 1, TRUE,
    'pgwarden removed events older than the retention period.');

-- One row per security event. Append-only; partitioned by event time.
CREATE TABLE warden.security_audit_log (
    id bigint GENERATED ALWAYS AS IDENTITY,
    user_id text,
    event_type text NOT NULL,
    metadata jsonb NOT NULL DEFAULT '{}',
    risk_score smallint NOT NULL CHECK (risk_score BETWEEN 1 AND 5),
    created_at timestamptz NOT NULL DEFAULT now(),
    ip_address inet,
    table_name text,
    record_count integer CHECK (record_count >= 0),
    db_role text NOT NULL DEFAULT current_user,
    session_id text,
    source text NOT NULL DEFAULT 'application'
        CHECK (source IN ('application', 'trigger', 'importer', 'pgwarden')),
    stored_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);

COMMENT ON TABLE warden.security_audit_log IS
'One row per security event. Append-only: UPDATE and DELETE are refused '
'and recorded, TRUNCATE is refused. Range-partitioned by created_at.';
COMMENT ON COLUMN warden.security_audit_log.id IS
'Event id, increasing in the order events were stored.';
COMMENT ON COLUMN warden.security_audit_log.user_id IS
'Application user the event is about; NULL when unknown.';
COMMENT ON COLUMN warden.security_audit_log.event_type IS
'Type of the event, one of warden.event_types.';
COMMENT ON COLUMN warden.security_audit_log.metadata IS
'Further facts about the event; data_quality lists problems with the input '
'and raw_ip_address keeps an address that could not be parsed.';
COMMENT ON COLUMN warden.security_audit_log.risk_score IS
'Risk of the event from 1 (routine) to 5 (critical).';
COMMENT ON COLUMN warden.security_audit_log.created_at IS
'When the event happened; the time the detection windows use.';
COMMENT ON COLUMN warden.security_audit_log.ip_address IS
'Client address; IPv4-mapped IPv6 addresses are stored as IPv4.';
COMMENT ON COLUMN warden.security_audit_log.table_name IS
'Logical table the event concerns (the partitioned parent, never a '
'partition).';
COMMENT ON COLUMN warden.security_audit_log.record_count IS
'Number of customer records involved.';
COMMENT ON COLUMN warden.security_audit_log.db_role IS
'Database role that reported or caused the event.';
COMMENT ON COLUMN warden.security_audit_log.session_id IS
'Database session that stored the event, as in log_line_prefix %c.';
COMMENT ON COLUMN warden.security_audit_log.source IS
'Who reported the event: application, trigger, importer or pgwarden.';
COMMENT ON COLUMN warden.security_audit_log.stored_at IS
'When the event was stored (differs from created_at for late events).';

-- Rows whose month has no partition of its own land here until
-- warden.create_log_partitions moves them into one.
CREATE TABLE warden.security_audit_log_default
PARTITION OF warden.security_audit_log DEFAULT;

COMMENT ON TABLE warden.security_audit_log_default IS
'Events outside the months that have a partition of their own.';

CREATE INDEX security_audit_log_user_time_idx
ON warden.security_audit_log (user_id, created_at)
WHERE user_id IS NOT NULL;

CREATE INDEX security_audit_log_ip_time_idx
ON warden.security_audit_log (ip_address, created_at)
WHERE ip_address IS NOT NULL;

CREATE INDEX security_audit_log_id_idx
ON warden.security_audit_log (id);

CREATE INDEX security_audit_log_type_time_idx
ON warden.security_audit_log (event_type, created_at);

-- The detection rules: one row per rule id, tuned with UPDATE.
CREATE TABLE warden.detection_rules (
    rule text PRIMARY KEY,
    enabled boolean NOT NULL DEFAULT TRUE,
    severity text NOT NULL
        CHECK (severity IN ('critical', 'high', 'medium', 'low')),
    risk_score smallint NOT NULL CHECK (risk_score BETWEEN 1 AND 5),
    threshold numeric NOT NULL,
    time_window interval NOT NULL,
    response text NOT NULL DEFAULT 'none'
        CHECK (response IN ('none', 'lock_account', 'block_ip',
            'lock_and_revoke', 'suspend_account', 'refuse')),
    response_duration interval,
    realtime boolean NOT NULL DEFAULT FALSE,
    monitor text NOT NULL
        CHECK (monitor IN ('theft', 'unauthorized')),
    params jsonb NOT NULL DEFAULT '{}',
    description text NOT NULL
);

COMMENT ON TABLE warden.detection_rules IS
'The detection rules, one row per rule id. UPDATE a row to tune a rule; '
'no code change is needed.';
COMMENT ON COLUMN warden.detection_rules.rule IS
'Rule id, as named in alerts and incidents.';
COMMENT ON COLUMN warden.detection_rules.enabled IS
'False silences the rule.';
COMMENT ON COLUMN warden.detection_rules.severity IS
'Severity of its alerts: critical, high, medium or low.';
COMMENT ON COLUMN warden.detection_rules.risk_score IS
'Risk score (1 to 5) of its alerts.';
COMMENT ON COLUMN warden.detection_rules.threshold IS
'The count or size the rule compares with; see description for which.';
COMMENT ON COLUMN warden.detection_rules.time_window IS
'Sliding window, anchored at event time, both ends included.';
COMMENT ON COLUMN warden.detection_rules.response IS
'Automatic response: none, lock_account, block_ip, lock_and_revoke, '
'suspend_account or refuse.';
COMMENT ON COLUMN warden.detection_rules.response_duration IS
'How long an automatic lock, block or suspension lasts.';
COMMENT ON COLUMN warden.detection_rules.realtime IS
'True when the rule also runs in the transaction that stores the event.';
COMMENT ON COLUMN warden.detection_rules.monitor IS
'Which monitoring function reports it: theft '
'(detect_customer_data_theft_attempts) or unauthorized '
'(monitor_unauthorized_customer_access).';
COMMENT ON COLUMN warden.detection_rules.params IS
'Further settings of the rule, such as minimums and look-back periods.';
COMMENT ON COLUMN warden.detection_rules.description IS
'The condition in words.';

INSERT INTO warden.detection_rules (
    rule, severity, risk_score, threshold, time_window, response,
    response_duration, realtime, monitor, params, description
)
VALUES
('bulk_export', 'critical', 5, 50, '0 seconds', 'none', NULL, TRUE,
    'theft', '{}',
    'One export event with record_count above the threshold.'),
('sensitive_export', 'high', 4, 50, '0 seconds', 'none', NULL, TRUE,
    'theft', '{}',
    'An export of a sensitive or high-value table of at most threshold '
    'records.'),
('cumulative_export', 'critical', 5, 50, '24 hours', 'none', NULL, FALSE,
    'theft', '{}',
    'One user''s exports within the window add up to more than threshold '
    'records while no single export exceeds it.'),
('privilege_escalation_burst', 'critical', 5, 2, '10 minutes',
    'lock_account', '24 hours', TRUE, 'unauthorized', '{}',
    'At least threshold privilege-escalation attempts by one user within '
    'the window.'),
('privilege_escalation_attempt', 'high', 4, 1, '0 seconds', 'none', NULL,
    TRUE, 'unauthorized', '{}',
    'A single privilege-escalation attempt.'),
('compromise_with_data_access', 'critical', 5, 1, '60 minutes',
    'lock_and_revoke', '24 hours', FALSE, 'theft', '{}',
    'A suspicious login followed by customer-data access by that user '
    'within the window.'),
('unauthorized_high_value_access', 'high', 4, 1, '0 seconds', 'refuse',
    NULL, TRUE, 'unauthorized', '{}',
    'Access to a high-value table or customer by a user whose role lacks '
    'high-value clearance.'),
('role_violation', 'high', 4, 1, '0 seconds', 'refuse', NULL, TRUE,
    'unauthorized', '{}',
    'Access to customer data outside the permissions of the user''s role.'),
('rate_limit', 'high', 4, 100, '60 minutes', 'suspend_account',
    '60 minutes', FALSE, 'theft', '{}',
    'More than threshold customer-data operations by one user within the '
    'window.'),
('moderate_rate', 'medium', 3, 60, '60 minutes', 'none', NULL, FALSE,
    'theft', '{"upper": 100}',
    'More than threshold (and at most params.upper) customer-data '
    'operations by one user within the window.'),
('suspicious_activity', 'high', 4, 3, '15 minutes', 'none', NULL, FALSE,
    'unauthorized', '{}',
    'One user active from threshold or more distinct networks within the '
    'window, or any activity by a locked account or from a blocked '
    'address.'),
('failed_login_burst_user', 'medium', 3, 5, '15 minutes', 'lock_account',
    '30 minutes', TRUE, 'unauthorized', '{}',
    'More than threshold failed logins for one user within the window.'),
('failed_login_burst_ip', 'medium', 3, 5, '15 minutes', 'block_ip',
    '30 minutes', TRUE, 'unauthorized', '{}',
    'More than threshold failed logins from one source address (IPv6 by '
    '/64) within the window.'),
('credential_stuffing', 'high', 4, 5, '15 minutes', 'block_ip',
    '24 hours', TRUE, 'unauthorized', '{}',
    'Failed logins from one source address against threshold or more '
    'distinct users within the window.'),
('unusual_access_pattern', 'medium', 3, 3, '30 days', 'none', NULL, FALSE,
    'theft', '{"min_active_days": 7, "min_hourly_volume": 20, '
    '"percentile": 0.95}',
    'Customer-data access at an hour of day with no activity in the '
    'user''s baseline, or hourly volume above threshold times the '
    'baseline''s 95th percentile (at least min_hourly_volume).'),
('new_location_login', 'low', 2, 1, '90 days', 'none', NULL, FALSE,
    'unauthorized', '{}',
    'A successful login from a network not seen for that user within the '
    'window; never for a user''s first login.');

-- Settings of the installation, read by functions through warden._setting.
CREATE TABLE warden.settings (
    name text PRIMARY KEY,
    value text NOT NULL,
    description text NOT NULL
);

COMMENT ON TABLE warden.settings IS
'Settings of this pgwarden installation, tuned with UPDATE.';
COMMENT ON COLUMN warden.settings.name IS 'Name of the setting.';
COMMENT ON COLUMN warden.settings.value IS 'Value of the setting, as text.';
COMMENT ON COLUMN warden.settings.description IS 'What the setting does.';

INSERT INTO warden.settings (name, value, description)
VALUES
('partition_months_ahead', '3',
    'Monthly partitions of the event log kept ready ahead of now.'),
('partition_months_behind', '3',
    'Monthly partitions of the event log created behind now at install.');
