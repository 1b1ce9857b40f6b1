-- pgwarden schema, part 2: detection. The alerts the rules raise, the state
-- of the scheduled run, the data model the access rules judge against
-- (table sensitivity, application roles and their permissions, high-value
-- customers), and the partial indexes of the event log that the detection
-- queries read.
--
-- This file and migrations/0002_detection.sql build the same objects; the
-- drift test (tests/test_schema_drift.py) fails when they differ.

-- One alert per finding of a rule; a continuing attack extends its open
-- alert rather than adding another.
CREATE TABLE warden.alerts (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    rule text NOT NULL REFERENCES warden.detection_rules (rule),
    severity text NOT NULL
        CHECK (severity IN ('critical', 'high', 'medium', 'low')),
    risk_score smallint NOT NULL CHECK (risk_score BETWEEN 1 AND 5),
    user_id text,
    ip_address inet,
    subject text NOT NULL,
    first_seen timestamptz NOT NULL,
    last_seen timestamptz NOT NULL,
    event_count integer NOT NULL CHECK (event_count >= 0),
    record_count bigint,
    evidence bigint[] NOT NULL DEFAULT '{}',
    details jsonb NOT NULL DEFAULT '{}',
    status text NOT NULL DEFAULT 'open'
        CHECK (status IN ('open', 'closed')),
    incident_id bigint,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK (first_seen <= last_seen)
);

COMMENT ON TABLE warden.alerts IS
'Alerts raised by the detection rules. At most one open alert per rule and '
'subject: a continuing attack extends it (last_seen, counts, evidence).';
COMMENT ON COLUMN warden.alerts.id IS
'Alert id, sent as the payload of NOTIFY warden_alerts.';
COMMENT ON COLUMN warden.alerts.rule IS
'Rule that raised the alert (warden.detection_rules.rule).';
COMMENT ON COLUMN warden.alerts.severity IS
'Severity of the rule when the alert was raised.';
COMMENT ON COLUMN warden.alerts.risk_score IS
'Risk score (1 to 5) of the rule when the alert was raised.';
COMMENT ON COLUMN warden.alerts.user_id IS
'Application user the alert is about; NULL for address subjects.';
COMMENT ON COLUMN warden.alerts.ip_address IS
'Address or network the alert is about (IPv6 brute force by /64), or the '
'address of the last event for user subjects.';
COMMENT ON COLUMN warden.alerts.subject IS
'What the rule counted over: user:<id> or ip:<address or network>.';
COMMENT ON COLUMN warden.alerts.first_seen IS
'Time of the earliest event behind the alert.';
COMMENT ON COLUMN warden.alerts.last_seen IS
'Time of the latest event behind the alert.';
COMMENT ON COLUMN warden.alerts.event_count IS
'Number of events behind the alert (the length of evidence).';
COMMENT ON COLUMN warden.alerts.record_count IS
'Customer records involved in the events behind the alert.';
COMMENT ON COLUMN warden.alerts.evidence IS
'Ids of the events of warden.security_audit_log behind the alert, sorted.';
COMMENT ON COLUMN warden.alerts.details IS
'Threshold, window, counts and the automatic response taken.';
COMMENT ON COLUMN warden.alerts.status IS
'open while the attack may continue; closed when dealt with.';
COMMENT ON COLUMN warden.alerts.incident_id IS
'Incident the alert belongs to (set by the incident trigger).';
COMMENT ON COLUMN warden.alerts.created_at IS
'When the alert was raised.';
COMMENT ON COLUMN warden.alerts.updated_at IS
'When the alert was last extended or changed.';

CREATE UNIQUE INDEX alerts_one_open_idx
ON warden.alerts (rule, subject)
WHERE status = 'open';

CREATE INDEX alerts_rule_subject_idx
ON warden.alerts (rule, subject, last_seen);

CREATE INDEX alerts_user_idx
ON warden.alerts (user_id, created_at)
WHERE user_id IS NOT NULL;

-- A finding of one rule, before it becomes (or extends) an alert.
CREATE TYPE warden.detection_finding AS (
    rule text,
    severity text,
    risk_score smallint,
    user_id text,
    ip_address inet,
    subject text,
    first_seen timestamptz,
    last_seen timestamptz,
    event_count integer,
    record_count bigint,
    evidence bigint [],
    details jsonb
);

COMMENT ON TYPE warden.detection_finding IS
'One finding of a rule: who, when, how many, and the ids of the events '
'behind it. The monitoring functions return these columns without subject.';

-- Where the scheduled run stands in the event log (a single row).
CREATE TABLE warden.detection_state (
    singleton boolean PRIMARY KEY DEFAULT TRUE CHECK (singleton),
    rescan_from_id bigint NOT NULL DEFAULT 0,
    scanned_to_id bigint,
    scanned_xmax xid8,
    last_run_at timestamptz,
    runs bigint NOT NULL DEFAULT 0
);

COMMENT ON TABLE warden.detection_state IS
'Progress of warden.check_customer_data_access_alerts through the event '
'log, by insertion order (one row).';
COMMENT ON COLUMN warden.detection_state.singleton IS
'Always true: the table holds one row.';
COMMENT ON COLUMN warden.detection_state.rescan_from_id IS
'Each run judges the events with a larger id. Every event up to it is '
'final and judged.';
COMMENT ON COLUMN warden.detection_state.scanned_to_id IS
'Largest event id when the previous run read the log; becomes '
'rescan_from_id once every transaction then in flight has ended.';
COMMENT ON COLUMN warden.detection_state.scanned_xmax IS
'First transaction id not yet started when scanned_to_id was read.';
COMMENT ON COLUMN warden.detection_state.last_run_at IS
'When the scheduled run last finished.';
COMMENT ON COLUMN warden.detection_state.runs IS
'Number of scheduled runs so far.';

