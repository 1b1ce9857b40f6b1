"""A real sshd log: failed_login_burst_ip must flag exactly the expected sources.

The log (loghub OpenSSH_2k) has no year and no time zone: read as 2016, UTC.
A ``message repeated N times: [ Failed ... ]`` line stands for N failures.
"""

from __future__ import annotations

import csv
import re
from datetime import UTC, datetime

from detection_helpers import alerts, check

LINE = re.compile(
    r"^(?P<mon>\w{3}) +(?P<day>\d+) (?P<time>[\d:]{8}) \S+ sshd\[\d+\]: "
    r"(?:message repeated (?P<times>\d+) times: \[ )?"
    r"Failed \S+ for (?P<invalid>invalid user )?(?P<user>\S*) "
    r"from (?P<ip>\S+) port \d+"
)


def read_failures(path):
    """Yield (time, user, attempted user, address) per failed login."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            m = LINE.match(line)
            if not m:
                continue
            at = datetime.strptime(
                f"2016 {m['mon']} {m['day']} {m['time']}", "%Y %b %d %H:%M:%S"
            ).replace(tzinfo=UTC)
            user = None if m["invalid"] else m["user"]
            attempted = m["user"] if m["invalid"] else None
            for _ in range(int(m["times"] or 1)):
                yield at, user, attempted, m["ip"]


def test_loghub_sshd_bruteforce_sources(db, shared_data):
    """Check that exactly the sources marked True hit failed_login_burst_ip."""
    failures = list(read_failures(shared_data / "loghub_OpenSSH_2k.log"))
    with open(shared_data / "expected_bruteforce_loghub_OpenSSH_2k.csv") as f:
        rows = list(csv.DictReader(f))
    expected = {r["source_ip"] for r in rows if r["expect_bruteforce_alert"] == "True"}
    totals = {r["source_ip"]: int(r["failures_total"]) for r in rows}
    seen: dict[str, int] = {}
    for _, _, _, ip in failures:
        seen[ip] = seen.get(ip, 0) + 1
    assert seen == totals

    with (
        db.cursor() as cur,
        cur.copy(
            "COPY warden.security_audit_log (created_at, user_id, metadata,"
            " ip_address, event_type, risk_score, source) FROM STDIN"
        ) as copy,
    ):
        for at, user, attempted, ip in failures:
            meta = f'{{"attempted_user": "{attempted}"}}' if attempted else "{}"
            copy.write_row((at, user, meta, ip, "login_failed", 2, "importer"))

    found = db.execute(
        "SELECT host(ip_address), event_count FROM"
        " warden.monitor_unauthorized_customer_access("
        " '2016-12-10 00:00+00', '2016-12-11 00:00+00')"
        " WHERE rule = 'failed_login_burst_ip'"
    ).fetchall()
    assert {ip for ip, _ in found} == expected
    assert "5.36.59.76" in expected and "60.2.12.12" not in expected
    # The real-time run during the COPY and the scheduled run agree.
    check(db)
    assert {a["ip_address"].exploded for a in alerts(db, "failed_login_burst_ip")} == (
        expected
    )
    assert len(alerts(db, "failed_login_burst_ip")) == len(expected)
