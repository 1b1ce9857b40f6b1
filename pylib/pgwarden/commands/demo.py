"""``pgwarden demo``: pgwarden at work on a day of traffic, in under a minute.

With no connection given it starts an embedded PostgreSQL, which it stops
and removes afterwards. It installs pgwarden, creates and watches a sample
``public.customers`` table, replays a day of application traffic for a few
dozen users with the runbook's incident classes mixed in, runs detection
and shows the incidents by severity with their deadlines, the containment
taken and the rendered critical alert. ``--input FILE --format auth-log``
replays a real log instead of the generated day.

Each step checks that the SQL it needs is installed and says so when it is
not, so the demo also shows what an incomplete installation lacks.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import random
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import click
import psycopg
from psycopg.rows import dict_row
from rich.console import Console
from rich.panel import Panel

from pgwarden import install
from pgwarden.cli import dsn_option, handle_errors
from pgwarden.db import connect, resolve_dsn
from pgwarden.embedded import embedded_server
from pgwarden.ingest import FORMATS, ParseOptions
from pgwarden.ingest.load import Summary
from pgwarden.output import emit, make_console

UTC = dt.timezone.utc
TABLE = "public.customers"

#: Users of the generated day: (id, application role, home network).
ROLES = {"support": 20, "analyst": 10, "manager": 4}


@dataclass
class Event:
    """One generated application event (arguments of warden.log_event)."""

    at: dt.datetime
    event_type: str
    user_id: str | None
    ip_address: str | None = None
    record_count: int | None = None
    table_name: str | None = None
    metadata: dict[str, Any] | None = None


@contextlib.contextmanager
def _database(dsn: str | None, console: Console) -> Iterator[str]:
    resolved = resolve_dsn(dsn)
    if resolved is not None:
        yield resolved
        return
    console.print("no database given: starting an embedded PostgreSQL")
    with warnings.catch_warnings():
        # pgserver warns about XDG_RUNTIME_DIR on servers without a session.
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        stack = contextlib.ExitStack()
        uri = stack.enter_context(embedded_server())
    with stack:
        yield uri
    console.print("embedded PostgreSQL stopped and removed")


def _has(conn: psycopg.Connection, signature: str) -> bool:
    """True when a function (regprocedure text) or relation exists."""
    if "(" in signature:
        sql = "SELECT to_regprocedure(%s) IS NOT NULL"
    else:
        sql = "SELECT to_regclass(%s) IS NOT NULL"
    return bool(conn.execute(sql, (signature,)).fetchone()[0])


def _missing(console: Console, what: str) -> None:
    console.print(f"[yellow]skipped: {what} is not installed in this database")


# -- the generated day ---------------------------------------------------
def users() -> list[tuple[str, str, str]]:
    """The application users: id, role and home address."""
    result = []
    number = 1000
    for role, count in ROLES.items():
        for i in range(count):
            number += 1
            result.append((f"u-{number}", role, f"10.{20 + i}.{number % 200}.17"))
    return result


def generated_day(now: dt.datetime, seed: int) -> list[Event]:
    """A realistic day of traffic with the runbook's incident classes.

    Ordinary users log in from their own network during business hours,
    read a few customers at a time and analysts export small batches.
    Mixed in: a brute force against one account, a compromised account
    that then exports in bulk, a scraper hitting the rate limit, a support
    user exporting (outside its role), a privilege-escalation burst, a
    support user opening a high-value customer, and off-hours access by a
    user whose baseline is office hours.
    """
    rng = random.Random(seed)  # noqa: S311 - demo data, not security
    start = now - dt.timedelta(hours=24)
    events: list[Event] = []

    def at(hours_ago: float) -> dt.datetime:
        return now - dt.timedelta(hours=hours_ago)

    for user, role, address in users():
        # A working day ending a few hours ago, clipped to the last 24 h.
        begin = start + dt.timedelta(hours=rng.uniform(1, 4))
        events.append(Event(begin, "login_success", user, address))
        reads = rng.randint(4, 20)
        for _ in range(reads):
            moment = begin + dt.timedelta(minutes=rng.uniform(5, 420))
            events.append(
                Event(
                    min(moment, now),
                    "customer_data_access",
                    user,
                    address,
                    rng.randint(1, 4),
                    TABLE,
                    {"customer_id": f"c-{rng.randint(100, 999)}"},
                )
            )
        if role == "analyst" and rng.random() < 0.6:
            moment = begin + dt.timedelta(minutes=rng.uniform(60, 400))
            events.append(
                Event(
                    min(moment, now),
                    "customer_data_bulk_export",
                    user,
                    address,
                    rng.randint(5, 30),
                    TABLE,
                    {"format": "csv"},
                )
            )
        events.append(
            Event(min(begin + dt.timedelta(minutes=430), now), "logout", user, address)
        )

    # Brute force: one address guessing one account's password.
    for i in range(9):
        events.append(
            Event(
                at(20 - i / 60),
                "login_failed",
                "u-1003",
                "203.0.113.66",
                metadata={"user_agent": "hydra"},
            )
        )
    # A compromised account: guessed, signed in, then a bulk export.
    for i in range(7):
        events.append(Event(at(6 - i / 60), "login_failed", "u-1022", "198.51.100.23"))
    events.append(Event(at(5.8), "login_success", "u-1022", "198.51.100.23"))
    events.append(
        Event(at(5.75), "customer_data_access", "u-1022", "198.51.100.23", 40, TABLE)
    )
    events.append(
        Event(
            at(5.7),
            "customer_data_bulk_export",
            "u-1022",
            "198.51.100.23",
            2400,
            TABLE,
            {"format": "csv"},
        )
    )
    # Rate abuse: a script reading customers one by one.
    for i in range(130):
        events.append(
            Event(
                at(9 - i / 200),
                "customer_data_access",
                "u-1005",
                "10.24.5.17",
                1,
                TABLE,
                {"client": "python-requests"},
            )
        )
    # Role violation: a support user exports, which support may not do.
    events.append(
        Event(at(11), "customer_data_bulk_export", "u-1010", "10.29.10.17", 12, TABLE)
    )
    # High-value customer opened by a user without clearance.
    events.append(
        Event(
            at(10.5),
            "customer_data_access",
            "u-1012",
            "10.31.12.17",
            1,
            TABLE,
            {"customer_id": "c-0007"},
        )
    )
    # Privilege-escalation burst.
    for i in range(3):
        events.append(
            Event(
                at(3 - i / 30),
                "privilege_escalation_attempt",
                "u-1015",
                "10.34.15.17",
                metadata={"statement": "SET ROLE warden_admin"},
            )
        )
    # Off-hours access: a user whose 10-day baseline is office hours.
    off_user, off_address = "u-1031", "10.20.31.17"
    for day in range(2, 12):
        for hour in (9, 11, 14, 16):
            moment = (now - dt.timedelta(days=day)).replace(
                hour=hour, minute=rng.randint(0, 59)
            )
            events.append(
                Event(moment, "customer_data_access", off_user, off_address, 2, TABLE)
            )
    night = now.replace(hour=3, minute=12, second=0, microsecond=0)
    if night > now:
        night -= dt.timedelta(days=1)
    for i in range(3):
        events.append(
            Event(
                night + dt.timedelta(minutes=i),
                "customer_data_access",
                off_user,
                off_address,
                3,
                TABLE,
            )
        )
    events.sort(key=lambda e: e.at)
    return [e for e in events if e.at <= now]


def set_up_application(conn: psycopg.Connection, console: Console) -> None:
    """Create, fill and watch the sample table; describe the app's roles."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS public.customers ("
        "id text PRIMARY KEY, name text NOT NULL, email text NOT NULL, "
        "tier text NOT NULL DEFAULT 'standard')"
    )
    conn.execute(
        "INSERT INTO public.customers (id, name, email, tier) "
        "SELECT 'c-' || lpad(g::text, 4, '0'), 'Customer ' || g, "
        "'customer' || g || '@example.com', "
        "CASE WHEN g % 50 = 7 THEN 'vip' ELSE 'standard' END "
        "FROM generate_series(1, 1000) AS g ON CONFLICT DO NOTHING"
    )
    if _has(conn, "warden.watch_table(regclass,text)"):
        conn.execute("SELECT warden.watch_table('public.customers', 'normal')")
        console.print(f"watching {TABLE}: changes to it are recorded as events")
    else:
        _missing(console, "warden.watch_table")
    if _has(conn, "warden.app_roles"):
        conn.execute(
            "INSERT INTO warden.app_roles (app_role, high_value_clearance) "
            "VALUES ('support', false), ('analyst', false), ('manager', true) "
            "ON CONFLICT DO NOTHING"
        )
        conn.execute(
            "INSERT INTO warden.app_role_permissions (app_role, table_name, "
            "actions) VALUES ('support', %(t)s, '{read}'), "
            "('analyst', %(t)s, '{read,export}'), ('manager', '*', '{*}') "
            "ON CONFLICT DO NOTHING",
            {"t": TABLE},
        )
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO warden.app_user_roles (user_id, app_role) "
                "VALUES (%s, %s) ON CONFLICT DO NOTHING",
                [(user, role) for user, role, _ in users()],
            )
        conn.execute(
            "INSERT INTO warden.high_value_customers (customer_id, note) "
            "VALUES ('c-0007', 'board member') ON CONFLICT DO NOTHING"
        )
    else:
        _missing(console, "warden.app_roles (role rules)")
    # The application changes a few customers; the watch records it.
    conn.execute("SELECT set_config('app.user_id', 'u-1033', false)")
    conn.execute(
        "UPDATE public.customers SET tier = 'gold' WHERE id IN ('c-0101', 'c-0102')"
    )
    conn.execute("RESET app.user_id")


