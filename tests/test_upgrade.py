"""Upgrading a database that holds data, and rolling back one step.

An older release is installed exactly as it shipped: its ``migrations/`` and
``sql/`` tree are taken from the git history of this repository (``git
archive``), its migrations applied with yoyo and its own tree loaded. The
current checkout then upgrades it with ``pgwarden.install.apply``. Nothing
stored may be lost or changed, and the upgraded catalog must equal that of
a fresh install.

Why not "migration 0001 plus today's tree"? The tree is reloaded after
every apply and today's tree names tables of later migrations (grants on
warden.alerts, the trigger on alerts that opens incidents, views over
incidents), so it cannot load on top of 0001 alone; a database at 0001
only ever existed with the tree of its own release. Installing that
release from history is the faithful old version.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
from pathlib import Path

import psycopg
import pytest
from yoyo import get_backend, read_migrations

from catalog import differences, snapshot
from pgwarden import install

REPO = Path(__file__).resolve().parents[1]
#: The first release: the event log alone (migration 0001).
FIRST_RELEASE = "f0bb173"
#: The first release with all four migrations (detection, containment,
#: incidents).
FULL_RELEASE = "bf88e26"


def release_tree(commit: str, into: Path) -> Path:
    """Extract ``sql/`` and ``migrations/`` of a commit; skip without history."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed: older releases cannot be extracted")
    probe = subprocess.run(
        ["git", "-C", str(REPO), "cat-file", "-e", f"{commit}^{{commit}}"],
        capture_output=True,
        check=False,
    )
    if probe.returncode != 0:
        pytest.skip(f"release {commit} is not in this clone's history (shallow?)")
    archive = subprocess.run(
        [
            "git",
            "-C",
            str(REPO),
            "archive",
            "--format=tar",
            commit,
            "sql",
            "migrations",
        ],
        capture_output=True,
        check=True,
    ).stdout
    root = into / commit
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(root, filter="data")
    return root


def install_release(dsn: str, root: Path) -> None:
    """Install an extracted release: its migrations, then its own tree."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS warden")
    backend = get_backend(install.yoyo_uri(dsn))
    try:
        with backend.lock():
            migrations = read_migrations(str(root / "migrations"))
            backend.apply_migrations_only(backend.to_apply(migrations))
    finally:
        backend.connection.close()
    files = []
    for sub in install.TREE_ORDER:
        files.extend(sorted((root / "sql" / sub).glob("*.sql")))
    files.append(root / "sql" / "after_load.sql")
    with psycopg.connect(dsn, autocommit=True) as conn, conn.transaction():
        for path in files:
            install.run_file(conn, path)


@pytest.fixture
def old_database(scratch_database, server_dsn, tmp_path):
    """Build a database at an older release; returns (dsn, fresh dsn)."""

    def _build(commit: str) -> tuple[str, str]:
        root = release_tree(commit, tmp_path)
        dsn = server_dsn(scratch_database(f"pgw_old_{commit}"))
        install_release(dsn, root)
        fresh = server_dsn(scratch_database(f"pgw_fresh_{commit}"))
        install.apply(fresh)
        return dsn, fresh

    return _build


def events(conn: psycopg.Connection) -> list[tuple]:
    """Every event as stored, all columns."""
    return conn.execute(
        "SELECT * FROM warden.security_audit_log ORDER BY id"
    ).fetchall()


def store_events(conn: psycopg.Connection) -> None:
    """Events of every kind and quality, as an application reports them."""
    conn.execute(
        """
        SELECT warden.log_event('login_failed', user_id => 'u' || (i % 3),
                   ip_address => '198.51.100.' || (i % 2),
                   created_at => now() - make_interval(mins => i))
        FROM generate_series(1, 12) AS i;
        SELECT warden.log_event('customer_data_bulk_export', user_id => 'exp',
                   table_name => 'public.customers', record_count => 400,
                   ip_address => 'not-an-address',
                   metadata => '{"file": "dump.csv"}');
        SELECT warden.log_event('privilege_escalation_attempt',
                   user_id => 'climber')
        FROM generate_series(1, 3);
        SELECT warden.log_event('login_success', user_id => '',
                   created_at => now() + interval '3 days');
        """
    )


def test_first_release_upgrades_without_losing_events(old_database):
    """Check that events stored under the first release survive the upgrade."""
    dsn, _fresh = old_database(FIRST_RELEASE)
    with psycopg.connect(dsn, autocommit=True) as conn:
        store_events(conn)
        before = events(conn)
    applied = install.apply(dsn)
    assert applied and applied[0] == "0002_detection"
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert events(conn) == before
        assert (
            conn.execute("SELECT count(*) FROM warden.verify_audit_log()").fetchone()[0]
            == 0
        )
        # The old events feed today's rules.
        conn.execute("SELECT count(*) FROM warden.check_customer_data_access_alerts()")
        rules = {r[0] for r in conn.execute("SELECT rule FROM warden.alerts")}
        assert {"bulk_export", "failed_login_burst_ip"} <= rules
        # And the log is still append-only.
        conn.execute("DELETE FROM warden.security_audit_log")
        assert len(events(conn)) > len(before)


def test_first_release_upgrade_matches_a_fresh_install(old_database):
    """Check that the first release, upgraded, has a fresh install's catalog."""
    dsn, fresh = old_database(FIRST_RELEASE)
    install.apply(dsn)
    assert differences(snapshot(fresh), snapshot(dsn)) == {}


