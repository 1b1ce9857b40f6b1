"""``pgwarden detect``: run both monitoring functions over a time range."""

from __future__ import annotations

import re
import sys

import click
from psycopg import sql
from psycopg.rows import dict_row

from pgwarden.cli import EXIT_PROBLEM, dsn_option, handle_errors
from pgwarden.db import connect, require_dsn
from pgwarden.output import FORMATS, emit

MONITORS = {
    "theft": "detect_customer_data_theft_attempts",
    "unauthorized": "monitor_unauthorized_customer_access",
}
COLUMNS = (
    "monitor",
    "rule",
    "severity",
    "risk_score",
    "user_id",
    "ip_address",
    "first_seen",
    "last_seen",
    "event_count",
    "record_count",
    "evidence",
)
_RELATIVE = re.compile(r"^(\d+)\s*(s|m|h|d|w)$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def time_argument(value: str | None) -> tuple[sql.Composable, list[str]]:
    """SQL for a --since/--until value: a timestamp, or '2h' meaning 2 hours ago."""
    if value is None:
        return sql.SQL("NULL::timestamptz"), []
    m = _RELATIVE.match(value.strip())
    if m:
        return sql.SQL("now() - %s::interval"), [f"{m[1]} {_UNITS[m[2]]}"]
    return sql.SQL("%s::timestamptz"), [value]


@click.command()
@click.option(
    "--since",
    help="Start of the range: a timestamp, or an age such "
    "as 2h or 7d (default: 24 hours before --until).",
)
@click.option("--until", help="End of the range (default: now).")
@click.option(
    "--monitor",
    type=click.Choice(["both", *MONITORS]),
    default="both",
    show_default=True,
    help="Which monitoring function to run.",
)
@click.option(
    "--output", "fmt", type=click.Choice(FORMATS), default="table", show_default=True
)
@click.option(
    "--fail-on-findings",
    is_flag=True,
    help="Exit 1 when anything is found (for CI and cron).",
)
@dsn_option
@handle_errors
def detect(
    since: str | None,
    until: str | None,
    monitor: str,
    fmt: str,
    fail_on_findings: bool,
    dsn: str | None,
) -> None:
    """Run the monitoring functions and show their findings (read-only).

    Findings whose last event lies in [since, until]; nothing is stored.
    warden.check_customer_data_access_alerts (pgwarden watch) turns
    findings into alerts.
    """
    since_sql, since_args = time_argument(since)
    until_sql, until_args = time_argument(until)
    names = list(MONITORS) if monitor == "both" else [monitor]
    rows = []
    with connect(require_dsn(dsn)) as conn, conn.cursor(row_factory=dict_row) as cur:
        for name in names:
            query = sql.SQL(
                "SELECT {monitor} AS monitor, f.* FROM warden.{func}({since}, "
                "{until}) AS f ORDER BY f.last_seen, f.rule"
            ).format(
                monitor=sql.Literal(name),
                func=sql.Identifier(MONITORS[name]),
                since=since_sql,
                until=until_sql,
            )
            rows.extend(cur.execute(query, [*since_args, *until_args]).fetchall())
    if fmt == "table":
        for row in rows:
            row["evidence"] = f"{len(row.get('evidence') or [])} events"
        if not rows:
            click.echo("no findings")
            sys.exit(0)
    emit(rows, COLUMNS, fmt=fmt, title="findings")
    if fail_on_findings and rows:
        sys.exit(EXIT_PROBLEM)
