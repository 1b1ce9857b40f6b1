"""Real-time rules: judged in the transaction that stores the events."""

from __future__ import annotations

import threading
from datetime import timedelta

import psycopg

from detection_helpers import T0, alerts, check, log


def failed(conn, user="u-rt", ip="203.0.113.77"):
    return conn.execute(
        "SELECT warden.log_event('login_failed', user_id => %s, ip_address => %s)",
        (user, ip),
    ).fetchone()[0]


def test_sixth_failed_login_locks_before_the_seventh(db, connect_as):
    """Check that the 6th failure locks the account before the 7th is stored."""
    app = connect_as("warden_app")
    ids = [failed(app) for _ in range(5)]
    locked = "SELECT warden.is_account_locked('u-rt')"
    assert db.execute(locked).fetchone()[0] is False
    ids.append(failed(app))
    assert db.execute(locked).fetchone()[0] is True
    [alert] = alerts(db, "failed_login_burst_user")
    assert alert["evidence"] == ids
    ids.append(failed(app))
    [alert] = alerts(db, "failed_login_burst_user")
    assert alert["evidence"] == ids
    assert (
        db.execute(
            "SELECT count(*) FROM warden.account_locks WHERE user_id = 'u-rt'"
        ).fetchone()[0]
        == 1
    )
    assert (
        db.execute(
            "SELECT count(*) FROM warden.ip_blocks WHERE alert_id IS NOT NULL"
        ).fetchone()[0]
        == 1
    )
    # The scheduled run finds the same attack already alerted.
    assert [a for a in check(db) if a["rule"].startswith("failed_login")] == []
    assert len(alerts(db, "failed_login_burst_user")) == 1
    assert len(alerts(db, "failed_login_burst_ip")) == 1


def test_copy_of_many_events_is_judged_once(db):
    """Check that a COPY of 20 failures gives one alert per rule with all ids."""
    with (
        db.cursor() as cur,
        cur.copy(
            "COPY warden.security_audit_log (user_id, event_type, risk_score,"
            " created_at, ip_address, source) FROM STDIN"
        ) as copy,
    ):
        for i in range(20):
            copy.write_row(
                (
                    "u-copy",
                    "login_failed",
                    2,
                    T0 + i * timedelta(seconds=20),
                    "192.0.2.20",
                    "importer",
                )
            )
    ids = [
        r[0]
        for r in db.execute(
            "SELECT id FROM warden.security_audit_log ORDER BY id"
        ).fetchall()
        if r
    ]
    [alert] = alerts(db, "failed_login_burst_user")
    assert alert["evidence"] == ids[:20]
    assert db.execute(
        "SELECT count(*) FROM warden.security_audit_log"
        " WHERE event_type = 'security_alert'"
    ).fetchone()[0] == len(alerts(db))


def test_own_events_never_feed_the_rules(db):
    """Check that events pgwarden writes itself (source pgwarden) raise nothing."""
    db.execute(
        "SELECT warden._log_internal('login_failed', '{}', 'u-self',"
        " '192.0.2.1') FROM generate_series(1, 10)"
    )
    assert alerts(db) == []
    assert check(db) == []


def test_new_alert_is_an_event_and_a_notification(db, dsn):
    """Check that a new alert writes security_alert with its risk and NOTIFYs."""
    listener = psycopg.connect(dsn, autocommit=True)
    listener.execute("LISTEN warden_alerts")
    log(db, "customer_data_bulk_export", T0, user_id="u-x", record_count=80)
    [alert] = alerts(db, "bulk_export")
    [note] = list(listener.notifies(timeout=5, stop_after=1))
    listener.close()
    assert note.payload == str(alert["id"])
    row = db.execute(
        "SELECT risk_score, source, metadata FROM warden.security_audit_log"
        " WHERE event_type = 'security_alert'"
    ).fetchone()
    assert row[0] == alert["risk_score"] == 5
    assert row[1] == "pgwarden"
    assert row[2]["alert_id"] == alert["id"]


def test_response_failure_never_fails_the_report(db, connect_as):
    """Check that an event is stored and alerted even when its response fails."""
    db.execute(
        "UPDATE warden.detection_rules SET response_duration = '-1 hour'"
        " WHERE rule = 'privilege_escalation_burst'"
    )
    app = connect_as("warden_app")
    for _ in range(2):
        app.execute(
            "SELECT warden.log_event('privilege_escalation_attempt',"
            " user_id => 'u-esc')"
        )
    [alert] = alerts(db, "privilege_escalation_burst")
    assert alert["event_count"] == 2
    assert db.execute("SELECT warden.is_account_locked('u-esc')").fetchone()[0] is False


def test_two_writers_of_one_attack_meet_in_one_alert(db, dsn):
    """Check that two transactions alerting one subject at once share one alert."""
    first = psycopg.connect(dsn)
    second = psycopg.connect(dsn)
    ids_first = [failed(first, ip=f"192.0.2.{i}") for i in range(6)]
    done: list[list[int]] = []

    def other():
        done.append([failed(second, ip=f"198.51.100.{i}") for i in range(6)])
        second.commit()

    thread = threading.Thread(target=other)
    thread.start()
    thread.join(timeout=1)
    assert thread.is_alive(), "the second writer waits for the first alert"
    first.commit()
    thread.join(timeout=30)
    first.close()
    second.close()
    [alert] = alerts(db, "failed_login_burst_user")
    assert alert["evidence"] == sorted(ids_first + done[0])
    assert (
        db.execute(
            "SELECT count(*) FROM warden.account_locks WHERE user_id = 'u-rt'"
        ).fetchone()[0]
        == 1
    )
