"""The runbook's message templates: editable rows rendered from incidents."""

from __future__ import annotations

import re

import psycopg
import pytest

from test_incidents import add_alert, incident_of

PLACEHOLDER = re.compile(r"\[[A-Z_/]+\]")


def render(db: psycopg.Connection, which: str, incident_id: int) -> str:
    """Render one template for an incident."""
    return db.execute(f"SELECT warden.render_{which}(%s)", (incident_id,)).fetchone()[0]


def test_critical_alert_has_every_runbook_field(db):
    """Check that the critical alert fills each field of the runbook."""
    inc = incident_of(db, add_alert(db, user="u-1042", ip="203.0.113.7"))
    text = render(db, "critical_alert", inc["id"])
    lines = text.splitlines()
    assert lines[0] == "\N{POLICE CARS REVOLVING LIGHT} CRITICAL SECURITY INCIDENT"
    assert re.search(r"^Time: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$", text, re.M)
    assert "Type: bulk_export" in lines
    assert "User: u-1042" in lines
    assert any(line.startswith("Details: ") and "120 records" in line for line in lines)
    assert "Actions Taken:" in lines
    assert "Investigation Status: IN_PROGRESS (open)" in lines
    assert any(line.startswith("Next Steps: Acknowledge by ") for line in lines)
    assert f"Incident ID: {inc['reference']}" in lines
    assert not PLACEHOLDER.search(text)


def test_critical_alert_lists_actions_taken(db):
    """Check that locks and lifecycle moves appear under Actions Taken."""
    alert = add_alert(db, "privilege_escalation_burst", "critical")
    db.execute("SELECT warden.lock_account('u-1', '1 hour', 'burst', %s)", (alert,))
    inc = incident_of(db, alert)
    db.execute("SET app.user_id = 'alice'")
    db.execute("SELECT warden.contain_incident(%s, 'locked')", (inc["id"],))
    text = render(db, "critical_alert", inc["id"])
    actions = [line for line in text.splitlines() if line.startswith("- ")]
    assert any(line.startswith("- Account u-1 locked") for line in actions)
    assert "- Contained by alice: locked" in actions
    assert "Investigation Status: IN_PROGRESS (contained)" in text


def test_resolved_incident_is_completed(db):
    """Check that a resolved incident renders as COMPLETED."""
    inc = incident_of(db, add_alert(db))
    db.execute("SELECT warden.resolve_incident(%s, 'done')", (inc["id"],))
    text = render(db, "critical_alert", inc["id"])
    assert "Investigation Status: COMPLETED (resolved)" in text


def test_user_notification_follows_runbook(db):
    """Check that the user notification fills the runbook's fields."""
    alert = add_alert(db, "failed_login_burst_user", "medium", user="u-77")
    db.execute(
        "SELECT warden.lock_account('u-77', '30 minutes', 'burst', %s)",
        (alert,),
    )
    inc = incident_of(db, alert)
    text = render(db, "user_notification", inc["id"])
    lines = text.splitlines()
    assert lines[0] == "Subject: Security Alert - Account Activity Review"
    assert "Dear u-77," in lines
    assert any(line.startswith("Incident: failed_login_burst_user") for line in lines)
    assert any(line.startswith("Time: ") for line in lines)
    assert (
        "Action Taken: Access to your account has been temporarily restricted." in lines
    )
    assert "This may be a false positive." in text
    assert lines[-1] == "Security Team"
    assert not PLACEHOLDER.search(text)


def test_user_notification_after_false_positive(db):
    """Check that a lifted restriction is told as lifted."""
    alert = add_alert(db, "failed_login_burst_user", "medium", user="u-78")
    db.execute(
        "SELECT warden.lock_account('u-78', '30 minutes', 'burst', %s)",
        (alert,),
    )
    inc = incident_of(db, alert)
    db.execute(
        "SELECT warden.resolve_incident(%s, 'typo', false_positive => true)",
        (inc["id"],),
    )
    text = render(db, "user_notification", inc["id"])
    assert (
        "Action Taken: A temporary restriction was applied and has been lifted." in text
    )


def test_templates_are_editable_by_admin(db, connect_as):
    """Check that a security manager edits a template and rendering follows."""
    inc = incident_of(db, add_alert(db))
    admin = connect_as("warden_admin")
    admin.execute(
        "UPDATE warden.message_templates"
        " SET body = 'ALERT [INCIDENT_ID] for [USER_ID/EMAIL] [UNKNOWN]'"
        " WHERE name = 'critical_alert'"
    )
    text = render(admin, "critical_alert", inc["id"])
    assert text == f"ALERT {inc['reference']} for u-1 [UNKNOWN]"
    edited = db.execute(
        "SELECT updated_at > created FROM warden.message_templates,"
        " (SELECT min(updated_at) AS created FROM warden.message_templates) AS t"
        " WHERE name = 'critical_alert'"
    ).fetchone()[0]
    assert edited


def test_analyst_may_not_edit_templates(connect_as):
    """Check that an analyst cannot change a template (42501)."""
    analyst = connect_as("warden_analyst")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        analyst.execute("UPDATE warden.message_templates SET body = 'x'")


def test_unknown_incident_is_refused(db):
    """Check that rendering a missing incident raises no_data_found."""
    with pytest.raises(psycopg.errors.NoDataFound):
        render(db, "critical_alert", 31337)


def test_missing_template_is_reported(db):
    """Check that a deleted template row raises undefined_object (42704)."""
    inc = incident_of(db, add_alert(db))
    db.execute("DELETE FROM warden.message_templates WHERE name = 'user_notification'")
    with pytest.raises(psycopg.errors.UndefinedObject):
        render(db, "user_notification", inc["id"])


def test_rendering_ignores_search_path(db):
    """Check that rendering works with an empty search_path."""
    inc = incident_of(db, add_alert(db))
    db.execute("SET search_path TO ''")
    assert inc["reference"] in render(db, "critical_alert", inc["id"])
