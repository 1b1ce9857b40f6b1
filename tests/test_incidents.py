"""Incidents: opened and joined by alerts, deadlines, lifecycle, report."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import psycopg
import pytest

ALERT = """
INSERT INTO warden.alerts (
    rule, severity, risk_score, user_id, ip_address, subject, first_seen,
    last_seen, event_count, record_count, evidence
)
VALUES (%s, %s, %s, %s, %s, %s, now(), now(), 1, %s, %s)
RETURNING id
"""

RISK = {"critical": 5, "high": 4, "medium": 3, "low": 2}


def add_alert(
    db: psycopg.Connection,
    rule: str = "bulk_export",
    severity: str = "critical",
    *,
    user: str | None = "u-1",
    ip: str | None = None,
    records: int | None = 120,
    evidence: list[int] | None = None,
    subject: str | None = None,
) -> int:
    """Store an alert as the rules would and return its id."""
    subject = subject or (f"user:{user}" if user else f"ip:{ip}")
    return db.execute(
        ALERT,
        (rule, severity, RISK[severity], user, ip, subject, records, evidence or []),
    ).fetchone()[0]


def incident_of(db: psycopg.Connection, alert_id: int) -> dict:
    """Return the incident an alert belongs to, as a dict."""
    cur = db.execute(
        "SELECT i.* FROM warden.incidents AS i"
        " JOIN warden.alerts AS a ON a.incident_id = i.id WHERE a.id = %s",
        (alert_id,),
    )
    names = [c.name for c in cur.description]
    row = cur.fetchone()
    assert row is not None, f"alert {alert_id} has no incident"
    return dict(zip(names, row, strict=True))


def timeline(db: psycopg.Connection, incident_id: int) -> list[tuple]:
    """Return (action, actor, from_status, to_status, note) in order."""
    return db.execute(
        "SELECT action, actor, from_status, to_status, note"
        " FROM warden.incident_timeline WHERE incident_id = %s ORDER BY id",
        (incident_id,),
    ).fetchall()


def test_alert_opens_incident_with_reference(db):
    """Check that a new alert opens an open incident with a readable reference."""
    inc = incident_of(db, add_alert(db))
    assert inc["status"] == "open"
    assert inc["reference"] == f"INC-{inc['id']:06d}"
    assert inc["rule"] == "bulk_export"
    assert inc["severity"] == "critical"
    assert inc["user_id"] == "u-1"
    assert [r[0] for r in timeline(db, inc["id"])] == ["opened", "escalated"]


def test_repeat_alert_joins_open_incident(db):
    """Check that a second alert of the same rule and user joins the incident."""
    first = incident_of(db, add_alert(db))
    db.execute("UPDATE warden.alerts SET status = 'closed'")
    second = incident_of(db, add_alert(db))
    assert second["id"] == first["id"]
    assert db.execute("SELECT count(*) FROM warden.incidents").fetchone()[0] == 1
    actions = [r[0] for r in timeline(db, first["id"])]
    assert actions.count("alert_joined") == 1


def test_other_user_or_rule_opens_another_incident(db):
    """Check that another user or another rule opens its own incident."""
    a = incident_of(db, add_alert(db, user="u-1"))
    b = incident_of(db, add_alert(db, user="u-2"))
    c = incident_of(db, add_alert(db, "sensitive_export", "high", user="u-1"))
    assert len({a["id"], b["id"], c["id"]}) == 3


def test_address_alert_groups_by_subject(db):
    """Check that alerts without a user are grouped by their subject."""
    a = add_alert(db, "failed_login_burst_ip", "medium", user=None, ip="203.0.113.7")
    inc = incident_of(db, a)
    assert inc["user_id"] is None
    assert inc["subject"] == "ip:203.0.113.7"


def test_more_severe_alert_raises_severity_and_deadline(db):
    """Check that a more severe alert raises the incident and its deadline."""
    alert = add_alert(db, "sensitive_export", "medium")
    before = incident_of(db, alert)
    db.execute(
        "UPDATE warden.alerts SET severity = 'critical', risk_score = 5,"
        " last_seen = now() WHERE id = %s",
        (alert,),
    )
    after = incident_of(db, alert)
    assert after["id"] == before["id"]
    assert after["severity"] == "critical"
    assert after["risk_score"] == 5
    assert after["due_at"] < before["due_at"]
    assert after["due_at"] - after["updated_at"] == timedelta(minutes=5)
    assert after["escalation_level"] == 3
    actions = [r[0] for r in timeline(db, after["id"])]
    assert "severity_raised" in actions


def test_less_severe_alert_keeps_severity(db):
    """Check that a less severe alert joining leaves the severity as it was."""
    first = incident_of(db, add_alert(db, "sensitive_export", "high"))
    db.execute("UPDATE warden.alerts SET status = 'closed'")
    second = incident_of(db, add_alert(db, "sensitive_export", "low"))
    assert second["id"] == first["id"]
    assert second["severity"] == "high"
    assert second["due_at"] == first["due_at"]


@pytest.mark.parametrize(
    ("severity", "minutes", "level"),
    [("critical", 5, 3), ("high", 15, 2), ("medium", 60, 2)],
)
def test_deadline_and_level_follow_severity(db, severity, minutes, level):
    """Check the response deadline and first escalation level per severity."""
    inc = incident_of(db, add_alert(db, "sensitive_export", severity))
    assert inc["due_at"] - inc["detected_at"] == timedelta(minutes=minutes)
    assert inc["escalation_level"] == level


@pytest.mark.parametrize(
    ("detected", "due"),
    [
        # Friday evening in Berlin: due Monday 17:00 Berlin (16:00 UTC).
        ("2026-12-04 19:00+01", "2026-12-07 16:00+00"),
        # Tuesday morning: due Wednesday 17:00 Berlin.
        ("2026-12-01 08:00+01", "2026-12-02 16:00+00"),
        # Saturday: due Monday.
        ("2026-12-05 12:00+01", "2026-12-07 16:00+00"),
    ],
)
def test_low_is_due_next_business_day(db, detected, due):
    """Check that a low incident is due at the end of the next business day."""
    db.execute(
        "UPDATE warden.settings SET value = 'Europe/Berlin'"
        " WHERE name = 'business_time_zone'"
    )
    got = db.execute(
        "SELECT warden._incident_due_at('low', %s::timestamptz) = %s::timestamptz",
        (detected, due),
    ).fetchone()[0]
    assert got is True


def test_business_days_are_configurable(db):
    """Check that business_days decides which day a low incident is due."""
    db.execute("UPDATE warden.settings SET value = '6' WHERE name = 'business_days'")
    due = db.execute(
        "SELECT warden._incident_due_at('low', '2026-12-01 10:00+00')"
    ).fetchone()[0]
    assert due.isoformat() == "2026-12-05T17:00:00+00:00"


def test_low_alert_opens_incident_due_next_business_day(db):
    """Check that a low alert's incident is due after its detection day."""
    inc = incident_of(db, add_alert(db, "new_location_login", "low"))
    assert inc["due_at"] > inc["detected_at"] + timedelta(hours=7)
    assert inc["due_at"] <= inc["detected_at"] + timedelta(days=4)


