-- pgwarden schema, part 4: incidents with deadlines and escalation, their
-- timeline, the notification outbox, the message templates of the runbook
-- and the approved profiles of the security dashboard.
--
-- This file and migrations/0004_incidents.sql build the same objects; the
-- drift test (tests/test_schema_drift.py) fails when they differ.

-- One row per incident. Alerts open incidents, or join the open incident of
-- the same rule and subject (the user, else the alert's subject).
CREATE TABLE warden.incidents (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    reference text GENERATED ALWAYS AS (
        'INC-' || lpad(id::text, 6, '0')
    ) STORED,
    rule text NOT NULL,
    severity text NOT NULL
        CHECK (severity IN ('critical', 'high', 'medium', 'low')),
    risk_score smallint CHECK (risk_score BETWEEN 1 AND 5),
    status text NOT NULL DEFAULT 'open'
        CHECK (status IN ('open', 'acknowledged', 'investigating',
            'contained', 'resolved', 'false_positive')),
    user_id text,
    subject text NOT NULL,
    ip_address inet,
    title text NOT NULL,
    detected_at timestamptz NOT NULL DEFAULT now(),
    due_at timestamptz NOT NULL,
    escalation_level smallint NOT NULL DEFAULT 1
        CHECK (escalation_level BETWEEN 1 AND 4),
    escalated_at timestamptz,
    acknowledged_at timestamptz,
    acknowledged_by text,
    contained_at timestamptz,
    resolved_at timestamptz,
    resolved_by text,
    resolution text,
    root_cause text,
    lessons_learned text,
    records_exposed bigint CHECK (records_exposed >= 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (reference)
);

COMMENT ON TABLE warden.incidents IS
'Incidents of the response process: one open incident per rule and '
'subject, with a response deadline, an escalation level and the '
'post-incident fields. Changed only through the lifecycle functions.';
COMMENT ON COLUMN warden.incidents.id IS 'Incident id.';
COMMENT ON COLUMN warden.incidents.reference IS
'Readable reference quoted in messages, such as INC-000042.';
COMMENT ON COLUMN warden.incidents.rule IS
'Detection rule whose alerts make up the incident.';
COMMENT ON COLUMN warden.incidents.severity IS
'Highest severity of its alerts: critical, high, medium or low.';
COMMENT ON COLUMN warden.incidents.risk_score IS
'Highest risk score (1 to 5) of its alerts.';
COMMENT ON COLUMN warden.incidents.status IS
'open, acknowledged, investigating, contained, resolved or '
'false_positive; see warden.incident_transitions for the allowed moves.';
COMMENT ON COLUMN warden.incidents.user_id IS
'Application user the incident is about; NULL when the alerts name none.';
COMMENT ON COLUMN warden.incidents.subject IS
'What the alerts are grouped by: the user id, else the alert subject '
'(such as an address).';
COMMENT ON COLUMN warden.incidents.ip_address IS
'Client address of the first alert, when it had one.';
COMMENT ON COLUMN warden.incidents.title IS
'One-line description of what was detected.';
COMMENT ON COLUMN warden.incidents.detected_at IS
'When the first alert of the incident was raised.';
COMMENT ON COLUMN warden.incidents.due_at IS
'Response deadline: critical 5 minutes, high 15, medium 60, low the end '
'of the next business day (settings response_time_* and business_*).';
COMMENT ON COLUMN warden.incidents.escalation_level IS
'1 logged, 2 dashboard, 3 e-mail and SMS (critical), 4 management (the '
'deadline passed unacknowledged).';
COMMENT ON COLUMN warden.incidents.escalated_at IS
'When the incident last went up an escalation level.';
COMMENT ON COLUMN warden.incidents.acknowledged_at IS
'When someone first took the incident on; NULL while unacknowledged.';
COMMENT ON COLUMN warden.incidents.acknowledged_by IS
'Who acknowledged the incident.';
COMMENT ON COLUMN warden.incidents.contained_at IS
'When the incident was marked contained.';
COMMENT ON COLUMN warden.incidents.resolved_at IS
'When the incident was resolved or marked a false positive.';
COMMENT ON COLUMN warden.incidents.resolved_by IS
'Who resolved the incident.';
COMMENT ON COLUMN warden.incidents.resolution IS
'How the incident was resolved, in words.';
COMMENT ON COLUMN warden.incidents.root_cause IS
'Post-incident: the root cause found.';
COMMENT ON COLUMN warden.incidents.lessons_learned IS
'Post-incident: lessons learned and improvements decided.';
COMMENT ON COLUMN warden.incidents.records_exposed IS
'Post-incident: number of customer records found exposed.';
COMMENT ON COLUMN warden.incidents.created_at IS
'When the row was stored.';
COMMENT ON COLUMN warden.incidents.updated_at IS
'When the row last changed.';

-- At most one open incident per rule and subject: a repeat joins it.
CREATE UNIQUE INDEX incidents_one_open_idx
ON warden.incidents (rule, subject)
WHERE status NOT IN ('resolved', 'false_positive');

CREATE INDEX incidents_overdue_idx
ON warden.incidents (due_at)
WHERE status = 'open';

CREATE INDEX incidents_user_idx
ON warden.incidents (user_id, detected_at)
WHERE user_id IS NOT NULL;

-- The allowed lifecycle moves, one row each, read by the lifecycle
-- functions and quoted in the hint of a refused move.
CREATE TABLE warden.incident_transitions (
    from_status text NOT NULL,
    to_status text NOT NULL,
    PRIMARY KEY (from_status, to_status)
);

COMMENT ON TABLE warden.incident_transitions IS
'Allowed moves of an incident between statuses; any other is refused.';
COMMENT ON COLUMN warden.incident_transitions.from_status IS
'Status the incident is in.';
COMMENT ON COLUMN warden.incident_transitions.to_status IS
'Status it may move to.';

INSERT INTO warden.incident_transitions (from_status, to_status)
VALUES
('open', 'acknowledged'),
('open', 'investigating'),
('open', 'contained'),
('open', 'resolved'),
('open', 'false_positive'),
('acknowledged', 'investigating'),
('acknowledged', 'contained'),
('acknowledged', 'resolved'),
('acknowledged', 'false_positive'),
('investigating', 'contained'),
('investigating', 'resolved'),
('investigating', 'false_positive'),
('contained', 'investigating'),
('contained', 'resolved'),
('contained', 'false_positive');

-- Every action on an incident, with actor, time and note.
CREATE TABLE warden.incident_timeline (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    incident_id bigint NOT NULL
        REFERENCES warden.incidents (id) ON DELETE CASCADE,
    occurred_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    action text NOT NULL
        CHECK (action IN ('opened', 'alert_joined', 'severity_raised',
            'acknowledged', 'investigating', 'contained', 'resolved',
            'false_positive', 'escalated', 'containment_lifted',
            'post_incident', 'note')),
    actor text NOT NULL,
    from_status text,
    to_status text,
    note text,
    details jsonb NOT NULL DEFAULT '{}'
);

COMMENT ON TABLE warden.incident_timeline IS
'Timeline of every incident: each action with actor, time and note.';
COMMENT ON COLUMN warden.incident_timeline.id IS
'Entry id, increasing in the order entries were written.';
COMMENT ON COLUMN warden.incident_timeline.incident_id IS
'Incident the entry belongs to.';
COMMENT ON COLUMN warden.incident_timeline.occurred_at IS
'When the action happened.';
COMMENT ON COLUMN warden.incident_timeline.action IS
'What happened: opened, alert_joined, severity_raised, a lifecycle move, '
'escalated, containment_lifted, post_incident or note.';
COMMENT ON COLUMN warden.incident_timeline.actor IS
'Who acted: warden.current_actor() of the caller, or pgwarden.';
COMMENT ON COLUMN warden.incident_timeline.from_status IS
'Status before a lifecycle move.';
COMMENT ON COLUMN warden.incident_timeline.to_status IS
'Status after a lifecycle move.';
COMMENT ON COLUMN warden.incident_timeline.note IS
'Free text given by the actor, or a summary written by pgwarden.';
COMMENT ON COLUMN warden.incident_timeline.details IS
'Facts of the action: alert ids, levels, channels, locks lifted.';

CREATE INDEX incident_timeline_incident_idx
ON warden.incident_timeline (incident_id, id);

-- Messages to deliver. The database queues them; `pgwarden watch`
-- delivers them and reports back, so nothing is lost while it is down.
CREATE TABLE warden.notification_outbox (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    channel text NOT NULL
        CHECK (channel IN ('stdout', 'email', 'sms', 'webhook',
            'dashboard')),
    recipient text NOT NULL,
    subject text NOT NULL,
    body text NOT NULL,
    payload jsonb NOT NULL DEFAULT '{}',
    status text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
    attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error text,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at timestamptz,
    incident_id bigint
        REFERENCES warden.incidents (id) ON DELETE SET NULL
);

COMMENT ON TABLE warden.notification_outbox IS
'One row per message to deliver. Inserts NOTIFY channel warden_outbox; '
'deliverers take rows with warden.claim_notifications and report with '
'warden.complete_notification.';
COMMENT ON COLUMN warden.notification_outbox.id IS 'Message id.';
COMMENT ON COLUMN warden.notification_outbox.channel IS
'How to deliver: stdout, email, sms, webhook or dashboard.';
COMMENT ON COLUMN warden.notification_outbox.recipient IS
'Address, number or name of the recipient, from the settings '
'security_manager_email, security_manager_sms, management_email, '
'dashboard_recipient.';
COMMENT ON COLUMN warden.notification_outbox.subject IS
'Subject line of the message.';
COMMENT ON COLUMN warden.notification_outbox.body IS
'Text of the message.';
COMMENT ON COLUMN warden.notification_outbox.payload IS
'The facts of the message as jsonb, for webhooks and dashboards.';
COMMENT ON COLUMN warden.notification_outbox.status IS
'pending (waiting for next_attempt_at), sending (claimed), sent, or '
'failed (gave up after notification_max_attempts).';
COMMENT ON COLUMN warden.notification_outbox.attempts IS
'Delivery attempts so far.';
COMMENT ON COLUMN warden.notification_outbox.last_error IS
'Error of the last failed attempt.';
COMMENT ON COLUMN warden.notification_outbox.next_attempt_at IS
'Pending: not before this time (retry backoff). Sending: the claim '
'lapses at this time and the row may be claimed again.';
COMMENT ON COLUMN warden.notification_outbox.created_at IS
'When the message was queued.';
COMMENT ON COLUMN warden.notification_outbox.sent_at IS
'When delivery succeeded.';
COMMENT ON COLUMN warden.notification_outbox.incident_id IS
'Incident the message is about, if any.';

CREATE INDEX notification_outbox_due_idx
ON warden.notification_outbox (next_attempt_at, id)
WHERE status IN ('pending', 'sending');

CREATE INDEX notification_outbox_incident_idx
ON warden.notification_outbox (incident_id);

-- The runbook's message templates, editable. Placeholders in square
-- brackets are replaced by warden.render_critical_alert and
-- warden.render_user_notification.
CREATE TABLE warden.message_templates (
    name text PRIMARY KEY,
    subject text NOT NULL,
    body text NOT NULL,
    description text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE warden.message_templates IS
'Message templates of the runbook, editable with UPDATE. Placeholders: '
'[TIMESTAMP], [INCIDENT_TYPE], [SEVERITY], [USER_ID/EMAIL], [USER_NAME], '
'[INCIDENT_DESCRIPTION], [BRIEF_DESCRIPTION], [ACTIONS_TAKEN], '
'[SECURITY_ACTION], [INVESTIGATION_STATUS], [NEXT_STEPS], [INCIDENT_ID], '
'[DUE_AT].';
COMMENT ON COLUMN warden.message_templates.name IS
'Template name: critical_alert or user_notification.';
COMMENT ON COLUMN warden.message_templates.subject IS
'Subject line, with placeholders.';
COMMENT ON COLUMN warden.message_templates.body IS
'Message text, with placeholders.';
COMMENT ON COLUMN warden.message_templates.description IS
'What the template is for.';
COMMENT ON COLUMN warden.message_templates.updated_at IS
'When the template was stored or last edited through the package.';

INSERT INTO warden.message_templates (name, subject, body, description)
VALUES
('critical_alert',
    '[SEVERITY] security incident [INCIDENT_ID]: [INCIDENT_TYPE]',
    E'\U0001F6A8 CRITICAL SECURITY INCIDENT\n'
    '\n'
    'Time: [TIMESTAMP]\n'
    'Type: [INCIDENT_TYPE]\n'
    'User: [USER_ID/EMAIL]\n'
    'Details: [INCIDENT_DESCRIPTION]\n'
    '\n'
    'Actions Taken:\n'
    '[ACTIONS_TAKEN]\n'
    '\n'
    'Investigation Status: [INVESTIGATION_STATUS]\n'
    'Next Steps: [NEXT_STEPS]\n'
    '\n'
    'Incident ID: [INCIDENT_ID]\n',
    'The runbook''s Critical Incident Alert, sent to the security team.'),
('user_notification',
    'Security Alert - Account Activity Review',
    E'Dear [USER_NAME],\n'
    '\n'
    'We detected unusual activity on your account that triggered our '
    'security monitoring system.\n'
    '\n'
    'Incident: [BRIEF_DESCRIPTION]\n'
    'Time: [TIMESTAMP]\n'
    'Action Taken: [SECURITY_ACTION]\n'
    '\n'
    'This may be a false positive. If this was legitimate activity, '
    'please contact our support team.\n'
    '\n'
    'For security purposes, we may temporarily restrict account access '
    'until verification is complete.\n'
    '\n'
    'Best regards,\n'
    'Security Team\n',
    'The runbook''s User Notification, sent to the affected user.');

-- Who may open the security dashboard: a manager with an approved profile.
CREATE TABLE warden.dashboard_profiles (
    user_id text PRIMARY KEY,
    display_name text,
    job_role text NOT NULL
        CHECK (job_role IN ('security_manager', 'technical_lead',
            'system_administrator', 'analyst')),
    approved boolean NOT NULL DEFAULT FALSE,
    approved_by text,
    approved_at timestamptz,
    expires_at timestamptz,
    note text
);

COMMENT ON TABLE warden.dashboard_profiles IS
'Profiles of the security dashboard. warden.can_open_security_dashboard '
'lets in a security_manager whose profile is approved and not expired.';
COMMENT ON COLUMN warden.dashboard_profiles.user_id IS
'Application user id (as warden.current_actor() gives it).';
COMMENT ON COLUMN warden.dashboard_profiles.display_name IS
'Name shown on the dashboard.';
COMMENT ON COLUMN warden.dashboard_profiles.job_role IS
'security_manager, technical_lead, system_administrator or analyst; only '
'security managers may open the dashboard.';
COMMENT ON COLUMN warden.dashboard_profiles.approved IS
'True once the profile was approved.';
COMMENT ON COLUMN warden.dashboard_profiles.approved_by IS
'Who approved the profile.';
COMMENT ON COLUMN warden.dashboard_profiles.approved_at IS
'When the profile was approved.';
COMMENT ON COLUMN warden.dashboard_profiles.expires_at IS
'When the approval lapses; NULL for no end.';
COMMENT ON COLUMN warden.dashboard_profiles.note IS
'Why the profile was approved, or anything else worth knowing.';

-- The foreign key that the detection schema could not declare before
-- incidents existed.
ALTER TABLE warden.alerts
ADD CONSTRAINT alerts_incident_id_fkey
FOREIGN KEY (incident_id) REFERENCES warden.incidents (id)
ON DELETE SET NULL;

INSERT INTO warden.settings (name, value, description)
VALUES
('response_time_critical', '5 minutes',
    'Response deadline of a critical incident.'),
('response_time_high', '15 minutes',
    'Response deadline of a high incident.'),
('response_time_medium', '60 minutes',
    'Response deadline of a medium incident.'),
('business_time_zone', 'UTC',
    'Time zone of business hours; low incidents are due at the end of the '
    'next business day there.'),
('business_hours_end', '17:00',
    'End of business hours (local time of business_time_zone).'),
('business_days', '1,2,3,4,5',
    'Business days as ISO weekday numbers (1 Monday to 7 Sunday).'),
('security_manager_email', 'security-manager',
    'E-mail recipient of critical incidents.'),
('security_manager_sms', 'security-manager',
    'SMS recipient of critical incidents.'),
('management_email', 'management',
    'E-mail recipient of incidents whose deadline passed unacknowledged.'),
('dashboard_recipient', 'security-dashboard',
    'Recipient name of dashboard notifications.'),
('notification_max_attempts', '5',
    'Delivery attempts before a notification is marked failed.'),
('notification_retry_delay', '30 seconds',
    'Delay before the first retry; doubled after each failure, at most '
    'one hour.'),
('notification_claim_timeout', '5 minutes',
    'A claimed notification not completed within this time may be claimed '
    'again.')
ON CONFLICT (name) DO NOTHING;