#: What each kept table holds, as text. Alerts leave out incident_id and
#: updated_at, which belong to the incidents area.
STATE = {
    "events": "SELECT t::text FROM warden.security_audit_log AS t",
    "alerts": "SELECT row(id, rule, subject, first_seen, last_seen, "
    "event_count, record_count, evidence, status)::text FROM warden.alerts",
    "locks": "SELECT t::text FROM warden.account_locks AS t",
    "blocks": "SELECT t::text FROM warden.ip_blocks AS t",
    "incidents": "SELECT t::text FROM warden.incidents AS t",
    "timeline": "SELECT t::text FROM warden.incident_timeline AS t",
    "outbox": "SELECT t::text FROM warden.notification_outbox AS t",
}


def state(conn: psycopg.Connection) -> dict[str, list[tuple]]:
    """Events, alerts, incidents, locks, blocks and messages, as stored."""
    return {
        name: sorted(conn.execute(query).fetchall()) for name, query in STATE.items()
    }


def test_full_release_upgrades_with_alerts_and_incidents(old_database):
    """Check that events, alerts, incidents and locks survive the upgrade."""
    dsn, _fresh = old_database(FULL_RELEASE)
    with psycopg.connect(dsn, autocommit=True) as conn:
        store_events(conn)
        conn.execute("SELECT count(*) FROM warden.check_customer_data_access_alerts()")
        before = state(conn)
    assert before["alerts"] and before["incidents"] and before["locks"]
    install.apply(dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert state(conn) == before
        conn.execute("SELECT warden.log_event('logout', user_id => 'after')")


def test_full_release_upgrade_matches_a_fresh_install(old_database):
    """Check that the upgraded catalog equals that of a fresh install."""
    dsn, fresh = old_database(FULL_RELEASE)
    install.apply(dsn)
    assert differences(snapshot(fresh), snapshot(dsn)) == {}


def rollback_and_forward(
    db: psycopg.Connection, dsn: str, *, through: str | None = None
) -> tuple[dict, dict]:
    """Store data, roll back the last migration (or every one down to and
    including ``through``), report and detect meanwhile, apply again; return
    the state before and after."""
    store_events(db)
    db.execute("SELECT count(*) FROM warden.check_customer_data_access_alerts()")
    before = state(db)
    assert before["incidents"] and before["alerts"] and before["locks"]
    applied = [m.id for m in install.status(dsn) if m.applied]
    steps = 1 if through is None else len(applied) - applied.index(through)
    rolled = install.rollback(dsn, steps=steps, discard_data=True)
    assert rolled == applied[::-1][:steps]
    # Rolled back: reporting and detection still work, new alerts are raised.
    db.execute(
        "SELECT warden.log_event('customer_data_bulk_export', user_id => 'mid', "
        "table_name => 'public.customers', record_count => 999)"
    )
    db.execute("SELECT count(*) FROM warden.check_customer_data_access_alerts()")
    assert install.apply(dsn) == rolled[::-1]
    assert db.execute(
        "SELECT count(*) FROM warden.alerts WHERE user_id = 'mid'"
    ).fetchone() == (1,)
    return before, state(db)


def test_rollback_of_incidents_keeps_events_alerts_and_locks(db, dsn):
    """Check that undoing the incidents area keeps events, alerts and locks."""
    before, after = rollback_and_forward(db, dsn, through="0004_incidents")
    for name in ("events", "alerts", "locks", "blocks"):
        assert set(before[name]) <= set(after[name]), name


def test_rollback_refuses_to_drop_incidents_unless_told(db, dsn):
    """Check that undoing the incidents area while incidents exist is refused,
    leaves everything as it was, and goes ahead with discard_data."""
    store_events(db)
    db.execute("SELECT count(*) FROM warden.check_customer_data_access_alerts()")
    before = state(db)
    assert before["incidents"] and before["timeline"]
    applied = [m.id for m in install.status(dsn) if m.applied]
    steps = len(applied) - applied.index("0004_incidents")
    with pytest.raises(psycopg.Error) as info:
        install.rollback(dsn, steps=steps)
    assert info.value.diag.sqlstate == "55000"
    message = info.value.diag.message_primary
    assert f"{len(before['incidents'])} incidents" in message
    assert "--discard-data" in info.value.diag.message_hint
    # Refused before anything changed: not even 0005, rolled back first.
    assert [m.id for m in install.status(dsn) if m.applied] == applied
    assert state(db) == before
    assert install.rollback(dsn, steps=steps, discard_data=True)[-1] == (
        "0004_incidents"
    )
    assert db.execute("SELECT to_regclass('warden.incidents')").fetchone() == (None,)


def test_cli_rollback_names_the_rows_and_the_flag(db, dsn):
    """Check that pgwarden migrate rollback --steps refuses in one line with
    the SQLSTATE and hint (the error exit code), and --discard-data goes
    ahead."""
    from click.testing import CliRunner

    from pgwarden.cli import EXIT_ERROR, main

    store_events(db)
    db.execute("SELECT count(*) FROM warden.check_customer_data_access_alerts()")
    applied = [m.id for m in install.status(dsn) if m.applied]
    steps = len(applied) - applied.index("0004_incidents")
    runner = CliRunner()
    args = ["migrate", "rollback", "--dsn", dsn, "--steps", str(steps)]
    result = runner.invoke(main, args)
    assert result.exit_code == EXIT_ERROR, result.output
    assert "55000" in result.output
    assert "would delete" in result.output
    assert "--discard-data" in result.output
    result = runner.invoke(main, [*args, "--discard-data"])
    assert result.exit_code == 0, result.output
    assert "rolled back 0004_incidents" in result.output


def test_rollback_of_detection_leaves_no_function_reading_alerts(db, dsn):
    """Check that undoing the detection area drops every function that reads
    its tables, and that applying again brings them back."""
    applied = [m.id for m in install.status(dsn) if m.applied]
    steps = len(applied) - applied.index("0002_detection")
    install.rollback(dsn, steps=steps, discard_data=True)
    stale = db.execute(
        "SELECT p.proname FROM pg_catalog.pg_proc AS p"
        " WHERE p.pronamespace = 'warden'::regnamespace"
        " AND p.prosrc ~ 'warden\\.(alerts|detection_state)\\M'"
    ).fetchall()
    assert stale == []
    install.apply(dsn)
    assert db.execute(
        "SELECT to_regprocedure('warden._revise_alerts(bigint[])') IS NOT NULL"
    ).fetchone() == (True,)