def test_lifecycle_writes_timeline_with_actor(db):
    """Check that each lifecycle move writes actor, statuses and note."""
    inc = incident_of(db, add_alert(db))
    db.execute("SET app.user_id = 'alice'")
    db.execute("SELECT warden.acknowledge_incident(%s, 'on it')", (inc["id"],))
    db.execute("SELECT warden.investigate_incident(%s, 'looking')", (inc["id"],))
    db.execute("SELECT warden.contain_incident(%s, 'locked')", (inc["id"],))
    db.execute("SELECT warden.resolve_incident(%s, 'export was theft')", (inc["id"],))
    rows = [r for r in timeline(db, inc["id"]) if r[1] == "alice"]
    assert rows == [
        ("acknowledged", "alice", "open", "acknowledged", "on it"),
        ("investigating", "alice", "acknowledged", "investigating", "looking"),
        ("contained", "alice", "investigating", "contained", "locked"),
        ("resolved", "alice", "contained", "resolved", "export was theft"),
    ]
    row = db.execute(
        "SELECT status, acknowledged_by, resolved_by, resolution,"
        " contained_at IS NOT NULL FROM warden.incidents WHERE id = %s",
        (inc["id"],),
    ).fetchone()
    assert row == ("resolved", "alice", "alice", "export was theft", True)