def replay(conn: psycopg.Connection, events: list[Event]) -> int:
    """Report the events through warden.log_event, in time order."""
    with conn.cursor() as cur:
        cur.executemany(
            "SELECT warden.log_event(%s, user_id => %s, ip_address => %s, "
            "record_count => %s, table_name => %s, metadata => %s, "
            "created_at => %s)",
            [
                (
                    e.event_type,
                    e.user_id,
                    e.ip_address,
                    e.record_count,
                    e.table_name,
                    psycopg.types.json.Jsonb(e.metadata or {}),
                    e.at,
                )
                for e in events
            ],
        )
    return len(events)


def replay_file(
    conn: psycopg.Connection,
    path: str,
    fmt: str,
    year: int | None,
    timezone: str,
    console: Console,
) -> None:
    """Load a real log with the importer of pgwarden ingest."""
    from pgwarden.commands.ingest import ingest_file, print_summary

    summary = Summary()
    ingest_file(
        conn,
        path,
        format_name=fmt,
        options=ParseOptions(year=year, timezone=timezone),
        summary=summary,
    )
    print_summary(summary, dry_run=False)
    console.print()


# -- showing the outcome ------------------------------------------------
def show_outcome(conn: psycopg.Connection, console: Console) -> None:
    """Detection, incidents by severity, containment, the critical alert."""
    if not _has(conn, "warden.check_customer_data_access_alerts()"):
        _missing(console, "warden.check_customer_data_access_alerts")
        return
    with conn.cursor(row_factory=dict_row) as cur:
        alerts = cur.execute(
            "SELECT rule, severity, count(*) AS alerts "
            "FROM warden.check_customer_data_access_alerts() GROUP BY 1, 2"
        ).fetchall()
        total = cur.execute(
            "SELECT rule, severity, count(*) AS alerts, "
            "string_agg(DISTINCT coalesce(user_id, host(ip_address)), ', ') "
            "AS subjects FROM warden.alerts GROUP BY 1, 2 ORDER BY "
            "CASE severity WHEN 'critical' THEN 1 WHEN 'high' THEN 2 "
            "WHEN 'medium' THEN 3 ELSE 4 END, rule"
        ).fetchall()
    console.print(
        f"detection run: {sum(a['alerts'] for a in alerts)} alerts "
        "created or extended (real-time rules raised others while "
        "the events were stored)"
    )
    emit(
        total,
        ("severity", "rule", "alerts", "subjects"),
        title="alerts by rule",
        console=console,
        nowrap=("rule",),
    )

    if _has(conn, "warden.open_incidents"):
        with conn.cursor(row_factory=dict_row) as cur:
            incidents = cur.execute(
                "SELECT reference, severity, rule, coalesce(user_id, subject) "
                "AS who, status, due_at, time_left, escalation_level "
                "FROM warden.open_incidents ORDER BY CASE severity "
                "WHEN 'critical' THEN 1 WHEN 'high' THEN 2 WHEN 'medium' "
                "THEN 3 ELSE 4 END, due_at"
            ).fetchall()
        for row in incidents:
            left = row["time_left"]
            row["left"] = "" if left is None else str(left).split(".")[0]
            row["due"] = row["due_at"].astimezone(UTC).strftime("%d %b %H:%M")
        emit(
            incidents,
            ("reference", "severity", "rule", "who", "due", "left"),
            title="open incidents by severity; deadlines in UTC",
            console=console,
            nowrap=("reference", "rule", "due"),
        )
    else:
        _missing(console, "warden.open_incidents")

    show_containment(conn, console)

    if _has(conn, "warden.render_critical_alert(bigint)"):
        row = conn.execute(
            "SELECT id FROM warden.incidents WHERE severity = 'critical' "
            "ORDER BY detected_at, id LIMIT 1"
        ).fetchone()
        if row:
            text = conn.execute(
                "SELECT warden.render_critical_alert(%s)", (row[0],)
            ).fetchone()[0]
            console.print(Panel(text, title="rendered critical alert", expand=False))
    else:
        _missing(console, "warden.render_critical_alert")
    if _has(conn, "warden.notification_outbox"):
        queued = conn.execute(
            "SELECT channel, count(*) FROM warden.notification_outbox "
            "GROUP BY 1 ORDER BY 1"
        ).fetchall()
        text = ", ".join(f"{n} {channel}" for channel, n in queued) or "none"
        console.print(f"notifications queued for pgwarden watch: {text}")
    show_integrity(conn, console)


