"""``pgwarden test-rules``: scenario files run from the command line."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from pgwarden import scenarios
from pgwarden.cli import main

REPO = Path(__file__).resolve().parents[1]
#: The rule ids of the specification (section 4); the shipped scenarios
#: must cover each of them.
SPEC_RULES = {
    "bulk_export",
    "sensitive_export",
    "cumulative_export",
    "privilege_escalation_burst",
    "privilege_escalation_attempt",
    "compromise_with_data_access",
    "unauthorized_high_value_access",
    "role_violation",
    "rate_limit",
    "moderate_rate",
    "suspicious_activity",
    "failed_login_burst_user",
    "failed_login_burst_ip",
    "credential_stuffing",
    "unusual_access_pattern",
    "new_location_login",
}

# A scenario whose judgement does not depend on any rule: every rule is
# disabled, and the state it checks is made by the setup.
STATE_ONLY = """\
name: {name}
rules:
{disabled}
setup:
  - SELECT warden.lock_account('u-locked', '1 day', 'locked by the test')
events:
  - at: -1m
    event_type: logout
    user_id: u-locked
expect:
  no_alerts:
    - rule: bulk_export
  state:
    locked_accounts: [{locked}]
"""


@pytest.fixture
def rule_ids(db: psycopg.Connection) -> list[str]:
    """The rule ids of the installed schema."""
    return [
        r[0]
        for r in db.execute("SELECT rule FROM warden.detection_rules ORDER BY rule")
    ]


def state_only(name: str, locked: str, rule_ids: list[str]) -> str:
    """A scenario that passes when ``locked`` is the locked account."""
    disabled = "\n".join(f"  {r}: {{enabled: false}}" for r in rule_ids)
    return STATE_ONLY.format(name=name, locked=locked, disabled=disabled)


@pytest.fixture
def server(server_dsn) -> str:
    """The connection string of the test server's maintenance database."""
    return server_dsn("postgres")


@pytest.fixture
def cloned(server: str, postgresql_noproc) -> list[str]:
    """Options that clone the test harness's template (faster than installing)."""
    return ["--dsn", server, "--template", postgresql_noproc.template_dbname]


def run(*args: str):
    """Invoke the command line and return click's result."""
    return CliRunner().invoke(main, ["test-rules", *args], catch_exceptions=False)


def scenario_databases(server: str) -> set[str]:
    """Names of the databases scenario runs left behind."""
    with psycopg.connect(server, autocommit=True) as conn:
        return {
            r[0]
            for r in conn.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE %s",
                (scenarios.DATABASE_PREFIX + "%",),
            )
        }


def test_passing_and_failing_scenarios(tmp_path, server, rule_ids):
    """Check that each scenario gets a line, failures a diff, exit code 1."""
    before = scenario_databases(server)
    path = tmp_path / "state.scenario.yaml"
    path.write_text(
        state_only("locked as expected", "u-locked", rule_ids)
        + "---\n"
        + state_only("wrong account expected", "u-other", rule_ids)
    )
    result = run("--dsn", server, str(path))
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert any(re.match(r"PASS +locked as expected \(", line) for line in lines)
    assert any(re.match(r"FAIL +wrong account expected \(", line) for line in lines)
    assert re.search(
        r"^    - expected \(line \d+\): account u-other locked$",
        result.output,
        re.MULTILINE,
    )
    assert "+ found: warden.is_account_locked('u-other') returned False" in (
        result.output
    )
    assert lines[-1] == "1 passed, 1 failed"
    assert scenario_databases(server) == before


def test_all_passing_exits_zero(tmp_path, cloned, rule_ids):
    """Check that passing scenarios exit 0 and a given template is kept."""
    (tmp_path / "a.scenario.yaml").write_text(state_only("a", "u-locked", rule_ids))
    (tmp_path / "ignored.yaml").write_text("not: a scenario")
    result = run(*cloned, str(tmp_path))
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "1 passed, 0 failed"
    with psycopg.connect(cloned[1], autocommit=True) as conn:
        template = conn.execute(
            "SELECT count(*) FROM pg_database WHERE datname = %s", (cloned[3],)
        ).fetchone()
    assert template == (1,)


def test_each_scenario_has_a_database_of_its_own(tmp_path, cloned, rule_ids):
    """Check that a lock made by one scenario is not seen by the next."""
    first = state_only("first", "u-locked", rule_ids)
    second = first.replace("name: first", "name: second").replace(
        "  - SELECT warden.lock_account('u-locked', '1 day', 'locked by the test')",
        "  - SELECT 1",
    )
    second = second.replace("locked_accounts", "unlocked_accounts")
    (tmp_path / "iso.scenario.yaml").write_text(first + "---\n" + second)
    result = run(*cloned, str(tmp_path))
    assert result.exit_code == 0, result.output