def test_acknowledge_returns_the_incident(db):
    """Check that acknowledge_incident returns the updated incident row."""
    inc = incident_of(db, add_alert(db))
    status, ack = db.execute(
        "SELECT status, acknowledged_at IS NOT NULL"
        " FROM warden.acknowledge_incident(incident_id => %s, note => 'x')",
        (inc["id"],),
    ).fetchone()
    assert (status, ack) == ("acknowledged", True)


@pytest.mark.parametrize(
    ("moves", "bad"),
    [
        (["acknowledge_incident"], "acknowledge_incident"),
        (["investigate_incident"], "acknowledge_incident"),
        (["contain_incident"], "acknowledge_incident"),
    ],
)
def test_wrong_transition_is_refused_with_hint(db, moves, bad):
    """Check that a move the status does not allow raises 55000 with a hint."""
    inc = incident_of(db, add_alert(db))
    for move in moves:
        db.execute(f"SELECT warden.{move}(%s)", (inc["id"],))
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState) as err:
        db.execute(f"SELECT warden.{bad}(%s)", (inc["id"],))
    assert err.value.diag.sqlstate == "55000"
    assert "Allowed next states:" in err.value.diag.message_hint


def test_closed_incident_refuses_every_move(db):
    """Check that a resolved incident can no longer change status."""
    inc = incident_of(db, add_alert(db))
    db.execute("SELECT warden.resolve_incident(%s, 'done')", (inc["id"],))
    for call in (
        "SELECT warden.acknowledge_incident(%s)",
        "SELECT warden.contain_incident(%s)",
        "SELECT warden.resolve_incident(%s, 'again', true)",
    ):
        with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState):
            db.execute(call, (inc["id"],))


def test_unknown_incident_is_refused(db):
    """Check that acting on a missing incident raises no_data_found."""
    with pytest.raises(psycopg.errors.NoDataFound):
        db.execute("SELECT warden.acknowledge_incident(424242)")


def test_resolution_is_required(db):
    """Check that resolving without a resolution text is refused with 22023."""
    inc = incident_of(db, add_alert(db))
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        db.execute("SELECT warden.resolve_incident(%s, ' ')", (inc["id"],))


def test_resolving_closes_alerts_and_next_alert_opens_new_incident(db):
    """Check that after resolution a renewed attack opens a new incident."""
    alert = add_alert(db)
    first = incident_of(db, alert)
    db.execute("SELECT warden.resolve_incident(%s, 'done')", (first["id"],))
    status = db.execute(
        "SELECT status FROM warden.alerts WHERE id = %s", (alert,)
    ).fetchone()[0]
    assert status == "closed"
    second = incident_of(db, add_alert(db))
    assert second["id"] != first["id"]


def test_false_positive_lifts_locks_and_blocks(db):
    """Check that a false positive lifts its alerts' locks and records it."""
    alert = add_alert(db, "privilege_escalation_burst", "critical")
    other = add_alert(db, "bulk_export", "critical", user="u-9")
    db.execute("SELECT warden.lock_account('u-1', '1 hour', 'burst', %s)", (alert,))
    db.execute(
        "SELECT warden.block_ip('198.51.100.9', '1 hour', 'burst', %s)",
        (alert,),
    )
    db.execute("SELECT warden.lock_account('u-9', '1 hour', 'bulk', %s)", (other,))
    inc = incident_of(db, alert)
    db.execute("SET app.user_id = 'bob'")
    db.execute(
        "SELECT warden.resolve_incident(%s, 'admin testing', false_positive => true)",
        (inc["id"],),
    )
    assert db.execute("SELECT warden.is_account_locked('u-1')").fetchone()[0] is False
    assert (
        db.execute("SELECT warden.is_ip_blocked('198.51.100.9')").fetchone()[0] is False
    )
    # Another incident's lock stays.
    assert db.execute("SELECT warden.is_account_locked('u-9')").fetchone()[0]
    lifted = db.execute(
        "SELECT actor, details FROM warden.incident_timeline"
        " WHERE incident_id = %s AND action = 'containment_lifted'",
        (inc["id"],),
    ).fetchall()
    assert lifted == [("bob", {"lifted": 2, "by_alert": {str(alert): 2}})]
    status = db.execute(
        "SELECT status FROM warden.incidents WHERE id = %s", (inc["id"],)
    ).fetchone()[0]
    assert status == "false_positive"


