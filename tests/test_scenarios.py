"""Scenario files: loading with line-numbered errors, and running them."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

import pytest

from pgwarden import scenarios
from pgwarden.scenarios import ScenarioError, loads, run_scenario

FULL = """\
name: six failed logins within the window
description: boundary of failed_login_burst_user
start: 2026-11-02T09:00:00Z
rules:
  failed_login_burst_user:
    threshold: 5
    time_window: 15m
    enabled: true
    severity: medium
tables:
  customers: sensitive
setup:
  - SELECT 1
events:
  - at: +0s
    event_type: login_failed
    user_id: u-1
    ip_address: 203.0.113.7
    metadata: {user_agent: curl/8.5}
    repeat: 6
    every: 3m
  - at: 2026-11-02T10:00:00+01:00
    event_type: customer_data_bulk_export
    user_id: "victim-{n}"
    record_count: 12
    table_name: customers
    risk_score: 3
expect:
  alerts:
    - rule: failed_login_burst_user
      user_id: u-1
      severity: medium
      count: at least 1
    - rule: bulk_export
      ip_address: 203.0.113.7
      count: 2
  no_alerts:
    - rule: credential_stuffing
  state:
    locked_accounts: [u-1]
    unlocked_accounts: [u-2]
    blocked_addresses: [198.51.100.0/24]
    unblocked_addresses: [203.0.113.7]
    incidents:
      - rule: failed_login_burst_user
        severity: medium
