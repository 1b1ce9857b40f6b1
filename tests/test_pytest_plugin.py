"""The pytest plugin: a user's tests mixing scenarios with their own checks."""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest

SCENARIO = """\
name: a lock made in the setup
setup:
  - SELECT warden.lock_account('u-1', '1 day', 'locked by the test')
events:
  - at: -1m
    event_type: logout
    user_id: u-1
expect:
  state:
    locked_accounts: [{locked}]
"""

USER_TESTS = '''
from pathlib import Path


def test_fresh_database_has_pgwarden(pgwarden_db):
    """A user's own check."""
    row = pgwarden_db.conn.execute(
        "SELECT count(*) FROM warden.security_audit_log").fetchone()
    assert row == (0,)
    pgwarden_db.conn.execute(
        "SELECT warden.log_event('logout', user_id => 'leftover')")


def test_databases_are_not_shared(pgwarden_db):
    """The event of the previous test is gone."""
    row = pgwarden_db.conn.execute(
        "SELECT count(*) FROM warden.security_audit_log").fetchone()
    assert row == (0,)


def test_scenario_then_own_assertions(pgwarden_scenario, pgwarden_db):
    """Run a scenario, then look at the database it left."""
    result = pgwarden_scenario(Path(__file__).with_name("good.scenario.yaml"))
    assert result.passed
    row = pgwarden_db.conn.execute(
        "SELECT count(*) FROM warden.security_audit_log"
        " WHERE event_type = 'logout'").fetchone()
    assert row == (1,)


def test_failing_scenario(pgwarden_scenario):
    """This one must fail with the report."""
    pgwarden_scenario(Path(__file__).with_name("bad.scenario.yaml"))
'''


def plugin_args(server: str) -> list[str]:
    """Arguments that load the plugin (unless installed) and name the server."""
    installed = any(
        ep.value == "pgwarden.pytest_plugin" for ep in entry_points(group="pytest11")
    )
    args = [] if installed else ["-p", "pgwarden.pytest_plugin"]
    return [*args, f"--pgwarden-dsn={server}", "-p", "no:cacheprovider"]


@pytest.fixture
def server(server_dsn) -> str:
    """The connection string of the test server's maintenance database."""
    return server_dsn("postgres")


def test_user_tests_get_fresh_databases_and_scenarios(pytester, server, db):
    """Check that the fixtures give fresh databases and run scenarios."""
    rules = [r[0] for r in db.execute("SELECT rule FROM warden.detection_rules")]
    disabled = "rules:\n" + "".join(f"  {r}: {{enabled: false}}\n" for r in rules)
    for name, locked in (("good", "u-1"), ("bad", "u-2")):
        path = pytester.path / f"{name}.scenario.yaml"
        path.write_text(SCENARIO.format(locked=locked) + disabled)
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest_subprocess(*plugin_args(server))
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*FAIL  a lock made in the setup*",
            "*- expected (line 10): account u-2 locked",
            "*+ found: warden.is_account_locked('u-2') returned False",
        ]
    )


def test_dsn_option_is_documented(pytester, server):
    """Check that the plugin adds --pgwarden-dsn to pytest's help."""
    result = pytester.runpytest_subprocess(*plugin_args(server), "--help")
    result.stdout.fnmatch_lines(["*--pgwarden-dsn*"])


def test_scenario_files_are_collected_when_asked(pytester, server, db):
    """Check that --pgwarden-scenarios makes each scenario a test item."""
    rules = [r[0] for r in db.execute("SELECT rule FROM warden.detection_rules")]
    disabled = "rules:\n" + "".join(f"  {r}: {{enabled: false}}\n" for r in rules)
    good = SCENARIO.format(locked="u-1") + disabled
    bad = SCENARIO.format(locked="u-2").replace("a lock made", "another lock")
    (pytester.path / "locks.scenario.yaml").write_text(good + "---\n" + bad + disabled)
    (pytester.path / "broken.scenario.yaml").write_text(
        "name: x\nevents: []\nexpect: {}\n"
    )
    args = plugin_args(server)
    plain = pytester.runpytest_subprocess(*args)
    plain.assert_outcomes()
    result = pytester.runpytest_subprocess(
        *args, "--pgwarden-scenarios", "--continue-on-collection-errors"
    )
    result.assert_outcomes(passed=1, failed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*broken.scenario.yaml:2: events: must list at least one event*",
            "*FAIL  another lock in the setup*",
            "*+ found: warden.is_account_locked('u-2') returned False",
        ]
    )
