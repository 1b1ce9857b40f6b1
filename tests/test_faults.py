"""pgwarden when things fail midway.

A detection run cancelled by a statement timeout or killed with its session
leaves no partial alerts, locks, incidents or messages, and the next run
judges the same events as if nothing had happened. A reported event whose
real-time rules are cancelled is refused whole. A message whose delivery
fails, or whose deliverer dies after claiming it, is delivered later, never
lost. ``pgwarden watch`` outlives a restart of the database server.

Faults are injected with a test-only trigger on ``warden.alerts`` that
sleeps for each alert written, so that a run can be stopped while it is
half done.
"""

from __future__ import annotations

import datetime as dt
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

import pgwarden.cli  # noqa: F401  (loads the commands in their order)
from pgwarden import install
from pgwarden.commands.ingest import ingest_file
from pgwarden.delivery import DeliveryError, Message, Router, deliver_outbox
from pgwarden.ingest import ParseOptions
from pgwarden.ingest.load import Summary

PGWARDEN = str(Path(sys.executable).with_name("pgwarden"))

SLOW_ALERTS = """
CREATE FUNCTION public.fault_slow_alert() RETURNS trigger
LANGUAGE plpgsql AS $f$
BEGIN
    PERFORM pg_sleep(0.4);
    RETURN NULL;
END
$f$;
CREATE TRIGGER zz_fault_slow_alert AFTER INSERT ON warden.alerts
FOR EACH ROW EXECUTE FUNCTION public.fault_slow_alert();
"""
HEAL = "DROP FUNCTION public.fault_slow_alert() CASCADE"

#: What a run writes: none of it may survive a cancelled run.
WRITTEN = """
SELECT
    (SELECT count(*) FROM warden.alerts),
    (SELECT count(*) FROM warden.incidents),
    (SELECT count(*) FROM warden.account_locks),
    (SELECT count(*) FROM warden.ip_blocks),
    (SELECT count(*) FROM warden.notification_outbox),
    (SELECT count(*) FROM warden.security_audit_log WHERE source = 'pgwarden'),
    (SELECT row(s.rescan_from_id, s.scanned_to_id, s.runs)::text
     FROM warden.detection_state AS s)
"""

BASE = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.timezone.utc)


def scalar(conn: psycopg.Connection, query: str, params: tuple = ()) -> object:
    """The single value a query returns."""
    return conn.execute(query, params).fetchone()[0]


def store_attack(conn: psycopg.Connection) -> None:
    """Events that make the scheduled run raise several alerts."""
    conn.execute("UPDATE warden.detection_rules SET realtime = false")

    def at(minutes: float) -> dt.datetime:
        return BASE + dt.timedelta(minutes=minutes)

    for i in range(7):
        conn.execute(
            "SELECT warden.log_event('login_failed', user_id => 'victim', "
            "ip_address => '203.0.113.7', created_at => %s)",
            (at(i),),
        )
    for user in ("exp1", "exp2", "exp3"):
        conn.execute(
            "SELECT warden.log_event('customer_data_bulk_export', "
            "user_id => %s, table_name => 'public.customers', "
            "record_count => 500, created_at => %s)",
            (user, at(10)),
        )
    for i in range(3):
        conn.execute(
            "SELECT warden.log_event('privilege_escalation_attempt', "
            "user_id => 'climber', created_at => %s)",
            (at(20 + i),),
        )


def alerts(conn: psycopg.Connection) -> list[tuple]:
    """The alerts, without ids and times of writing."""
    return conn.execute(
        "SELECT rule, subject, first_seen, last_seen, event_count, "
        "record_count, cardinality(evidence), status FROM warden.alerts "
        "ORDER BY rule, subject"
    ).fetchall()


def clean_run_alerts(db: psycopg.Connection) -> list[tuple]:
    """The alerts one uninterrupted run gives, in a throwaway transaction."""
    with db.transaction(force_rollback=True):
        db.execute("SELECT count(*) FROM warden.check_customer_data_access_alerts()")
        return alerts(db)