def show_integrity(conn: psycopg.Connection, console: Console) -> None:
    """Seal the log and verify it, as ``pgwarden verify --seal`` does."""
    if not _has(conn, "warden.verify_audit_log()"):
        _missing(console, "warden.verify_audit_log")
        return
    if _has(conn, "warden.seal_audit_log(interval)"):
        conn.execute("SELECT warden.seal_audit_log()")
    problems = conn.execute("SELECT kind FROM warden.verify_audit_log()").fetchall()
    events = conn.execute("SELECT count(*) FROM warden.security_audit_log").fetchone()[
        0
    ]
    if problems:
        kinds = ", ".join(sorted({k for (k,) in problems}))
        console.print(f"[red]event log verification found problems: {kinds}")
    else:
        console.print(f"event log verified: {events} events, append-only and intact")


def show_containment(conn: psycopg.Connection, console: Console) -> None:
    """The locks, blocks and revocations the rules applied."""
    rows: list[dict[str, Any]] = []
    if _has(conn, "warden.account_locks"):
        with conn.cursor(row_factory=dict_row) as cur:
            rows += cur.execute(
                "SELECT kind AS action, user_id AS target, reason, "
                "expires_at FROM warden.account_locks WHERE lifted_at IS NULL"
            ).fetchall()
            rows += cur.execute(
                "SELECT 'block' AS action, host(network) AS target, reason, "
                "expires_at FROM warden.ip_blocks WHERE lifted_at IS NULL"
            ).fetchall()
            if _has(conn, "warden.session_revocations"):
                rows += cur.execute(
                    "SELECT 'revoke sessions' AS action, user_id AS target, "
                    "reason, NULL::timestamptz AS expires_at "
                    "FROM warden.session_revocations"
                ).fetchall()
        for row in rows:
            if row["expires_at"] is not None:
                row["expires_at"] = (
                    row["expires_at"].astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
                )
            else:
                row["expires_at"] = "until lifted"
        emit(
            rows,
            ("action", "target", "reason", "expires_at"),
            title="containment taken",
            console=console,
        )
    else:
        _missing(console, "containment (warden.account_locks)")


