"""pgwarden watch: one cycle, the loop, signals and reconnection."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from pgwarden.cli import main

#: The installed command, beside the interpreter running the tests.
PGWARDEN = str(Path(sys.executable).with_name("pgwarden"))


def queue(db, channel: str = "stdout", subject: str = "hello") -> int:
    """Insert one pending row into the outbox; return its id."""
    return db.execute(
        "INSERT INTO warden.notification_outbox (channel, recipient, subject, "
        "body) VALUES (%s, 'console', %s, 'body') RETURNING id",
        (channel, subject),
    ).fetchone()[0]


def start_watch(dsn: str, *args: str) -> subprocess.Popen:
    """Start pgwarden watch in a child process with line-buffered output."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [PGWARDEN, "watch", "--dsn", dsn, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def wait_for(predicate, timeout: float = 15.0) -> bool:
    """Poll until predicate() is true or the time is up."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def status_of(db, outbox_id: int) -> str:
    """The status of one outbox row."""
    return db.execute(
        "SELECT status FROM warden.notification_outbox WHERE id = %s",
        (outbox_id,),
    ).fetchone()[0]


def test_once_runs_detection_and_delivers(db, dsn):
    """Check that --once detects a burst and delivers queued messages."""
    for i in range(6):
        db.execute(
            "SELECT warden.log_event('login_failed', user_id => 'mallory', "
            "ip_address => '203.0.113.9', created_at => now() - %s::interval)",
            (f"{i} minutes",),
        )
    outbox_id = queue(db)
    result = CliRunner().invoke(
        main, ["watch", "--once", "--dsn", dsn], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert "[stdout -> console]" in result.output
    assert status_of(db, outbox_id) == "sent"
    assert db.execute("SELECT count(*) FROM warden.alerts").fetchone()[0] >= 1


def test_loop_delivers_on_notify_and_stops_on_sigterm(db, dsn):
    """Check that alerts and messages are handled at once and SIGTERM stops."""
    proc = start_watch(dsn, "--interval", "600")
    try:
        assert wait_for(
            lambda: (
                db.execute(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE application_name = 'pgwarden watch'"
                ).fetchone()[0]
                == 1
            )
        )
        outbox_id = queue(db, subject="notified")
        assert wait_for(lambda: status_of(db, outbox_id) == "sent")
        db.execute(
            "SELECT warden.log_event('customer_data_bulk_export', "
            "user_id => 'u-9', record_count => 500, table_name => 'customers')"
        )
        assert wait_for(
            lambda: (
                db.execute(
                    "SELECT count(*) FROM warden.notification_outbox "
                    "WHERE status <> 'sent'"
                ).fetchone()[0]
                == 0
            )
        )
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert "notified" in output
    assert "critical bulk_export (u-9)" in output
    assert "CRITICAL" in output
    assert "pgwarden watch stopped" in output


def test_loop_reconnects_after_the_connection_is_lost(db, dsn):
    """Check that the watcher reconnects and delivers what was queued meanwhile."""
    proc = start_watch(dsn, "--interval", "600")
    try:

        def connected() -> bool:
            return (
                db.execute(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE application_name = 'pgwarden watch'"
                ).fetchone()[0]
                == 1
            )

        assert wait_for(connected)
        db.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'pgwarden watch'"
        )
        outbox_id = queue(db, subject="while away")
        assert wait_for(lambda: status_of(db, outbox_id) == "sent", timeout=20)
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "connection lost" in output
    assert proc.returncode == 0


def test_bad_email_mapping_is_a_usage_error(dsn):
    """Check that --email-to without NAME=ADDRESS exits 3 with one line."""
    result = CliRunner().invoke(
        main, ["watch", "--once", "--email-to", "nobody", "--dsn", dsn]
    )
    assert result.exit_code == 3
    assert "NAME=ADDRESS" in result.output


def test_pg_cron_schedule(db):
    """Check that the documented cron.schedule calls are accepted."""
    available = db.execute(
        "SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_cron'"
    ).fetchone()[0]
    if not available:
        pytest.skip("pg_cron is not installed on this server")
    try:
        db.execute("CREATE EXTENSION IF NOT EXISTS pg_cron")
    except psycopg.Error as exc:
        pytest.skip(f"pg_cron cannot be created here: {exc.diag.message_primary}")
    job = db.execute(
        "SELECT cron.schedule('pgwarden-detect', '* * * * *', "
        "'SELECT count(*) FROM warden.check_customer_data_access_alerts()')"
    ).fetchone()[0]
    assert job > 0
    db.execute("SELECT cron.unschedule('pgwarden-detect')")


def test_loop_survives_a_failing_step(db, dsn):
    """Check that a failing detection step is reported and delivery goes on."""
    proc = start_watch(dsn, "--interval", "600")
    try:
        assert wait_for(
            lambda: (
                db.execute(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE application_name = 'pgwarden watch'"
                ).fetchone()[0]
                == 1
            )
        )
        # A message the database refuses to complete: the claim works, the
        # report of its outcome fails, the watcher must carry on.
        db.execute(
            "ALTER FUNCTION warden.complete_notification(bigint, text) "
            "RENAME TO complete_notification_away"
        )
        queue(db, subject="first")
        time.sleep(2)
        db.execute(
            "ALTER FUNCTION warden.complete_notification_away(bigint, text) "
            "RENAME TO complete_notification"
        )
        outbox_id = queue(db, subject="second")
        assert wait_for(lambda: status_of(db, outbox_id) == "sent")
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "[42883]" in output
    assert proc.returncode == 0


def test_unreachable_database_fails_at_start(tmp_path):
    """Check that a watcher that cannot connect at all exits 3 at once."""
    bad = f"host={tmp_path} port=1 dbname=nowhere user=nobody connect_timeout=2"
    started = time.monotonic()
    result = CliRunner().invoke(main, ["watch", "--dsn", bad])
    assert result.exit_code == 3
    assert time.monotonic() - started < 10
    assert result.output.startswith("pgwarden: error: ")
    assert "Traceback" not in result.output
