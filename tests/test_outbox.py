"""The notification outbox: filled along the escalation chain, delivered
through claim_notifications and complete_notification."""

from __future__ import annotations

import psycopg
import pytest

from test_incidents import add_alert, incident_of


def outbox(db: psycopg.Connection, incident_id: int) -> list[tuple]:
    """Return (channel, recipient, status) of an incident's messages."""
    return db.execute(
        "SELECT channel, recipient, status FROM warden.notification_outbox"
        " WHERE incident_id = %s ORDER BY id",
        (incident_id,),
    ).fetchall()


def test_every_incident_reaches_the_dashboard(db):
    """Check that a non-critical incident queues one dashboard message."""
    inc = incident_of(db, add_alert(db, "sensitive_export", "high"))
    assert outbox(db, inc["id"]) == [("dashboard", "security-dashboard", "pending")]


def test_critical_incident_queues_email_and_sms(db):
    """Check that a critical incident also queues e-mail and SMS."""
    inc = incident_of(db, add_alert(db))
    assert outbox(db, inc["id"]) == [
        ("dashboard", "security-dashboard", "pending"),
        ("email", "security-manager", "pending"),
        ("sms", "security-manager", "pending"),
    ]
    body = db.execute(
        "SELECT body FROM warden.notification_outbox"
        " WHERE incident_id = %s AND channel = 'email'",
        (inc["id"],),
    ).fetchone()[0]
    assert "CRITICAL SECURITY INCIDENT" in body
    assert inc["reference"] in body


def test_recipients_come_from_settings(db):
    """Check that the settings name the recipients of critical messages."""
    db.execute(
        "UPDATE warden.settings SET value = 'soc@example.com'"
        " WHERE name = 'security_manager_email'"
    )
    db.execute(
        "UPDATE warden.settings SET value = '+15550100'"
        " WHERE name = 'security_manager_sms'"
    )
    inc = incident_of(db, add_alert(db))
    assert ("email", "soc@example.com", "pending") in outbox(db, inc["id"])
    assert ("sms", "+15550100", "pending") in outbox(db, inc["id"])


def test_joining_alert_queues_nothing_new(db):
    """Check that a repeat alert does not notify again."""
    inc = incident_of(db, add_alert(db))
    db.execute("UPDATE warden.alerts SET status = 'closed'")
    add_alert(db)
    assert len(outbox(db, inc["id"])) == 3


def test_raised_to_critical_queues_email_and_sms(db):
    """Check that an incident raised to critical then notifies by e-mail/SMS."""
    alert = add_alert(db, "sensitive_export", "high")
    db.execute(
        "UPDATE warden.alerts SET severity = 'critical' WHERE id = %s",
        (alert,),
    )
    inc = incident_of(db, alert)
    assert [c for c, _, _ in outbox(db, inc["id"])] == ["dashboard", "email", "sms"]


def test_insert_sends_notify(dsn, db):
    """Check that queuing a message sends NOTIFY warden_outbox with its id."""
    listener = psycopg.connect(dsn, autocommit=True)
    try:
        listener.execute("LISTEN warden_outbox")
        inc = incident_of(db, add_alert(db, "sensitive_export", "high"))
        ids = [int(n.payload) for n in listener.notifies(timeout=2.0, stop_after=1)]
    finally:
        listener.close()
    expected = db.execute(
        "SELECT id FROM warden.notification_outbox WHERE incident_id = %s",
        (inc["id"],),
    ).fetchone()[0]
    assert ids == [expected]


def test_overdue_incident_escalates_to_management(db):
    """Check that an unacknowledged incident past due goes to level 4 once."""
    inc = incident_of(db, add_alert(db, "sensitive_export", "high"))
    db.execute(
        "UPDATE warden.incidents SET due_at = now() - interval '1 minute'"
        " WHERE id = %s",
        (inc["id"],),
    )
    assert db.execute("SELECT warden.escalate_overdue_incidents()").fetchone()[0] == 1
    assert db.execute("SELECT warden.escalate_overdue_incidents()").fetchone()[0] == 0
    level = db.execute(
        "SELECT escalation_level FROM warden.incidents WHERE id = %s",
        (inc["id"],),
    ).fetchone()[0]
    assert level == 4
    assert ("email", "management", "pending") in outbox(db, inc["id"])
    last = db.execute(
        "SELECT action, actor, details ->> 'to_level'"
        " FROM warden.incident_timeline WHERE incident_id = %s"
        " ORDER BY id DESC LIMIT 1",
        (inc["id"],),
    ).fetchone()
    assert last == ("escalated", "pgwarden", "4")


def test_acknowledged_or_not_yet_due_is_not_escalated(db):
    """Check that acknowledged and not-yet-due incidents stay where they are."""
    acked = incident_of(db, add_alert(db, "sensitive_export", "high"))
    fresh = incident_of(db, add_alert(db, "sensitive_export", "high", user="u-2"))
    db.execute("SELECT warden.acknowledge_incident(%s)", (acked["id"],))
    db.execute(
        "UPDATE warden.incidents SET due_at = now() - interval '1 minute'"
        " WHERE id = %s",
        (acked["id"],),
    )
    assert db.execute("SELECT warden.escalate_overdue_incidents()").fetchone()[0] == 0
    levels = db.execute(
        "SELECT escalation_level FROM warden.incidents WHERE id IN (%s, %s)",
        (acked["id"], fresh["id"]),
    ).fetchall()
    assert levels == [(2,), (2,)]