def test_plain_resolution_keeps_locks(db):
    """Check that resolving (not a false positive) leaves locks in force."""
    alert = add_alert(db, "privilege_escalation_burst", "critical")
    db.execute("SELECT warden.lock_account('u-1', '1 hour', 'burst', %s)", (alert,))
    inc = incident_of(db, alert)
    db.execute("SELECT warden.resolve_incident(%s, 'theft')", (inc["id"],))
    assert db.execute("SELECT warden.is_account_locked('u-1')").fetchone()[0]


def test_post_incident_fields_are_recorded(db):
    """Check that root cause, lessons and exposure are stored and logged."""
    inc = incident_of(db, add_alert(db))
    db.execute(
        "SELECT warden.record_post_incident(%s, root_cause => 'weak token',"
        " lessons_learned => 'rotate tokens', records_exposed => 120)",
        (inc["id"],),
    )
    db.execute(
        "SELECT warden.record_post_incident(%s, lessons_learned => 'MFA')",
        (inc["id"],),
    )
    row = db.execute(
        "SELECT root_cause, lessons_learned, records_exposed"
        " FROM warden.incidents WHERE id = %s",
        (inc["id"],),
    ).fetchone()
    assert row == ("weak token", "MFA", 120)
    actions = [r[0] for r in timeline(db, inc["id"])]
    assert actions.count("post_incident") == 2


def test_negative_exposure_is_refused(db):
    """Check that a negative records_exposed is refused with 22023."""
    inc = incident_of(db, add_alert(db))
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        db.execute(
            "SELECT warden.record_post_incident(%s, records_exposed => -1)",
            (inc["id"],),
        )


def test_note_is_added_to_timeline(db):
    """Check that add_incident_note writes a note with the actor."""
    inc = incident_of(db, add_alert(db))
    db.execute("SET app.user_id = 'carol'")
    db.execute("SELECT warden.add_incident_note(%s, 'called user')", (inc["id"],))
    assert timeline(db, inc["id"])[-1] == ("note", "carol", None, None, "called user")


def test_report_tells_the_whole_story(db):
    """Check that the report holds evidence, actions, exposure and timeline."""
    event = db.execute(
        "SELECT warden.log_event('customer_data_access',"
        " user_id => 'u-7', record_count => 80, table_name => 'customers')"
    ).fetchone()[0]
    inc = incident_of(db, add_alert(db, user="u-7", records=80, evidence=[event]))
    db.execute("SELECT warden.acknowledge_incident(%s, 'seen')", (inc["id"],))
    db.execute(
        "SELECT warden.record_post_incident(%s, root_cause => 'insider',"
        " records_exposed => 80)",
        (inc["id"],),
    )
    report, details = db.execute(
        "SELECT report, details FROM warden.incident_report(%s)", (inc["id"],)
    ).fetchone()
    assert inc["reference"] in report
    assert "Root cause: insider" in report
    assert "Acknowledged by postgres: seen" in report
    assert [e["id"] for e in details["evidence"]] == [event]
    assert details["exposure"]["records_exposed"] == 80
    assert details["exposure"]["tables"] == ["customers"]
    assert [t["action"] for t in details["timeline"]][:2] == ["opened", "escalated"]
    assert any("notified" in a for a in details["actions"])


def test_report_of_unknown_incident_is_refused(db):
    """Check that the report of a missing incident raises no_data_found."""
    with pytest.raises(psycopg.errors.NoDataFound):
        db.execute("SELECT * FROM warden.incident_report(999)")


def test_detection_opens_incident_end_to_end(db):
    """Check that a bulk export reported by the application opens an incident."""
    db.execute(
        "SELECT warden.log_event('customer_data_bulk_export',"
        " user_id => 'u-42', record_count => 500, table_name => 'customers')"
    )
    db.execute("SELECT count(*) FROM warden.check_customer_data_access_alerts()")
    row = db.execute(
        "SELECT rule, severity, status FROM warden.incidents WHERE user_id = 'u-42'"
    ).fetchall()
    assert row == [("bulk_export", "critical", "open")]
    linked = db.execute(
        "SELECT count(*) FROM warden.alerts WHERE user_id = 'u-42'"
        " AND incident_id IS NULL"
    ).fetchone()[0]
    assert linked == 0