@click.command()
@click.option(
    "--input",
    "input_path",
    type=click.Path(exists=True, dir_okay=False),
    help="Replay this log instead of a generated day.",
)
@click.option(
    "--format",
    "format_name",
    type=click.Choice(sorted(FORMATS)),
    default="auth-log",
    show_default=True,
    help="Format of --input.",
)
@click.option("--year", type=int, help="Year of the --input syslog lines.")
@click.option(
    "--timezone", default="UTC", show_default=True, help="Zone of --input local times."
)
@click.option(
    "--seed",
    type=int,
    default=7,
    show_default=True,
    help="Seed of the generated traffic.",
)
@dsn_option
@handle_errors
def demo(
    input_path: str | None,
    format_name: str,
    year: int | None,
    timezone: str,
    seed: int,
    dsn: str | None,
) -> None:
    """Show pgwarden at work on a day of traffic (embedded server by default).

    With no --dsn, DATABASE_URL or PG* variables it starts its own
    PostgreSQL and removes it afterwards; otherwise it installs pgwarden
    into the given database and creates public.customers there.
    """
    console = make_console()
    started = time.monotonic()
    with _database(dsn, console) as target:
        install.apply(target)
        with connect(target) as conn:
            if input_path:
                console.print(f"replaying {input_path} ({format_name})")
                replay_file(conn, input_path, format_name, year, timezone, console)
            else:
                set_up_application(conn, console)
                now = conn.execute("SELECT now()").fetchone()[0]
                events = generated_day(now, seed)
                count = replay(conn, events)
                console.print(
                    f"replayed {count} events of {len(users())} users over the "
                    "last 24 hours (and a baseline for one of them)"
                )
            show_outcome(conn, console)
    console.print(f"demo finished in {time.monotonic() - started:.1f} s")