"""


def only(text: str) -> scenarios.Scenario:
    """Load a text holding exactly one scenario."""
    found = loads(textwrap.dedent(text), "x.scenario.yaml")
    assert len(found) == 1
    return found[0]


def test_full_example_loads_every_part():
    """Check that every part of a complete scenario is read as written."""
    s = only(FULL)
    assert s.name == "six failed logins within the window"
    assert s.start == dt.datetime(2026, 11, 2, 9, tzinfo=dt.timezone.utc)
    overrides = s.rules["failed_login_burst_user"]
    assert overrides["time_window"][1] == dt.timedelta(minutes=15)
    assert overrides["enabled"][1] is True
    assert s.tables == {"customers": (11, "sensitive")}
    first, second = s.events
    assert first.line == 15
    assert first.times(s.start)[-1] - first.times(s.start)[0] == dt.timedelta(
        minutes=15
    )
    assert first.fields["metadata"] == {"user_agent": "curl/8.5"}
    assert second.absolute == dt.datetime(2026, 11, 2, 9, tzinfo=dt.timezone.utc)
    assert s.alerts[0].count == scenarios.Count(1, exact=False)
    assert s.alerts[1].count == scenarios.Count(2, exact=True)
    assert s.alerts[1].columns["ip_address"] == "203.0.113.7/32"
    assert [(c.kind, c.expected) for c in s.states] == [
        ("account", True),
        ("account", False),
        ("address", True),
        ("address", False),
    ]
    assert s.incidents[0].columns["status"] == "open"


@pytest.mark.parametrize(
    ("written", "seconds"),
    [("+0s", 0), ("+14m59s", 899), ("-2h", -7200), ("+1d1s", 86401)],
)
def test_relative_times(written, seconds):
    """Check that offsets from the start are read with sign and units."""
    s = only(
        f"""
        name: t
        events:
          - at: "{written}"
            event_type: logout
        expect:
          no_alerts: [{{rule: bulk_export}}]
        """
    )
    assert s.events[0].offset == dt.timedelta(seconds=seconds)


def test_start_relative_to_now():
    """Check that start may be an offset from now."""
    s = only(
        """
        name: t
        start: -1h
        events: [{at: +0s, event_type: logout}]
        expect: {no_alerts: [{rule: bulk_export}]}
        """
    )
    assert s.start is None
    assert s.start_offset == dt.timedelta(hours=-1)


BAD = [
    ("name: [a]\nevents: []\nexpect: {}\n", 1, "name"),
    ("events: []\nexpect: {}\n", 1, "name"),
    (
        "name: a\nevents:\n  - at: soon\n    event_type: logout\n"
        "expect: {no_alerts: [{rule: x}]}\n",
        3,
        "events[0].at",
    ),
    (
        "name: a\nevents:\n  - at: +0s\n    event_type: logout\n"
        "    usr: u-1\nexpect: {no_alerts: [{rule: x}]}\n",
        5,
        "events[0].usr",
    ),
    (
        "name: a\nevents:\n  - at: +0s\n    event_type: logout\n"
        "    record_count: many\nexpect: {no_alerts: [{rule: x}]}\n",
        5,
        "events[0].record_count",
    ),
    (
        "name: a\nevents:\n  - at: +0s\n    event_type: logout\n"
        "expect:\n  alerts:\n    - rule: x\n      count: some\n",
        8,
        "expect.alerts[0].count",
    ),
    (
        "name: a\nevents:\n  - at: +0s\n    event_type: logout\n"
        "expect:\n  alerts:\n    - rule: x\n      severity: urgent\n",
        8,
        "expect.alerts[0].severity",
    ),
    (
        "name: a\nrules:\n  x:\n    treshold: 3\n"
        "events: [{at: +0s, event_type: logout}]\nexpect: {no_alerts: []}\n",
        4,
        "rules.x.treshold",
    ),
    (
        "name: a\nevents:\n  - at: +0s\n    event_type: logout\n"
        "    every: 1m\nexpect: {no_alerts: [{rule: x}]}\n",
        5,
        "events[0].every",
    ),
    (
        "name: a\nevents: [{at: +0s, event_type: logout}]\n"
        "expect:\n  state:\n    blocked_addresses: [not-an-ip]\n"
        "    incidents:\n      - severity: high\n",
        7,
        "expect.state.incidents[0].rule",
    ),
    (
        "name: a\nevents: [{at: +0s, event_type: logout}]\n"
        "expect:\n  alerts:\n    - rule: x\n      ip_address: 1.2.3.999\n",
        6,
        "expect.alerts[0].ip_address",
    ),
    ("name: a\nname: b\nevents: []\nexpect: {}\n", 2, "name"),
    ("name: a\nevents: []\nexpect: {}\n", 2, "events"),
    ("name: a\nevents: [{at: +0s, event_type: logout}]\nexpect: {}\n", 3, "expect"),
]


@pytest.mark.parametrize(("text", "line", "where"), BAD)
def test_malformed_file_names_line_and_field(text, line, where):
    """Check that a malformed scenario names the line and the field."""
    with pytest.raises(ScenarioError) as caught:
        loads(text, "bad.scenario.yaml")
    assert caught.value.path == "bad.scenario.yaml"
    assert (caught.value.line, caught.value.where) == (line, where)


def test_yaml_syntax_error_names_line():
    """Check that a YAML syntax error is reported with its line."""
    with pytest.raises(ScenarioError) as caught:
        loads("name: a\nevents:\n  - at: +0s\n   bad: [\n", "s.yaml")
    assert caught.value.line == 4


def test_several_scenarios_per_file_need_distinct_names():
    """Check that documents are scenarios and a repeated name is refused."""
    one = "name: {}\nevents: [{{at: +0s, event_type: logout}}]\n" + (
        "expect: {{no_alerts: [{{rule: x}}]}}\n"
    )
    assert [s.name for s in loads(one.format("a") + "---\n" + one.format("b"))] == [
        "a",
        "b",
    ]
    with pytest.raises(ScenarioError) as caught:
        loads(one.format("a") + "---\n" + one.format("a"))
    assert (caught.value.line, caught.value.where) == (5, "name")


def test_find_files_takes_scenario_yaml_from_folders(tmp_path: Path):
    """Check that folders yield only YAML files named with scenario."""
    (tmp_path / "sub").mkdir()
    wanted = [tmp_path / "a.scenario.yaml", tmp_path / "sub" / "scenarios_b.yml"]
    for path in [*wanted, tmp_path / "other.yaml", tmp_path / "scenario.txt"]:
        path.write_text("")
    explicit = tmp_path / "other.yaml"
    assert scenarios.find_files([tmp_path]) == sorted(wanted)
    assert scenarios.find_files([explicit]) == [explicit]


# ---------------------------------------------------------------------------
# Running against the database


def test_events_are_reported_at_their_times(db):
    """Check that events go through log_event at start plus their offset."""
    s = only(
        """
        name: t
        start: 2026-11-02T09:00:00Z
        events:
          - at: +14m59s
            event_type: login_failed
            user_id: "u-{n}"
            ip_address: 203.0.113.7
            metadata: {attempted_user: x}
            repeat: 2
            every: 1s
        expect:
          no_alerts: [{rule: credential_stuffing}]
        """
    )
    run_scenario(db, s)
    rows = db.execute(
        "SELECT user_id, created_at, metadata ->> 'attempted_user', source"
        " FROM warden.security_audit_log WHERE event_type = 'login_failed'"
        " ORDER BY id"
    ).fetchall()
    start = dt.datetime(2026, 11, 2, 9, tzinfo=dt.timezone.utc)
    assert rows == [
        ("u-1", start + dt.timedelta(seconds=899), "x", "application"),
        ("u-2", start + dt.timedelta(seconds=900), "x", "application"),
    ]


def test_rule_overrides_are_applied(db):
    """Check that rule overrides change warden.detection_rules first."""
    s = only(
        """
        name: t
        rules:
          failed_login_burst_ip:
            threshold: 2
            time_window: 5 minutes
            severity: high
            enabled: false
        events: [{at: -1m, event_type: logout, user_id: u-1}]
        expect: {no_alerts: [{rule: failed_login_burst_ip}]}
        """
    )
    run_scenario(db, s)
    row = db.execute(
        "SELECT threshold, time_window, severity, enabled"
        " FROM warden.detection_rules WHERE rule = 'failed_login_burst_ip'"
    ).fetchone()
    assert row == (2, dt.timedelta(minutes=5), "high", False)


def test_unknown_rule_is_an_error_with_its_line(db):
    """Check that a misspelt rule in an expectation is an error, not a pass."""
    s = only(
        """
        name: t
        events: [{at: -1m, event_type: logout}]
        expect:
          no_alerts:
            - rule: bulk_exports
        """
    )
    result = run_scenario(db, s)
    assert result.status == "ERROR"
    assert isinstance(result.error, ScenarioError)
    assert (result.error.line, result.error.where) == (6, "expect.no_alerts[0].rule")


def test_refused_event_is_an_error_with_its_line(db):
    """Check that an event log_event refuses ends the scenario with its line."""
    s = only(
        """
        name: t
        events:
          - at: -1m
            event_type: logout
          - at: -1m
            event_type: log_out
        expect: {no_alerts: [{rule: bulk_export}]}
        """
    )
    result = run_scenario(db, s)
    assert result.status == "ERROR"
    assert result.error.sqlstate == "22023"
    assert (result.error.line, result.error.where) == (6, "events[1]")


def test_check_items_run_detection_between_events():
    """Check that a check item is read as a detection run between events."""
    s = only(
        """
        name: t
        events:
          - {at: -2m, event_type: logout}
          - check: true
          - {at: -1m, event_type: logout}
        expect: {no_alerts: [{rule: bulk_export}]}
        """
    )
    assert [e.check for e in s.events] == [False, True, False]
    with pytest.raises(ScenarioError) as caught:
        loads("name: t\nevents:\n  - check: true\n    at: +0s\nexpect: {}\n")
    assert (caught.value.line, caught.value.where) == (4, "events[0].at")


def test_detection_runs_at_each_check_item(db):
    """Check that each check item runs the scheduled detection once more."""
    before = db.execute("SELECT runs FROM warden.detection_state").fetchone()[0]
    s = only(
        """
        name: t
        events:
          - {at: -2m, event_type: logout}
          - check: true
          - check: true
        expect: {no_alerts: [{rule: bulk_export}]}
        """
    )
    assert run_scenario(db, s).passed
    after = db.execute("SELECT runs FROM warden.detection_state").fetchone()[0]
    assert after - before == 3


EXPORT = """
name: export
start: -10m
events:
  - at: +0s
    event_type: customer_data_bulk_export
    user_id: u-1
    ip_address: "::ffff:203.0.113.7"
    table_name: customers
    record_count: 51
