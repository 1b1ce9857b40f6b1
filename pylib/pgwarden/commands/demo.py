"""``pgwarden demo``: install into a database and show pgwarden at work.

With no connection given it starts an embedded PostgreSQL, which it stops
and removes afterwards.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import click
from rich.console import Console
from rich.table import Table

from pgwarden import install
from pgwarden.cli import dsn_option, handle_errors
from pgwarden.db import connect, resolve_dsn
from pgwarden.embedded import embedded_server


@contextlib.contextmanager
def _database(dsn: str | None) -> Iterator[str]:
    resolved = resolve_dsn(dsn)
    if resolved is not None:
        yield resolved
        return
    click.echo("no database given: starting an embedded PostgreSQL")
    with embedded_server() as uri:
        yield uri


@click.command()
@dsn_option
@handle_errors
def demo(dsn: str | None) -> None:
    """Install pgwarden, report a few events and show them."""
    console = Console()
    with _database(dsn) as target:
        install.apply(target)
        with connect(target) as conn:
            for i in range(7):
                conn.execute(
                    "SELECT warden.log_event('login_failed', user_id => %s, "
                    "ip_address => %s, created_at => now() - %s::interval)",
                    ("u-1042", "203.0.113.7", f"{10 - i} minutes"),
                )
            conn.execute(
                "SELECT warden.log_event('customer_data_bulk_export', "
                "user_id => 'u-2001', ip_address => '198.51.100.20', "
                "record_count => 250, table_name => 'customers')"
            )
            rows = conn.execute(
                "SELECT id, created_at, event_type, user_id, ip_address, "
                "risk_score, record_count FROM warden.security_audit_log "
                "ORDER BY id"
            ).fetchall()
        table = Table(title="warden.security_audit_log")
        for name in ("id", "created_at", "event_type", "user_id", "ip_address",
                     "risk", "records"):
            table.add_column(name)
        for row in rows:
            table.add_row(*("" if v is None else str(v) for v in row))
        console.print(table)