def test_invalid_file_is_named_with_line_and_field(tmp_path, cloned, rule_ids):
    """Check that a malformed file is reported with line and field, exit 1."""
    good = tmp_path / "good.scenario.yaml"
    good.write_text(state_only("good", "u-locked", rule_ids))
    bad = tmp_path / "bad.scenario.yaml"
    bad.write_text(
        "name: bad\nevents:\n  - at: +0s\n    event_type: logout\n"
        "    when: later\nexpect: {no_alerts: [{rule: bulk_export}]}\n"
    )
    result = run(*cloned, str(tmp_path))
    assert result.exit_code == 1
    assert f"INVALID {bad}:5: events[0].when:" in result.output
    assert "PASS  good" in result.output
    assert result.output.splitlines()[-1] == "1 passed, 0 failed, 1 invalid file"


def test_unknown_rule_is_an_error(tmp_path, cloned):
    """Check that a scenario naming an unknown rule errors with its line."""
    path = tmp_path / "typo.scenario.yaml"
    path.write_text(
        "name: typo\nevents: [{at: -1m, event_type: logout}]\n"
        "expect:\n  no_alerts:\n    - rule: bulk_exprot\n"
    )
    result = run(*cloned, str(path))
    assert result.exit_code == 1
    assert "ERROR typo" in result.output
    assert "line 5: expect.no_alerts[0].rule: 'bulk_exprot'" in result.output


def test_match_selects_scenarios(tmp_path, cloned, rule_ids):
    """Check that --match runs only the scenarios whose name contains it."""
    path = tmp_path / "m.scenario.yaml"
    path.write_text(
        state_only("keep me", "u-locked", rule_ids)
        + "---\n"
        + state_only("skip me", "u-other", rule_ids)
    )
    result = run(*cloned, "--match", "KEEP", str(path))
    assert result.exit_code == 0, result.output
    assert "skip me" not in result.output


def test_no_scenario_files_is_a_problem(tmp_path, server):
    """Check that a folder without scenario files exits 1."""
    result = run("--dsn", server, str(tmp_path))
    assert result.exit_code == 1
    assert "no scenario files found" in result.output


def test_shipped_scenarios_are_valid_and_cover_every_rule(rule_ids):
    """Check that scenarios/ loads and has a hit and a miss for each rule."""
    hits: set[str] = set()
    misses: set[str] = set()
    files = scenarios.find_files([REPO / "scenarios"])
    assert files
    for path in files:
        for scenario in scenarios.load_file(path):
            hits.update(m.columns["rule"] for m in scenario.alerts)
            misses.update(m.columns["rule"] for m in scenario.no_alerts)
            unknown = {r for _, _, r in scenario.referenced_rules()} - set(rule_ids)
            assert not unknown, f"{scenario.location}: {unknown}"
    assert set(rule_ids) >= SPEC_RULES
    assert SPEC_RULES - hits == set()
    assert SPEC_RULES - misses == set()


def test_keep_failed_keeps_the_database(tmp_path, server, cloned, rule_ids):
    """Check that --keep-failed keeps a failing scenario's database."""
    path = tmp_path / "kept.scenario.yaml"
    path.write_text(state_only("fails", "u-other", rule_ids))
    result = run(*cloned, "--keep-failed", str(path))
    assert result.exit_code == 1
    found = re.search(r"kept database (pgwarden_scenario_\w+)", result.output)
    assert found
    with psycopg.connect(server, autocommit=True) as conn:
        try:
            kept = conn.execute(
                "SELECT count(*) FROM pg_database WHERE datname = %s",
                (found[1],),
            ).fetchone()[0]
        finally:
            conn.execute(f'DROP DATABASE IF EXISTS "{found[1]}" WITH (FORCE)')
    assert kept == 1


def test_role_without_createdb_gets_a_hint(tmp_path, server, server_dsn, rule_ids):
    """Check that a role without CREATEDB fails with SQLSTATE 42501, exit 3."""
    role = f"pgwarden_nocreatedb_{secrets.token_hex(4)}"
    path = tmp_path / "a.scenario.yaml"
    path.write_text(state_only("a", "u-locked", rule_ids))
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{role}" LOGIN NOCREATEDB')
        try:
            result = run("--dsn", server_dsn("postgres", user=role), str(path))
        finally:
            conn.execute(f'DROP ROLE "{role}"')
    assert result.exit_code == 3
    assert "[42501]" in result.output
    assert "CREATEDB" in result.output


def test_jobs_run_in_parallel_and_report_in_file_order(tmp_path, cloned, rule_ids):
    """Check that --jobs keeps one line per scenario, in the files' order."""
    names = ["one", "two", "three"]
    path = tmp_path / "par.scenario.yaml"
    path.write_text("---\n".join(state_only(n, "u-locked", rule_ids) for n in names))
    result = run(*cloned, "--jobs", "3", str(path))
    assert result.exit_code == 0, result.output
    shown = [line.split()[1] for line in result.output.splitlines() if "PASS" in line]
    assert shown == names