expect:
{expect}
"""


def export_scenario(expect: str) -> scenarios.Scenario:
    """A bulk export of 51 records by u-1 with the given expectations."""
    return only(EXPORT.format(expect=textwrap.indent(textwrap.dedent(expect), "  ")))


def test_expected_alert_passes(db):
    """Check that an alert matching rule, user, address and count passes."""
    s = export_scenario(
        """
        alerts:
          - rule: bulk_export
            user_id: u-1
            ip_address: 203.0.113.7
            severity: critical
            record_count: 51
            count: exactly 1
        no_alerts:
          - rule: bulk_export
            user_id: u-2
        """
    )
    result = run_scenario(db, s)
    assert result.status == "PASS", result.report()
    assert [a["rule"] for a in result.alerts if a["rule"] == "bulk_export"] == [
        "bulk_export"
    ]


def test_wrong_count_and_unwanted_alert_fail_with_a_diff(db):
    """Check that unmet expectations fail with expected and found lines."""
    s = export_scenario(
        """
        alerts:
          - rule: bulk_export
            user_id: u-1
            count: at least 2
          - rule: bulk_export
            severity: low
        no_alerts:
          - rule: bulk_export
            user_id: u-1
        """
    )
    result = run_scenario(db, s)
    assert result.status == "FAIL"
    assert [f.line for f in result.failures] == [14, 17, 20]
    assert result.failures[0].expected == "at least 2 alert bulk_export user_id=u-1"
    assert result.failures[0].actual.startswith("1: #")
    assert result.failures[1].actual == "no such alert"
    assert "bulk_export critical user_id=u-1" in result.failures[2].actual
    report = result.report().splitlines()
    assert report[0].startswith("FAIL  export (x.scenario.yaml:2)")
    assert report[1] == (
        "    - expected (line 14): at least 2 alert bulk_export user_id=u-1"
    )


def test_incident_expectation(db):
    """Check that incidents are matched by rule, user, severity and status."""
    s = export_scenario(
        """
        state:
          incidents:
            - rule: bulk_export
              user_id: u-1
              severity: critical
            - rule: bulk_export
              severity: low
              count: 0
        """
    )
    result = run_scenario(db, s)
    assert result.status == "PASS", result.report()


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("203.0.113.7", "203.0.113.7/32"),
        ("::ffff:203.0.113.7", "203.0.113.7/32"),
        ("2001:db8:1:2::/64", "2001:db8:1:2::/64"),
        ("198.51.100.0/24", "198.51.100.0/24"),
    ],
)
def test_expected_addresses_compare_as_stored(written, canonical):
    """Check that expected addresses are normalised as pgwarden stores them."""
    s = only(
        f"""
        name: t
        events: [{{at: -1m, event_type: logout}}]
        expect:
          no_alerts:
            - rule: bulk_export
              ip_address: "{written}"
        """
    )
    assert s.no_alerts[0].columns["ip_address"] == canonical


def test_metadata_timestamps_become_iso_text():
    """Check that YAML timestamps in metadata are kept as ISO text."""
    s = only(
        """
        name: t
        events:
          - at: -1m
            event_type: logout
            metadata: {seen: 2026-11-02T09:00:00Z, tags: [a, 1]}
        expect: {no_alerts: [{rule: bulk_export}]}
        """
    )
    assert s.events[0].fields["metadata"] == {
        "seen": "2026-11-02T09:00:00+00:00",
        "tags": ["a", 1],
    }