def test_claim_marks_sending_and_counts_attempt(db):
    """Check that claim_notifications hands out due rows as sending."""
    incident_of(db, add_alert(db))
    rows = db.execute(
        "SELECT channel, status, attempts FROM warden.claim_notifications(2)"
    ).fetchall()
    assert rows == [("dashboard", "sending", 1), ("email", "sending", 1)]
    rest = db.execute("SELECT channel FROM warden.claim_notifications()").fetchall()
    assert rest == [("sms",)]
    assert (
        db.execute("SELECT count(*) FROM warden.claim_notifications()").fetchone()[0]
        == 0
    )


def test_complete_without_error_marks_sent(db):
    """Check that completing without an error marks the message sent."""
    incident_of(db, add_alert(db, "sensitive_export", "high"))
    msg = db.execute("SELECT id FROM warden.claim_notifications()").fetchone()[0]
    status = db.execute("SELECT warden.complete_notification(%s)", (msg,)).fetchone()[0]
    assert status == "sent"
    sent = db.execute(
        "SELECT status, sent_at IS NOT NULL FROM warden.notification_outbox"
        " WHERE id = %s",
        (msg,),
    ).fetchone()
    assert sent == ("sent", True)


def test_failure_backs_off_then_fails(db):
    """Check that errors retry with growing delays and fail after the maximum."""
    db.execute(
        "UPDATE warden.settings SET value = '3'"
        " WHERE name = 'notification_max_attempts'"
    )
    incident_of(db, add_alert(db, "sensitive_export", "high"))
    msg = None
    delays = []
    for _ in range(3):
        # Make the row due again, as if the backoff had passed.
        db.execute(
            "UPDATE warden.notification_outbox SET next_attempt_at = now()"
            " WHERE status = 'pending'"
        )
        msg = db.execute("SELECT id FROM warden.claim_notifications()").fetchone()[0]
        status = db.execute(
            "SELECT warden.complete_notification(%s, 'smtp timeout')", (msg,)
        ).fetchone()[0]
        delay = db.execute(
            "SELECT round(extract(epoch FROM next_attempt_at - now()))::int"
            " FROM warden.notification_outbox"
            " WHERE id = %s",
            (msg,),
        ).fetchone()[0]
        delays.append((status, delay))
    assert delays[0] == ("pending", 30)
    assert delays[1] == ("pending", 60)
    assert delays[2][0] == "failed"
    row = db.execute(
        "SELECT attempts, last_error FROM warden.notification_outbox WHERE id = %s",
        (msg,),
    ).fetchone()
    assert row == (3, "smtp timeout")


def test_pending_row_is_not_claimed_before_its_time(db):
    """Check that a row waiting for its retry is not handed out early."""
    incident_of(db, add_alert(db, "sensitive_export", "high"))
    msg = db.execute("SELECT id FROM warden.claim_notifications()").fetchone()[0]
    db.execute("SELECT warden.complete_notification(%s, 'down')", (msg,))
    assert (
        db.execute("SELECT count(*) FROM warden.claim_notifications()").fetchone()[0]
        == 0
    )


def test_lapsed_claim_is_claimed_again(db):
    """Check that a message whose deliverer died is handed out again."""
    incident_of(db, add_alert(db, "sensitive_export", "high"))
    msg = db.execute("SELECT id FROM warden.claim_notifications()").fetchone()[0]
    db.execute(
        "UPDATE warden.notification_outbox"
        " SET next_attempt_at = now() - interval '1 second' WHERE id = %s",
        (msg,),
    )
    again = db.execute(
        "SELECT id, attempts FROM warden.claim_notifications()"
    ).fetchall()
    assert again == [(msg, 2)]


def test_two_deliverers_never_get_the_same_row(dsn, db):
    """Check that a row claimed in an open transaction is skipped by others."""
    incident_of(db, add_alert(db))
    first = psycopg.connect(dsn)
    try:
        got = {
            r[0]
            for r in first.execute(
                "SELECT id FROM warden.claim_notifications(1)"
            ).fetchall()
        }
        other = {
            r[0]
            for r in db.execute(
                "SELECT id FROM warden.claim_notifications()"
            ).fetchall()
        }
        first.commit()
    finally:
        first.close()
    assert len(got) == 1
    assert len(other) == 2
    assert not got & other


def test_complete_refuses_unclaimed_or_unknown(db):
    """Check that completing an unclaimed or missing message is refused."""
    inc = incident_of(db, add_alert(db, "sensitive_export", "high"))
    msg = db.execute(
        "SELECT id FROM warden.notification_outbox WHERE incident_id = %s",
        (inc["id"],),
    ).fetchone()[0]
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState):
        db.execute("SELECT warden.complete_notification(%s)", (msg,))
    with pytest.raises(psycopg.errors.NoDataFound):
        db.execute("SELECT warden.complete_notification(987654)")


def test_claim_limit_must_be_positive(db):
    """Check that a claim limit below one is refused with 22023."""
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        db.execute("SELECT * FROM warden.claim_notifications(0)")


def test_overdue_incident_turning_critical_still_notifies(db):
    """Check that a level-4 incident raised to critical still gets e-mail/SMS."""
    alert = add_alert(db, "sensitive_export", "high")
    inc = incident_of(db, alert)
    db.execute(
        "UPDATE warden.incidents SET due_at = now() - interval '1 minute'"
        " WHERE id = %s",
        (inc["id"],),
    )
    db.execute("SELECT warden.escalate_overdue_incidents()")
    db.execute("UPDATE warden.alerts SET severity = 'critical' WHERE id = %s", (alert,))
    channels = [c for c, _, _ in outbox(db, inc["id"])]
    assert channels == ["dashboard", "email", "dashboard", "email", "sms"]
    level = db.execute(
        "SELECT escalation_level FROM warden.incidents WHERE id = %s",
        (inc["id"],),
    ).fetchone()[0]
    assert level == 4
