"""Small helpers shared by the detection tests: report events, read findings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg

#: Event time of the scenarios: in the past, so that locks placed "now" by
#: the responses never overlap the events (suspicious_activity stays quiet).
T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
SINCE = T0 - timedelta(days=2)
UNTIL = T0 + timedelta(days=3)

FINDINGS = """
SELECT * FROM warden.detect_customer_data_theft_attempts(%(s)s, %(u)s)
UNION ALL
SELECT * FROM warden.monitor_unauthorized_customer_access(%(s)s, %(u)s)
"""


def log(db: psycopg.Connection, event_type: str, at: datetime, **kw) -> int:
    """Report one event through warden.log_event; return its id."""
    names = ", ".join(f"{k} => %({k})s" for k in kw)
    args = {**kw, "created_at": at}
    query = (
        f"SELECT warden.log_event(%(event_type)s, {names}"
        f"{', ' if names else ''}created_at => %(created_at)s)"
    )
    return db.execute(query, {"event_type": event_type, **args}).fetchone()[0]


def findings(
    db: psycopg.Connection,
    rule: str | None = None,
    since: datetime = SINCE,
    until: datetime = UNTIL,
) -> list[dict]:
    """Return the findings of both monitoring functions, of one rule."""
    cur = db.execute(FINDINGS, {"s": since, "u": until})
    names = [c.name for c in cur.description]
    rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    return [r for r in rows if rule is None or r["rule"] == rule]


def alerts(db: psycopg.Connection, rule: str | None = None) -> list[dict]:
    """Return the stored alerts, of one rule, in id order."""
    cur = db.execute(
        "SELECT * FROM warden.alerts WHERE %(r)s::text IS NULL OR rule = %(r)s"
        " ORDER BY id",
        {"r": rule},
    )
    names = [c.name for c in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def check(db: psycopg.Connection) -> list[dict]:
    """Run the scheduled check; return the alerts it created or extended."""
    cur = db.execute("SELECT * FROM warden.check_customer_data_access_alerts()")
    names = [c.name for c in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
