"""Investigation views and functions, and the runbook's own queries."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
import pytest

from test_incidents import add_alert, incident_of

RUNBOOK = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "seeds"
    / "000_f621cd479423b620.txt"
)

# The runbook's queries as written there (less trailing blanks); [USER_ID]
# is filled in by the tests.
RUNBOOK_QUERIES = {
    "recent events of a user": """
   SELECT * FROM security_audit_log
   WHERE user_id = '[USER_ID]'
   AND created_at > now() - interval '2 hours'
   ORDER BY created_at DESC;
""",
    "recent bulk operations": """
SELECT event_type, metadata, risk_score, created_at
FROM security_audit_log
WHERE event_type LIKE '%bulk%'
AND created_at > now() - interval '24 hours'
ORDER BY created_at DESC;
""",
    "user activity overview": """
SELECT event_type, COUNT(*), MAX(risk_score), MIN(created_at), MAX(created_at)
FROM security_audit_log
WHERE user_id = '[USER_ID]'
AND created_at > now() - interval '24 hours'
GROUP BY event_type
ORDER BY COUNT(*) DESC;
""",
    "high-risk events": """
SELECT * FROM security_audit_log
WHERE risk_score >= 4
AND created_at > now() - interval '24 hours'
ORDER BY created_at DESC;
""",
    "customer data access": """
SELECT * FROM security_audit_log
WHERE event_type LIKE '%customer%'
AND created_at > now() - interval '24 hours'
ORDER BY created_at DESC;
""",
}


def seed(db: psycopg.Connection) -> None:
    """Store a small day of events for u-1 and u-2."""
    db.execute(
        """
        SELECT warden.log_event(t.event_type, user_id => t.user_id,
                                record_count => t.n, table_name => t.tbl,
                                created_at => now() - t.ago)
        FROM (VALUES
            ('login_success', 'u-1', NULL::integer, NULL, interval '3 hours'),
            ('customer_data_access', 'u-1', 3, 'customers', '1 hour'),
            ('customer_data_access', 'u-1', 2, 'customers', '30 minutes'),
            ('customer_data_bulk_export', 'u-1', 20, 'customers', '20 minutes'),
            ('privilege_escalation_attempt', 'u-2', NULL, NULL, '10 minutes'),
            ('customer_data_access', 'u-2', 1, 'orders', '2 days')
        ) AS t (event_type, user_id, n, tbl, ago)
        """
    )


@pytest.mark.parametrize("name", sorted(RUNBOOK_QUERIES))
def test_runbook_query_runs_verbatim_as_analyst(db, connect_as, name):
    """Check that each runbook query runs unchanged with the warden path."""
    seed(db)
    analyst = connect_as("warden_analyst")
    analyst.execute("SET search_path TO warden, public")
    query = RUNBOOK_QUERIES[name].replace("[USER_ID]", "u-1")
    rows = analyst.execute(query).fetchall()
    assert rows


def test_every_sql_block_of_the_runbook_runs(db, connect_as):
    """Check that each SQL block of the runbook file runs as an analyst."""
    if not RUNBOOK.is_file():
        pytest.skip("the runbook is not beside the checkout")
    blocks = re.findall(r"```sql\n(.*?)```", RUNBOOK.read_text(), re.S)
    assert len(blocks) == 3
    seed(db)
    analyst = connect_as("warden_analyst")
    analyst.execute("SET search_path TO warden, public")
    ran = 0
    for block in blocks:
        for query in block.split(";"):
            if query.strip() and not all(
                line.strip().startswith("--") for line in query.strip().splitlines()
            ):
                analyst.execute(query.replace("[USER_ID]", "u-1"))
                ran += 1
    assert ran == 5


def test_runbook_overview_matches_function(db):
    """Check that user_activity_overview gives the runbook query's answer."""
    seed(db)
    db.execute("SET search_path TO warden, public")
    expected = db.execute(
        RUNBOOK_QUERIES["user activity overview"].replace("[USER_ID]", "u-1")
    ).fetchall()
    got = db.execute(
        "SELECT event_type, event_count, max_risk_score, first_seen, last_seen"
        " FROM warden.user_activity_overview('u-1')"
    ).fetchall()
    assert sorted(got) == sorted(expected)
    assert got[0][:2] == ("customer_data_access", 2)


def test_high_risk_view_keeps_recent_risky_events(db):
    """Check that recent_high_risk_events holds recent events scored 4+."""
    seed(db)
    rows = db.execute(
        "SELECT event_type, risk_score FROM warden.recent_high_risk_events"
    ).fetchall()
    assert ("privilege_escalation_attempt", 4) in rows
    assert all(score >= 4 for _, score in rows)