def test_concurrent_alerts_share_one_incident(dsn, db):
    """Check that two sessions alerting at once on one user open one incident."""
    one = psycopg.connect(dsn)
    two = psycopg.connect(dsn, autocommit=True)
    errors: list[BaseException] = []

    def second() -> None:
        try:
            # Another subject of the same user: no clash among alerts, so
            # the two sessions meet on the incidents' unique index.
            add_alert(two, user="u-5", ip="203.0.113.5", subject="ip:203.0.113.5")
        except BaseException as exc:
            errors.append(exc)

    try:
        add_alert(one, "bulk_export", "critical", user="u-5")
        worker = threading.Thread(target=second)
        worker.start()
        worker.join(0.5)
        assert worker.is_alive(), "the second session should wait"
        one.commit()
        worker.join(10)
        assert errors == []
    finally:
        one.close()
        two.close()
    rows = db.execute(
        "SELECT DISTINCT incident_id FROM warden.alerts WHERE user_id = 'u-5'"
    ).fetchall()
    assert len(rows) == 1
    assert rows[0][0] is not None


def test_detected_at_is_a_datetime(db):
    """Check that detected_at is stored as a timestamp with time zone."""
    inc = incident_of(db, add_alert(db))
    assert isinstance(inc["detected_at"], datetime)
    assert inc["detected_at"].tzinfo is not None


def test_incidents_migration_rolls_back_and_reapplies(db, dsn):
    """Check that rolling back 0004 removes the area and apply restores it."""
    from pgwarden import install

    add_alert(db)
    applied = [m.id for m in install.status(dsn) if m.applied]
    steps = len(applied) - applied.index("0004_incidents")
    rolled = install.rollback(dsn, steps=steps, discard_data=True)
    assert rolled[-1] == "0004_incidents"
    left = db.execute(
        "SELECT to_regclass('warden.incidents'),"
        " to_regprocedure('warden.acknowledge_incident(bigint, text)'),"
        " (SELECT count(*) FROM pg_trigger"
        "  WHERE tgrelid = 'warden.alerts'::regclass"
        "  AND tgname LIKE 'alerts_50_%'),"
        " (SELECT count(*) FROM warden.settings"
        "  WHERE name = 'security_manager_email')"
    ).fetchone()
    assert left == (None, None, 0, 0)
    stale = db.execute(
        "SELECT proname FROM pg_proc"
        " WHERE pronamespace = 'warden'::regnamespace"
        " AND (prosrc ~ 'incident_timeline|notification_outbox'"
        "  OR proname ~ 'incident|notification|dashboard|render_|user_time'"
        "  OR proname = 'user_activity_overview')"
    ).fetchall()
    assert stale == []
    # Alerts still work without incidents.
    add_alert(db, user="u-2")
    assert install.apply(dsn) == applied[-steps:]
    inc = incident_of(db, add_alert(db, user="u-3"))
    assert inc["status"] == "open"


@pytest.mark.parametrize(
    ("call", "exception"),
    [
        (
            "SELECT warden.add_incident_note({id}, '  ')",
            psycopg.errors.InvalidParameterValue,
        ),
        (
            "SELECT warden.add_incident_note(999999, 'x')",
            psycopg.errors.NoDataFound,
        ),
        (
            "SELECT warden.record_post_incident(999999, 'x')",
            psycopg.errors.NoDataFound,
        ),
        (
            "SELECT warden.resolve_incident(999999, 'x')",
            psycopg.errors.NoDataFound,
        ),
    ],
)
def test_bad_input_is_refused(db, call, exception):
    """Check that empty notes and unknown incidents are refused by SQLSTATE."""
    inc = incident_of(db, add_alert(db))
    with pytest.raises(exception):
        db.execute(call.format(id=inc["id"]))


def test_alert_opens_incident_with_empty_search_path(db):
    """Check that the incident trigger does not depend on the search_path."""
    db.execute("SET search_path TO ''")
    inc = incident_of(db, add_alert(db))
    assert inc["status"] == "open"
