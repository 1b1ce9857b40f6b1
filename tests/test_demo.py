"""pgwarden demo: the generated day, a replayed real log, the embedded server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from pgwarden.cli import main

PGWARDEN = str(Path(sys.executable).with_name("pgwarden"))

#: The runbook's incident classes the generated day must show.
EXPECTED_RULES = {
    "failed_login_burst_user",
    "failed_login_burst_ip",
    "compromise_with_data_access",
    "bulk_export",
    "rate_limit",
    "role_violation",
    "privilege_escalation_burst",
    "unusual_access_pattern",
}


def test_demo_on_a_given_database(db, dsn):
    """Check that the demo raises each incident class and renders an alert."""
    result = CliRunner().invoke(main, ["demo", "--dsn", dsn])
    assert result.exit_code == 0, result.output
    rules = {r for (r,) in db.execute("SELECT DISTINCT rule FROM warden.incidents")}
    assert rules >= EXPECTED_RULES
    assert "CRITICAL SECURITY INCIDENT" in result.output
    assert "containment taken" in result.output
    assert "event log verified" in result.output
    locked = db.execute(
        "SELECT count(*) FROM warden.account_locks WHERE user_id = 'u-1022'"
    ).fetchone()[0]
    assert locked >= 1


def test_demo_replays_a_real_auth_log(db, dsn, shared_data):
    """Check that --input replays loghub's sshd log into brute-force incidents."""
    result = CliRunner().invoke(
        main,
        [
            "demo",
            "--dsn",
            dsn,
            "--input",
            str(shared_data / "loghub_OpenSSH_2k.log"),
            "--year",
            "2016",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "login_failed: 532" in result.output
    count = db.execute(
        "SELECT count(*) FROM warden.incidents WHERE rule = 'failed_login_burst_ip'"
    ).fetchone()[0]
    assert count == 10


@pytest.mark.slow
def test_demo_embedded_finishes_in_a_minute_and_leaves_no_server():
    """Check that the embedded demo takes under a minute and leaves no server."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k != "DATABASE_URL" and not k.startswith("PG")
    }
    started = time.monotonic()
    proc = subprocess.run(
        [PGWARDEN, "demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    assert elapsed < 60
    assert "embedded PostgreSQL stopped and removed" in proc.stdout
    # The installer names the server's folder: it must be gone, and no
    # process may still run from it.
    folder = re.search(r" on (\S+) \(\d+ migrations", proc.stdout + proc.stderr)
    assert folder is not None
    assert not Path(folder[1]).exists()
    ps = subprocess.run(
        ["ps", "-eo", "args"], capture_output=True, text=True, check=True
    )
    assert folder[1] not in ps.stdout