def test_customer_view_drops_old_events(db):
    """Check that recent_customer_data_access covers the last 24 hours only."""
    seed(db)
    rows = db.execute(
        "SELECT user_id, table_name FROM warden.recent_customer_data_access"
        " WHERE event_type = 'customer_data_access'"
    ).fetchall()
    assert rows == [("u-1", "customers"), ("u-1", "customers")]


def test_bulk_view_lists_exports_newest_first(db):
    """Check that recent_bulk_operations lists bulk events with counts."""
    seed(db)
    db.execute(
        "SELECT warden.log_event('customer_data_bulk_export', user_id => 'u-3',"
        " record_count => 10)"
    )
    rows = db.execute(
        "SELECT user_id, record_count FROM warden.recent_bulk_operations"
    ).fetchall()
    assert rows == [("u-3", 10), ("u-1", 20)]


def test_open_incidents_show_time_left_and_overdue(db):
    """Check that open_incidents gives time left and flags overdue ones."""
    late = incident_of(db, add_alert(db, "sensitive_export", "high"))
    fresh = incident_of(db, add_alert(db, "sensitive_export", "medium", user="u-2"))
    done = incident_of(db, add_alert(db, "sensitive_export", "high", user="u-3"))
    db.execute(
        "UPDATE warden.incidents SET due_at = now() - interval '2 minutes'"
        " WHERE id = %s",
        (late["id"],),
    )
    db.execute("SELECT warden.resolve_incident(%s, 'ok')", (done["id"],))
    rows = db.execute(
        "SELECT id, overdue, time_left < interval '0', alert_count"
        " FROM warden.open_incidents"
    ).fetchall()
    assert rows == [(late["id"], True, True, 1), (fresh["id"], False, False, 1)]


def test_acknowledged_incident_has_no_time_left(db):
    """Check that an acknowledged incident is neither overdue nor counting."""
    inc = incident_of(db, add_alert(db))
    db.execute("SELECT warden.acknowledge_incident(%s)", (inc["id"],))
    db.execute(
        "UPDATE warden.incidents SET due_at = now() - interval '1 hour' WHERE id = %s",
        (inc["id"],),
    )
    row = db.execute(
        "SELECT overdue, time_left FROM warden.open_incidents WHERE id = %s",
        (inc["id"],),
    ).fetchone()
    assert row == (False, None)


def test_dashboard_summary_counts(db):
    """Check the dashboard summary's counts by severity, status and more."""
    a = add_alert(db, "privilege_escalation_burst", "critical")
    db.execute("SELECT warden.lock_account('u-1', '1 hour', 'x', %s)", (a,))
    db.execute("SELECT warden.block_ip('198.51.100.1', '1 hour', 'x')")
    late = incident_of(db, add_alert(db, "sensitive_export", "high", user="u-2"))
    done = incident_of(db, add_alert(db, "sensitive_export", "low", user="u-3"))
    db.execute(
        "UPDATE warden.incidents SET due_at = now() - interval '1 minute'"
        " WHERE id = %s",
        (late["id"],),
    )
    db.execute("SELECT warden.resolve_incident(%s, 'ok')", (done["id"],))
    row = db.execute(
        "SELECT open_incidents, open_by_severity, incidents_by_status,"
        " overdue_incidents, active_account_locks, active_ip_blocks,"
        " alerts_last_24h FROM warden.security_dashboard_summary"
    ).fetchone()
    assert row == (
        2,
        {"critical": 1, "high": 1},
        {"open": 2, "resolved": 1},
        1,
        1,
        1,
        3,
    )


def test_user_timeline_merges_events_alerts_and_incidents(db):
    """Check that user_timeline tells events, alerts and incident actions."""
    seed(db)
    inc = incident_of(db, add_alert(db, user="u-1"))
    db.execute("SELECT warden.acknowledge_incident(%s, 'mine')", (inc["id"],))
    rows = db.execute("SELECT source, kind FROM warden.user_timeline('u-1')").fetchall()
    sources = {s for s, _ in rows}
    assert sources == {"event", "alert", "incident"}
    assert ("incident", "acknowledged") in rows
    times = db.execute("SELECT occurred_at FROM warden.user_timeline('u-1')").fetchall()
    assert times == sorted(times)
    older = db.execute(
        "SELECT count(*) FROM warden.user_timeline('u-2',"
        " since => now() - interval '3 days')"
    ).fetchone()[0]
    assert older >= 2


def test_views_document_every_column(db):
    """Check that every column of the investigation views has a comment."""
    rows = db.execute(
        """
        SELECT c.relname, a.attname
        FROM pg_class AS c
        JOIN pg_attribute AS a ON a.attrelid = c.oid
        WHERE c.relnamespace = 'warden'::regnamespace
          AND c.relkind = 'v'
          AND a.attnum > 0
          AND col_description(c.oid, a.attnum) IS NULL
        """
    ).fetchall()
    assert rows == []