def test_run_cancelled_by_statement_timeout_leaves_nothing(db):
    """Check that a timed-out run writes nothing and the next run catches up."""
    store_attack(db)
    reference = clean_run_alerts(db)
    assert len(reference) >= 4
    before = db.execute(WRITTEN).fetchone()
    db.execute(SLOW_ALERTS)
    db.execute("SET statement_timeout = '1s'")
    with pytest.raises(psycopg.errors.QueryCanceled):
        db.execute("SELECT count(*) FROM warden.check_customer_data_access_alerts()")
    db.execute("RESET statement_timeout")
    assert db.execute(WRITTEN).fetchone() == before
    db.execute(HEAL)
    db.execute("SELECT count(*) FROM warden.check_customer_data_access_alerts()")
    assert alerts(db) == reference


def test_run_killed_with_its_session_leaves_nothing(db, dsn):
    """Check that a run whose backend is terminated writes nothing at all."""
    store_attack(db)
    reference = clean_run_alerts(db)
    before = db.execute(WRITTEN).fetchone()
    db.execute(SLOW_ALERTS)
    failures: list[BaseException] = []
    victim = psycopg.connect(dsn, autocommit=True, application_name="fault-victim")
    pid = victim.info.backend_pid

    def run() -> None:
        try:
            victim.execute(
                "SELECT count(*) FROM warden.check_customer_data_access_alerts()"
            )
        except psycopg.Error as exc:
            failures.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        # Wait until the run is inside its second alert, then kill it.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            waiting = scalar(
                db,
                "SELECT wait_event FROM pg_stat_activity WHERE pid = %s",
                (pid,),
            )
            if waiting == "PgSleep":
                break
            time.sleep(0.02)
        time.sleep(0.5)
        assert scalar(db, "SELECT pg_terminate_backend(%s)", (pid,)) is True
        thread.join(timeout=10)
    finally:
        victim.close()
    assert len(failures) == 1
    assert isinstance(failures[0], psycopg.OperationalError)
    assert db.execute(WRITTEN).fetchone() == before
    db.execute(HEAL)
    db.execute("SELECT count(*) FROM warden.check_customer_data_access_alerts()")
    assert alerts(db) == reference


def test_event_whose_realtime_rules_are_cancelled_is_refused_whole(db):
    """Check that a cancelled report stores neither the event nor its alert."""
    db.execute(SLOW_ALERTS)
    before = db.execute(WRITTEN).fetchone()
    db.execute("SET statement_timeout = '200ms'")
    with pytest.raises(psycopg.errors.QueryCanceled):
        db.execute(
            "SELECT warden.log_event('customer_data_bulk_export', user_id => 'u1', "
            "table_name => 'public.customers', record_count => 900)"
        )
    db.execute("RESET statement_timeout")
    assert db.execute(WRITTEN).fetchone() == before
    assert scalar(db, "SELECT count(*) FROM warden.security_audit_log") == 0
    db.execute(HEAL)
    # The application's retry stores it once, with its alert.
    db.execute(
        "SELECT warden.log_event('customer_data_bulk_export', user_id => 'u1', "
        "table_name => 'public.customers', record_count => 900)"
    )
    assert (
        scalar(
            db,
            "SELECT count(*) FROM warden.security_audit_log "
            "WHERE source = 'application'",
        )
        == 1
    )
    assert [a[0] for a in alerts(db)] == ["bulk_export"]


class FlakyTransport:
    """Fails the first ``failures`` deliveries, then records the rest."""

    name = "flaky"

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.sent: list[int] = []
        self.tries = 0

    def send(self, message: Message) -> None:
        """Deliver, or fail while failures remain."""
        self.tries += 1
        if self.tries <= self.failures:
            raise DeliveryError(f"simulated outage {self.tries}")
        self.sent.append(message.id)


