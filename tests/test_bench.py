"""The benchmark (bench/run.py): its JSON shape, figures and injected attacks.

Timings are never asserted here: the machines are shared and noisy, and
the targets are judged on the medium and large scales (docs/performance.md).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

import datagen  # noqa: E402
import run  # noqa: E402

#: The figures of the benchmark's specification, in its order.
FIGURES = (
    "ingest_copy",
    "log_event_latency",
    "bulk_update_overhead",
    "bulk_update_vs_row_trigger",
    "single_update_added_ms",
    "detect_1m",
    "detect_5m",
    "incremental_1m",
    "incremental_5m",
    "detect_temp_bytes",
    "recall",
)

#: The rule ids of the specification's rule table (section 4).
SPEC_RULES = (
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
)


@pytest.mark.slow
def test_small_scale_writes_every_figure(
    tmp_path: Path, server_dsn: Callable[[str], str]
) -> None:
    """Check that --scale small writes every figure and the settings."""
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [
            sys.executable,
            str(BENCH / "run.py"),
            "--scale",
            "small",
            "--json",
            str(out),
            "--dsn",
            server_dsn("postgres"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    names = [f["name"] for f in result["figures"]]
    assert names == list(FIGURES)
    for figure in result["figures"]:
        assert {"name", "pgwarden", "baseline", "ratio", "target", "met"} <= set(figure)
        value = figure["pgwarden"]
        assert value is None or isinstance(value, int | float), figure
        if value is None:
            assert figure["note"], f"{figure['name']} is null without a note"
    for name in (
        "server_version",
        "work_mem",
        "jit",
        "synchronous_commit",
        "shared_buffers",
    ):
        assert result["settings"][name], name
    by_name = {f["name"]: f for f in result["figures"]}
    assert by_name["detect_5m"]["pgwarden"] is None
    assert "| `recall` |" in done.stdout
    with psycopg.connect(server_dsn("postgres")) as conn:
        left = conn.execute(
            "SELECT count(*) FROM pg_database WHERE datname LIKE 'pgwarden_bench_%'"
        ).fetchone()[0]
    assert left == 0


def test_attackers_cover_every_rule(db: psycopg.Connection) -> None:
    """Check that the generator injects one attack for every rule id."""
    rules = {r for (r,) in db.execute("SELECT rule FROM warden.detection_rules")}
    attack = datagen.attackers(end=1_800_000_000.0, days=30, seed=1)
    injected = [e.rule for e in attack.expected]
    assert sorted(injected) == sorted(SPEC_RULES)
    assert set(SPEC_RULES) <= rules
    for expected in attack.expected:
        assert (expected.user_id is None) != (expected.ip_address is None)


def test_attacks_lie_in_the_last_day() -> None:
    """Check that every attack event but the histories lies in the last 24 h."""
    end = 1_800_000_000.0
    attack = datagen.attackers(end=end, days=30, seed=1)
    recent = [ts for ts, line in attack.lines if ts > end - 86400]
    assert all(ts <= end for ts, _ in attack.lines)
    # 150 + 80 reads, 25 night reads and the other bursts.
    assert len(recent) > 280


def test_background_has_about_five_percent_failed_logins() -> None:
    """Check that about 5% of the background events are failed logins."""
    data = datagen.background(
        first_user=0, users=40, events=20_000, days=14, end=1_800_000_000.0, seed=3
    )
    types = [line.split("\t")[1] for _, line in data.lines]
    share = types.count("login_failed") / len(types)
    assert 0.03 < share < 0.07
    assert 15_000 < len(types) < 25_000


def test_background_stays_below_the_rates_whatever_the_hour() -> None:
    """Check that no background user passes moderate_rate's 60 an hour, even
    when the data ends in the middle of working days."""
    # 2027-01-15 is a Friday; users start between 06:00 and 14:00 UTC.
    midnight = 1_800_000_000.0 - 8 * 3600
    for hour in (6.25, 7.5, 9.0, 14.5, 23.0):
        data = datagen.background(
            first_user=0,
            users=20,
            events=70_000,
            days=30,
            end=midnight + hour * 3600,
            seed=5,
        )
        reads: dict[str, list[float]] = {}
        for ts, line in data.lines:
            user, event_type = line.split("\t")[:2]
            if event_type.startswith("customer_data_"):
                reads.setdefault(user, []).append(ts)
        busiest = 0
        for times in reads.values():
            times.sort()
            first = 0
            for last, ts in enumerate(times):
                while ts - times[first] > 3600:
                    first += 1
                busiest = max(busiest, last - first + 1)
        # About 19 an hour on a full day; the rules start at 61.
        assert 10 < busiest <= 60, (hour, busiest)


def test_figure_without_its_sql_is_null_with_a_note() -> None:
    """Check that a figure whose function is missing is null, not estimated."""
    point = {
        "events": 1000,
        "events_last_24h": 100,
        "detect": {"note": "a monitoring function is not installed"},
        "incremental": {"note": "not installed", "new_events": 10},
    }
    figure = run.detect_figure("detect_1m", point, None, "")
    assert figure.pgwarden is None
    assert figure.met is None
    assert "not installed" in figure.note
    figure = run.incremental_figure("incremental_5m", None, point, "")
    assert figure.pgwarden is None
    assert "large" in figure.note


def test_citus_check_flags_unique_index_without_key(db: psycopg.Connection) -> None:
    """Check that the Citus check flags a unique index that lacks the key."""
    import citus_check

    db.execute(
        "CREATE TABLE warden.bench_probe (id bigint PRIMARY KEY, "
        "shard_key text NOT NULL, note text)"
    )
    found = citus_check.check_distributed(db, "bench_probe", "shard_key")
    assert [f["level"] for f in found] == ["blocks"]
    assert "lacks shard_key" in found[0]["what"]
    db.execute("ALTER TABLE warden.bench_probe DROP CONSTRAINT bench_probe_pkey")
    db.execute("ALTER TABLE warden.bench_probe ADD PRIMARY KEY (shard_key, id)")
    assert citus_check.check_distributed(db, "bench_probe", "shard_key") == []


def test_citus_check_reads_the_installed_schema(db: psycopg.Connection) -> None:
    """Check that the Citus check judges the log, alerts and incidents."""
    import citus_check

    result = citus_check.check(db)
    judged = {f["table"] for f in result["findings"]}
    assert {"security_audit_log", "alerts", "incidents"} <= judged
    assert not {"security_audit_log", "alerts"} & set(result["unplaced_tables"])
