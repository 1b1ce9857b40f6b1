"""Installing, re-applying, removing and inspecting pgwarden."""

from __future__ import annotations

import logging
import threading

import psycopg
import pytest
from click.testing import CliRunner
from psycopg import sql

from catalog import differences, snapshot
from pgwarden import install
from pgwarden.cli import main

HOST_SCHEMA = """
CREATE TABLE public.customers (
    id bigint PRIMARY KEY,
    email text NOT NULL
);
CREATE SCHEMA app;
CREATE FUNCTION app.touch() RETURNS integer LANGUAGE sql AS 'SELECT 1';
INSERT INTO public.customers VALUES (1, 'a@example.com');
"""


def ensure_login_role(dsn: str, name: str, *, createrole: bool) -> None:
    """Create a non-superuser login role for an installer, if missing."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)
        ).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(name)))
        conn.execute(
            sql.SQL("ALTER ROLE {} {}").format(
                sql.Identifier(name),
                sql.SQL("CREATEROLE" if createrole else "NOCREATEROLE"),
            )
        )


@pytest.fixture
def host_db(scratch_database, server_dsn) -> str:
    """An application database that already holds its own objects."""
    dsn = server_dsn(scratch_database("pgw_host"))
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(HOST_SCHEMA)
    return dsn


def test_apply_twice_changes_nothing(host_db):
    """Check that a second apply applies nothing and leaves the catalog."""
    assert install.apply(host_db) != []
    first = snapshot(host_db)
    assert install.apply(host_db) == []
    assert differences(first, snapshot(host_db)) == {}


def test_rollback_leaves_the_host_as_it_was(host_db):
    """Check that removing pgwarden restores the host catalog exactly."""
    before = snapshot(host_db)
    install.apply(host_db)
    with psycopg.connect(host_db, autocommit=True) as conn:
        conn.execute("SELECT warden.log_event('login_failed', user_id => 'u')")
    assert differences(before, snapshot(host_db)) != {}
    install.rollback(host_db)
    assert differences(before, snapshot(host_db)) == {}
    with psycopg.connect(host_db, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM public.customers").fetchone()[0] == 1


def test_nothing_is_created_outside_the_warden_schema(host_db):
    """Check that installing adds objects to no schema but warden."""
    before = snapshot(host_db)
    install.apply(host_db)
    diff = differences(before, snapshot(host_db))
    for part, rows in diff.items():
        if part in ("default_privileges", "extensions"):
            assert rows["only_right"] == [], part
            continue
        for row in rows["only_right"]:
            assert row[0] == "warden", (part, row)
        assert rows["only_left"] == [], part


def test_status_lists_applied_and_pending(host_db):
    """Check that status reports every migration pending, then applied."""
    assert all(not s.applied for s in install.status(host_db))
    install.apply(host_db)
    entries = install.status(host_db)
    assert entries and all(s.applied for s in entries)
    assert entries[0].id == "0001_event_log"


def test_rollback_steps_then_apply_again(host_db):
    """Check that rolling back one step and applying again restores it."""
    install.apply(host_db)
    complete = snapshot(host_db)
    rolled = install.rollback(host_db, steps=1)
    assert len(rolled) == 1
    assert install.apply(host_db) == rolled
    assert differences(complete, snapshot(host_db)) == {}


def test_install_as_non_superuser_database_owner(scratch_database, server_dsn):
    """Check that a database owner without superuser installs and uses it."""
    superuser_dsn = server_dsn("postgres")
    ensure_login_role(superuser_dsn, "pgw_owner", createrole=False)
    name = scratch_database("pgw_owned", owner="pgw_owner")
    owner_dsn = server_dsn(name, user="pgw_owner")
    assert install.apply(owner_dsn) != []
    with psycopg.connect(superuser_dsn, autocommit=True) as conn:
        # The DBA lets the application's login act as the reporter role.
        conn.execute("GRANT warden_app TO pgw_owner")
    with psycopg.connect(owner_dsn, autocommit=True) as conn:
        assert (
            conn.execute(
                "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
            ).fetchone()[0]
            is False
        )
        conn.execute("SET ROLE warden_app")
        event_id = conn.execute(
            "SELECT warden.log_event('login_failed', user_id => 'u1')"
        ).fetchone()[0]
        assert event_id > 0
    assert install.rollback(owner_dsn) != []


def test_missing_roles_are_named_and_install_carries_on(
    scratch_database, server_dsn, caplog
):
    """Check that an owner who may not create roles is told which to create."""
    superuser_dsn = server_dsn("postgres")
    ensure_login_role(superuser_dsn, "pgw_owner", createrole=False)
    name = scratch_database("pgw_noroles", owner="pgw_owner")
    owner_dsn = server_dsn(name, user="pgw_owner")
    with psycopg.connect(superuser_dsn, autocommit=True) as conn:
        conn.execute("ALTER ROLE warden_analyst RENAME TO pgw_hidden_analyst")
    try:
        with caplog.at_level(logging.WARNING, logger="pgwarden.install"):
            assert install.apply(owner_dsn) != []
    finally:
        with psycopg.connect(superuser_dsn, autocommit=True) as conn:
            conn.execute("ALTER ROLE pgw_hidden_analyst RENAME TO warden_analyst")
    warnings = [r.getMessage() for r in caplog.records]
    assert any("warden_analyst" in w and "CREATE ROLE" in w for w in warnings)
    with psycopg.connect(owner_dsn, autocommit=True) as conn:
        assert conn.execute(
            "SELECT to_regprocedure('warden.log_event(text, text, text, jsonb, "
            "integer, text, integer, timestamptz)') IS NOT NULL"
        ).fetchone()[0]
    # Once the role exists, applying again grants what was skipped.
    install.apply(owner_dsn)
    with psycopg.connect(owner_dsn, autocommit=True) as conn:
        assert conn.execute(
            "SELECT has_table_privilege('warden_analyst', "
            "'warden.security_audit_log', 'SELECT')"
        ).fetchone()[0]


def test_two_installers_at_once(scratch_database, server_dsn):
    """Check that two concurrent installs both succeed with one schema."""
    dsn = server_dsn(scratch_database("pgw_race"))
    results: list[object] = []

    def run() -> None:
        try:
            results.append(install.apply(dsn))
        except Exception as exc:
            results.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not [r for r in results if isinstance(r, Exception)], results
    applied = sorted(len(r) for r in results)
    assert applied[0] == 0 and applied[1] > 0
    assert all(s.applied for s in install.status(dsn))


def test_cli_migrate_apply_status_rollback(host_db):
    """Check that pgwarden migrate apply, status and rollback work by DSN."""
    runner = CliRunner()
    result = runner.invoke(main, ["migrate", "--dsn", host_db])
    assert result.exit_code == 0, result.output
    assert "applied 0001_event_log" in result.output
    result = runner.invoke(main, ["migrate", "status", "--dsn", host_db])
    assert result.exit_code == 0
    assert "applied  0001_event_log" in result.output
    result = runner.invoke(main, ["migrate", "rollback", "--dsn", host_db])
    assert result.exit_code == 0
    assert "rolled back 0001_event_log" in result.output


def test_cli_reports_connection_errors_in_one_line():
    """Check that an unreachable database is one error line, exit code 3."""
    runner = CliRunner()
    result = runner.invoke(
        main,
        [
            "migrate",
            "status",
            "--dsn",
            "host=/nonexistent-socket-dir dbname=x connect_timeout=2",
        ],
    )
    assert result.exit_code == 3
    assert result.output.count("\n") == 1
    assert result.output.startswith("pgwarden: error:")