def queue(db: psycopg.Connection, subject: str) -> int:
    """Put one message in the outbox; return its id."""
    return scalar(
        db,
        "INSERT INTO warden.notification_outbox (channel, recipient, subject, "
        "body) VALUES ('stdout', 'console', %s, 'body') RETURNING id",
        (subject,),
    )


def outbox_row(db: psycopg.Connection, outbox_id: int) -> tuple:
    """Status, attempts and whether an error is recorded, of one message."""
    return db.execute(
        "SELECT status, attempts, last_error IS NOT NULL "
        "FROM warden.notification_outbox WHERE id = %s",
        (outbox_id,),
    ).fetchone()


def time_passes(db: psycopg.Connection) -> None:
    """Make every retry and lease of the outbox due now."""
    db.execute(
        "UPDATE warden.notification_outbox SET next_attempt_at = now() "
        "WHERE status IN ('pending', 'sending')"
    )


def test_failed_delivery_is_retried_until_sent(db):
    """Check that a message whose delivery fails twice is sent on the third try."""
    outbox_id = queue(db, "retry me")
    transport = FlakyTransport(failures=2)
    router = Router(stdout=transport)
    for expected in [("pending", 1, True), ("pending", 2, True)]:
        report = deliver_outbox(db, router)
        assert (report.sent, report.failed) == (0, 1)
        assert outbox_row(db, outbox_id) == expected
        # Not due before its backoff has passed: nothing is sent early.
        assert deliver_outbox(db, router).sent == 0
        time_passes(db)
    assert deliver_outbox(db, router).sent == 1
    assert outbox_row(db, outbox_id) == ("sent", 3, True)
    assert transport.sent == [outbox_id]


def test_message_claimed_by_a_deliverer_that_died_is_delivered(db, dsn):
    """Check that a claim whose deliverer died is claimed again after its lease."""
    outbox_id = queue(db, "orphan")
    with psycopg.connect(dsn, autocommit=True) as doomed:
        claimed = doomed.execute(
            "SELECT id FROM warden.claim_notifications(10)"
        ).fetchall()
        assert claimed == [(outbox_id,)]
    # The deliverer is gone before complete_notification.
    transport = FlakyTransport(failures=0)
    assert deliver_outbox(db, Router(stdout=transport)).sent == 0
    time_passes(db)
    assert deliver_outbox(db, Router(stdout=transport)).sent == 1
    assert transport.sent == [outbox_id]
    assert outbox_row(db, outbox_id)[:2] == ("sent", 2)


@pytest.fixture
def private_server(
    monkeypatch,
) -> Iterator[tuple[str, Callable[[], None], Callable[[], None]]]:
    """A PostgreSQL of this test alone, with pgwarden; yields dsn, stop, start."""
    import pgserver
    from pgserver._commands import pg_ctl

    # A server started with PGPORT set (the tests on another server set it)
    # would listen on that port instead of 5432.
    monkeypatch.delenv("PGPORT", raising=False)
    monkeypatch.delenv("PGHOST", raising=False)

    folder = tempfile.mkdtemp(prefix="pgwarden-restart-")
    server = pgserver.get_server(folder, cleanup_mode="stop")
    opts = shlex.split((server.pgdata / "postmaster.opts").read_text())
    socket_dir = opts[opts.index("-k") + 1]
    dsn = f"host={socket_dir} port=5432 user=postgres dbname=postgres"
    install.apply(dsn)
    ctl = {"pgdata": server.pgdata, "user": server.system_user, "timeout": 30}

    def stop() -> None:
        pg_ctl(["-w", "-m", "fast", "stop"], **ctl)

    def start() -> None:
        # The options pgserver starts its server with: sockets only.
        args = ["-w", "-o", '-h ""', "-o", f"-k {socket_dir}"]
        pg_ctl([*args, "-l", str(server.log), "start"], **ctl)

    try:
        yield dsn, stop, start
    finally:
        server.cleanup()
        shutil.rmtree(folder, ignore_errors=True)