INSERT INTO warden.detection_state (singleton) VALUES (TRUE);

-- Sensitivity of the logical customer tables (warden.watch_table writes
-- here; a DBA may also mark tables that only the application reports on).
CREATE TABLE warden.table_sensitivity (
    table_name text PRIMARY KEY CHECK (btrim(table_name) <> ''),
    sensitivity text NOT NULL DEFAULT 'normal'
        CHECK (sensitivity IN ('normal', 'sensitive', 'high_value'))
);

COMMENT ON TABLE warden.table_sensitivity IS
'Sensitivity of logical customer tables, as named in the table_name of '
'events: sensitive and high_value exports alert, high_value needs '
'clearance.';
COMMENT ON COLUMN warden.table_sensitivity.table_name IS
'Logical table name as events report it (a leading public. is ignored '
'when matching).';
COMMENT ON COLUMN warden.table_sensitivity.sensitivity IS
'normal, sensitive or high_value.';

-- The application's roles, whose permissions role_violation and
-- unauthorized_high_value_access judge against.
CREATE TABLE warden.app_roles (
    app_role text PRIMARY KEY CHECK (btrim(app_role) <> ''),
    high_value_clearance boolean NOT NULL DEFAULT FALSE,
    description text
);

COMMENT ON TABLE warden.app_roles IS
'Roles of the application (not database roles), with their clearance for '
'high-value customer data.';
COMMENT ON COLUMN warden.app_roles.app_role IS
'Name of the application role.';
COMMENT ON COLUMN warden.app_roles.high_value_clearance IS
'True when users of this role may access high-value tables and customers.';
COMMENT ON COLUMN warden.app_roles.description IS
'What the role is for.';

CREATE TABLE warden.app_user_roles (
    user_id text NOT NULL CHECK (btrim(user_id) <> ''),
    app_role text NOT NULL
        REFERENCES warden.app_roles (app_role) ON DELETE CASCADE,
    PRIMARY KEY (user_id, app_role)
);

COMMENT ON TABLE warden.app_user_roles IS
'Which application roles each user holds. Users without a row here are '
'not judged by role_violation.';
COMMENT ON COLUMN warden.app_user_roles.user_id IS
'Application user id, as in events.';
COMMENT ON COLUMN warden.app_user_roles.app_role IS
'Application role the user holds.';

CREATE TABLE warden.app_role_permissions (
    app_role text NOT NULL
        REFERENCES warden.app_roles (app_role) ON DELETE CASCADE,
    table_name text NOT NULL CHECK (btrim(table_name) <> ''),
    actions text[] NOT NULL
        CHECK (actions <@ ARRAY['read', 'export', 'insert', 'update',
            'delete', 'truncate', 'modify', '*']),
    PRIMARY KEY (app_role, table_name)
);

COMMENT ON TABLE warden.app_role_permissions IS
'What each application role may do with each customer table; anything '
'else is a role_violation.';
COMMENT ON COLUMN warden.app_role_permissions.app_role IS
'Application role.';
COMMENT ON COLUMN warden.app_role_permissions.table_name IS
'Logical table name as events report it, or * for every table.';
COMMENT ON COLUMN warden.app_role_permissions.actions IS
'Allowed actions: read, export, insert, update, delete, truncate; modify '
'allows the four writes, * allows everything.';

CREATE TABLE warden.high_value_customers (
    customer_id text PRIMARY KEY CHECK (btrim(customer_id) <> ''),
    note text
);

COMMENT ON TABLE warden.high_value_customers IS
'Customers whose records need high-value clearance, matched with '
'metadata.customer_id of events.';
COMMENT ON COLUMN warden.high_value_customers.customer_id IS
'Customer id as events report it in metadata.customer_id.';
COMMENT ON COLUMN warden.high_value_customers.note IS
'Why the customer is high-value.';

-- Partial indexes of the event log for the detection queries, one per
-- event type the rules count. Expressions match the subjects of the rules
-- (user or attempted user name; address, IPv6 by /64).
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

CREATE INDEX security_audit_log_failed_ip_idx
ON warden.security_audit_log (
    (CASE WHEN family(ip_address) = 6
        THEN network(set_masklen(ip_address, 64)) ELSE ip_address END),
    created_at
)
WHERE event_type = 'login_failed';

CREATE INDEX security_audit_log_login_user_idx
ON warden.security_audit_log (user_id, created_at)
WHERE event_type = 'login_success';

CREATE INDEX security_audit_log_escalation_user_idx
ON warden.security_audit_log (user_id, created_at)
WHERE event_type = 'privilege_escalation_attempt';

-- The source rides along so that the 30-day baselines of
-- unusual_access_pattern, which leave out pgwarden's own events, read the
-- index only.
CREATE INDEX security_audit_log_customer_user_idx
ON warden.security_audit_log (user_id, created_at)
INCLUDE (source)
WHERE event_type IN ('customer_data_access', 'customer_data_bulk_export',
    'customer_data_modify');

CREATE INDEX security_audit_log_export_user_idx
ON warden.security_audit_log (user_id, created_at)
WHERE event_type = 'customer_data_bulk_export';
