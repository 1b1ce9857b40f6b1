"""The package roles, one by one: what each may and may not do.

warden_analyst reads and runs detection but changes nothing; warden_app
reports events and asks access_allowed, nothing else; warden_admin (the
security manager) does everything, incidents through the functions that
write the timeline. The security dashboard opens for a security manager
with an approved profile.
"""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql

from test_incidents import add_alert, incident_of

VIEWS = [
    "recent_high_risk_events",
    "recent_customer_data_access",
    "recent_bulk_operations",
    "open_incidents",
    "security_dashboard_summary",
]

READ_TABLES = [
    "incidents",
    "incident_timeline",
    "incident_transitions",
    "notification_outbox",
    "message_templates",
    "dashboard_profiles",
    "alerts",
    "security_audit_log",
]

# Calls that change incidents, the outbox, rules or locks: admin only.
ADMIN_CALLS = [
    "SELECT warden.acknowledge_incident({id}, 'x')",
    "SELECT warden.investigate_incident({id}, 'x')",
    "SELECT warden.contain_incident({id}, 'x')",
    "SELECT warden.resolve_incident({id}, 'x')",
    "SELECT warden.resolve_incident({id}, 'x', true)",
    "SELECT warden.record_post_incident({id}, 'cause')",
    "SELECT warden.add_incident_note({id}, 'note')",
    "SELECT warden.escalate_overdue_incidents()",
    "SELECT * FROM warden.claim_notifications()",
    "SELECT warden.complete_notification(1)",
    "SELECT warden.lock_account('u-1', '1 hour', 'x')",
    "SELECT warden.unlock_account('u-1', 'x')",
    "SELECT warden.block_ip('198.51.100.1', '1 hour', 'x')",
    "SELECT warden.check_customer_data_access_alerts()",
]

# Direct writes nobody but the owner may make.
DIRECT_WRITES = [
    "UPDATE warden.incidents SET status = 'resolved'",
    "DELETE FROM warden.incidents",
    "INSERT INTO warden.incident_timeline (incident_id, action, actor)"
    " VALUES ({id}, 'note', 'me')",
    "UPDATE warden.incident_timeline SET note = 'x'",
    "UPDATE warden.notification_outbox SET status = 'sent'",
    "INSERT INTO warden.incident_transitions VALUES ('resolved', 'open')",
]

# Calls an analyst may make: reading, rendering, running detection.
READ_CALLS = [
    "SELECT warden.render_critical_alert({id})",
    "SELECT warden.render_user_notification({id})",
    "SELECT * FROM warden.incident_report({id})",
    "SELECT * FROM warden.user_activity_overview('u-1')",
    "SELECT * FROM warden.user_timeline('u-1')",
    "SELECT warden.can_open_security_dashboard('u-1')",
    "SELECT * FROM warden.detect_customer_data_theft_attempts()",
    "SELECT * FROM warden.monitor_unauthorized_customer_access()",
]


@pytest.fixture
def incident_id(db: psycopg.Connection) -> int:
    """An open critical incident of user u-1."""
    return incident_of(db, add_alert(db))["id"]


def refused(conn: psycopg.Connection, query: str | sql.Composed) -> str | None:
    """Run a query expected to fail; return its SQLSTATE, None if it ran."""
    try:
        conn.execute(query).fetchall()
    except psycopg.Error as exc:
        return exc.diag.sqlstate
    return None


def select_all(relation: str) -> sql.Composed:
    """SELECT * from a relation of the schema warden."""
    return sql.SQL("SELECT * FROM {}").format(sql.Identifier("warden", relation))


def outcomes(conn: psycopg.Connection, queries: list, incident_id: int) -> dict:
    """Map each query to the SQLSTATE it raised (None when it ran)."""
    got = {}
    for query in queries:
        text = (
            query if isinstance(query, sql.Composed) else query.format(id=incident_id)
        )
        got[query if isinstance(query, str) else query.as_string(conn)] = refused(
            conn, text
        )
    return got


# warden_analyst


def test_analyst_reads_views_tables_and_reports(connect_as, incident_id):
    """Check that an analyst may read, render, report and run detection."""
    analyst = connect_as("warden_analyst")
    queries = [select_all(r) for r in VIEWS + READ_TABLES] + READ_CALLS
    got = outcomes(analyst, queries, incident_id)
    assert got == dict.fromkeys(got)


def test_analyst_changes_nothing(connect_as, incident_id):
    """Check that an analyst may not change incidents, locks or outbox (42501)."""
    analyst = connect_as("warden_analyst")
    got = outcomes(analyst, ADMIN_CALLS, incident_id)
    assert got == dict.fromkeys(got, "42501")