def wait_for(predicate: Callable[[], bool], timeout: float = 20.0) -> bool:
    """Poll until predicate() is true or the time is up."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if predicate():
                return True
        except psycopg.OperationalError:
            pass
        time.sleep(0.2)
    return False


def test_watcher_survives_a_database_restart(private_server):
    """Check that pgwarden watch reconnects after the server was down."""
    dsn, stop, start = private_server
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONFAULTHANDLER": "1"}
    proc = subprocess.Popen(
        [PGWARDEN, "watch", "--dsn", dsn, "--interval", "0.5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )

    def ask(query: str, params: tuple = ()) -> object:
        with psycopg.connect(dsn, autocommit=True) as conn:
            return scalar(conn, query, params)

    try:
        assert wait_for(
            lambda: (
                ask(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE application_name = 'pgwarden watch'"
                )
                == 1
            )
        )
        stop()
        time.sleep(2.5)
        start()
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("UPDATE warden.detection_rules SET realtime = false")
            conn.execute(
                "SELECT warden.log_event('customer_data_bulk_export', "
                "user_id => 'after-restart', table_name => 'public.customers', "
                "record_count => 700)"
            )
            outbox_id = queue(conn, "after restart")
        assert wait_for(
            lambda: (
                ask(
                    "SELECT count(*) FROM warden.alerts WHERE user_id = 'after-restart'"
                )
                == 1
            )
        )
        assert wait_for(
            lambda: (
                ask(
                    "SELECT status FROM warden.notification_outbox WHERE id = %s",
                    (outbox_id,),
                )
                == "sent"
            )
        )
        proc.send_signal(signal.SIGTERM)
        try:
            output, _ = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            # Show where it hangs: faulthandler prints every thread's stack.
            proc.send_signal(signal.SIGABRT)
            output, _ = proc.communicate(timeout=10)
            pytest.fail(f"pgwarden watch did not stop on SIGTERM:\n{output}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, output
    assert "connection lost" in output
    assert "after restart" in output


# A sequence is not rolled back with the failing transaction, so the fault
# fires on the first attempt at line 55 only.
FAIL_AT_LINE = """
CREATE SEQUENCE public.fault_attempts;
CREATE FUNCTION public.fault_fail_once() RETURNS trigger
LANGUAGE plpgsql AS $f$
BEGIN
    IF EXISTS (SELECT 1 FROM new_rows
               WHERE (metadata ->> 'ingest_line')::int = 55)
        AND nextval('public.fault_attempts') = 1 THEN
        RAISE EXCEPTION 'simulated crash' USING ERRCODE = 'XX000';
    END IF;
    RETURN NULL;
END
$f$;
CREATE TRIGGER zz_fault_fail_once AFTER INSERT ON warden.security_audit_log
REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION public.fault_fail_once();
"""


def test_importer_crash_midway_then_rerun_stores_each_event_once(db, tmp_path):
    """Check that a crashed import, run again, stores every event exactly once."""
    path = tmp_path / "events.jsonl"
    path.write_text(
        "".join(
            f'{{"event_type": "logout", "user_id": "u{i}", '
            f'"created_at": "2026-12-01T10:{i // 60:02d}:{i % 60:02d}Z"}}\n'
            for i in range(1, 101)
        )
    )
    db.execute(FAIL_AT_LINE)

    def run() -> None:
        ingest_file(
            db,
            str(path),
            format_name="jsonl",
            options=ParseOptions(),
            summary=Summary(),
            batch_size=10,
        )

    with pytest.raises(psycopg.errors.InternalError):
        run()
    partial = scalar(db, "SELECT count(*) FROM warden.security_audit_log")
    assert partial == 50  # five whole batches, not a row of the sixth
    run()
    rows = db.execute(
        "SELECT user_id, count(*) FROM warden.security_audit_log GROUP BY 1"
    ).fetchall()
    assert len(rows) == 100
    assert all(n == 1 for _user, n in rows)