def test_analyst_writes_nothing(connect_as, incident_id):
    """Check that an analyst may not write rules, templates or incidents."""
    analyst = connect_as("warden_analyst")
    queries = [
        *DIRECT_WRITES,
        "UPDATE warden.detection_rules SET threshold = 1",
        "UPDATE warden.message_templates SET body = 'x'",
        "INSERT INTO warden.dashboard_profiles (user_id, job_role)"
        " VALUES ('me', 'security_manager')",
        "UPDATE warden.settings SET value = 'x'",
    ]
    got = outcomes(analyst, queries, incident_id)
    assert got == dict.fromkeys(got, "42501")


def test_analyst_acknowledge_leaves_incident_open(db, connect_as, incident_id):
    """Check that a refused acknowledgement leaves no trace on the incident."""
    analyst = connect_as("warden_analyst")
    refused(analyst, f"SELECT warden.acknowledge_incident({incident_id})")
    status = db.execute(
        "SELECT status FROM warden.incidents WHERE id = %s", (incident_id,)
    ).fetchone()[0]
    assert status == "open"


# warden_app


def test_app_reports_events_and_asks_access(connect_as):
    """Check that the application may log events and ask access_allowed."""
    app = connect_as("warden_app")
    assert app.execute("SELECT warden.log_event('login_success', user_id => 'u-1')")
    assert app.execute("SELECT warden.access_allowed()").fetchone()[0] is True


def test_app_reads_nothing(connect_as, incident_id):
    """Check that the application may not read views or tables (42501)."""
    app = connect_as("warden_app")
    got = outcomes(app, [select_all(r) for r in VIEWS + READ_TABLES], incident_id)
    assert got == dict.fromkeys(got, "42501")


def test_app_calls_nothing_else(connect_as, incident_id):
    """Check that the application may call no incident or read function."""
    app = connect_as("warden_app")
    got = outcomes(app, ADMIN_CALLS + READ_CALLS, incident_id)
    assert got == dict.fromkeys(got, "42501")


# warden_admin


def test_admin_runs_the_whole_lifecycle(db, connect_as, incident_id):
    """Check that a security manager acknowledges, contains and resolves."""
    admin = connect_as("warden_admin")
    admin.execute("SET app.user_id = 'manager-1'")
    admin.execute(f"SELECT warden.acknowledge_incident({incident_id}, 'mine')")
    admin.execute(f"SELECT warden.contain_incident({incident_id}, 'locked')")
    admin.execute(f"SELECT warden.add_incident_note({incident_id}, 'called')")
    admin.execute(f"SELECT warden.resolve_incident({incident_id}, 'theft')")
    admin.execute(
        f"SELECT warden.record_post_incident({incident_id}, 'leaked token',"
        " 'rotate', 120)"
    )
    actors = db.execute(
        "SELECT action FROM warden.incident_timeline"
        " WHERE incident_id = %s AND actor = 'manager-1' ORDER BY id",
        (incident_id,),
    ).fetchall()
    assert [a for (a,) in actors] == [
        "acknowledged",
        "contained",
        "note",
        "resolved",
        "post_incident",
    ]


def test_admin_actor_is_the_role_without_app_user(db, connect_as, incident_id):
    """Check that without app.user_id the timeline names the database role."""
    admin = connect_as("warden_admin")
    admin.execute(f"SELECT warden.acknowledge_incident({incident_id})")
    actor = db.execute(
        "SELECT actor FROM warden.incident_timeline"
        " WHERE incident_id = %s AND action = 'acknowledged'",
        (incident_id,),
    ).fetchone()[0]
    assert actor == "warden_admin"


def test_admin_false_positive_lifts_locks(db, connect_as):
    """Check that a security manager's false positive lifts the alert's lock."""
    alert = add_alert(db, "privilege_escalation_burst", "critical")
    admin = connect_as("warden_admin")
    admin.execute("SELECT warden.lock_account('u-1', '1 hour', 'x', %s)", (alert,))
    inc = incident_of(db, alert)
    admin.execute(
        "SELECT warden.resolve_incident(%s, 'drill', false_positive => true)",
        (inc["id"],),
    )
    locked = admin.execute("SELECT warden.is_account_locked('u-1')").fetchone()[0]
    assert locked is False


def test_admin_does_everything_else(connect_as, incident_id):
    """Check that a security manager may run each package call."""
    admin = connect_as("warden_admin")
    queries = [
        "SELECT warden.escalate_overdue_incidents()",
        "SELECT * FROM warden.claim_notifications()",
        "SELECT warden.check_customer_data_access_alerts()",
        "UPDATE warden.detection_rules SET threshold = 60 WHERE rule = 'bulk_export'",
        "UPDATE warden.message_templates SET subject = 'S'"
        " WHERE name = 'critical_alert'",
        "INSERT INTO warden.dashboard_profiles (user_id, job_role)"
        " VALUES ('m-1', 'security_manager')",
        *[select_all(r) for r in VIEWS + READ_TABLES],
        *READ_CALLS,
    ]
    got = outcomes(admin, queries, incident_id)
    assert got == dict.fromkeys(got)


def test_admin_changes_incidents_only_through_functions(connect_as, incident_id):
    """Check that even a security manager may not bypass the timeline."""
    admin = connect_as("warden_admin")
    got = outcomes(admin, DIRECT_WRITES, incident_id)
    assert got == dict.fromkeys(got, "42501")


# The security dashboard


@pytest.mark.parametrize(
    ("job_role", "approved", "expires", "allowed"),
    [
        ("security_manager", True, None, True),
        ("security_manager", False, None, False),
        ("security_manager", True, "-1 day", False),
        ("security_manager", True, "1 day", True),
        ("technical_lead", True, None, False),
    ],
)
def test_dashboard_needs_approved_manager_profile(
    db, connect_as, job_role, approved, expires, allowed
):
    """Check that only an approved, unexpired manager profile opens it."""
    admin = connect_as("warden_admin")
    admin.execute(
        "INSERT INTO warden.dashboard_profiles"
        " (user_id, job_role, approved, approved_by, approved_at, expires_at)"
        " VALUES ('m-1', %s, %s, 'ciso', now(), now() + %s::interval)",
        (job_role, approved, expires),
    )
    analyst = connect_as("warden_analyst")
    got = analyst.execute(
        "SELECT warden.can_open_security_dashboard('m-1')"
    ).fetchone()[0]
    assert got is allowed


def test_dashboard_answers_for_current_actor(connect_as):
    """Check that without an argument the current actor is asked about."""
    admin = connect_as("warden_admin")
    admin.execute(
        "INSERT INTO warden.dashboard_profiles (user_id, job_role, approved)"
        " VALUES ('m-2', 'security_manager', true)"
    )
    admin.execute("SET app.user_id = 'm-2'")
    assert admin.execute("SELECT warden.can_open_security_dashboard()").fetchone()[0]
    admin.execute("SET app.user_id = 'someone-else'")
    assert (
        admin.execute("SELECT warden.can_open_security_dashboard()").fetchone()[0]
        is False
    )


def test_dashboard_closed_to_locked_manager(db, connect_as):
    """Check that a locked manager may not open the dashboard."""
    admin = connect_as("warden_admin")
    admin.execute(
        "INSERT INTO warden.dashboard_profiles (user_id, job_role, approved)"
        " VALUES ('m-3', 'security_manager', true)"
    )
    admin.execute("SELECT warden.lock_account('m-3', '1 hour', 'suspicious')")
    assert (
        admin.execute("SELECT warden.can_open_security_dashboard('m-3')").fetchone()[0]
        is False
    )


def test_app_report_opens_incident_it_cannot_see(db, connect_as):
    """Check that an export the application reports opens a hidden incident."""
    app = connect_as("warden_app")
    app.execute(
        "SELECT warden.log_event('customer_data_bulk_export', user_id => 'u-8',"
        " record_count => 400, table_name => 'customers')"
    )
    rows = db.execute(
        "SELECT rule, severity FROM warden.incidents WHERE user_id = 'u-8'"
    ).fetchall()
    assert rows == [("bulk_export", "critical")]
    assert refused(app, "SELECT * FROM warden.incidents") == "42501"


def test_profile_approval_is_stamped_and_logged(db, connect_as):
    """Check that approving a profile records the approver and an event."""
    admin = connect_as("warden_admin")
    admin.execute("SET app.user_id = 'ciso'")
    admin.execute(
        "INSERT INTO warden.dashboard_profiles (user_id, job_role)"
        " VALUES ('m-4', 'security_manager')"
    )
    admin.execute(
        "UPDATE warden.dashboard_profiles SET approved = true WHERE user_id = 'm-4'"
    )
    row = db.execute(
        "SELECT approved_by, approved_at IS NOT NULL"
        " FROM warden.dashboard_profiles WHERE user_id = 'm-4'"
    ).fetchone()
    assert row == ("ciso", True)
    admin.execute("DELETE FROM warden.dashboard_profiles WHERE user_id = 'm-4'")
    events = db.execute(
        "SELECT metadata ->> 'dashboard_profile', metadata ->> 'changed_by',"
        " source FROM warden.security_audit_log"
        " WHERE event_type = 'role_change' AND user_id = 'm-4' ORDER BY id"
    ).fetchall()
    assert events == [
        ("insert", "ciso", "pgwarden"),
        ("update", "ciso", "pgwarden"),
        ("delete", "ciso", "pgwarden"),
    ]
