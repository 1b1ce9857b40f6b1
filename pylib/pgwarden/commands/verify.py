"""``pgwarden verify``: check that the event log was not tampered with."""

from __future__ import annotations

import sys

import click
from psycopg.rows import dict_row

from pgwarden.cli import EXIT_PROBLEM, dsn_option, handle_errors
from pgwarden.db import connect, require_dsn
from pgwarden.output import FORMATS, emit

COLUMNS = ("kind", "detail", "first_id", "last_id", "seal_id", "object")


@click.command()
@click.option(
    "--seal",
    is_flag=True,
    help="After a clean verification, seal the events stored since "
    "the last seal (warden.seal_audit_log).",
)
@click.option(
    "--expect-digest",
    metavar="HEX",
    help="A chain digest printed by an earlier run and kept outside the "
    "database; a problem if no seal carries it any more.",
)
@click.option(
    "--output", "fmt", type=click.Choice(FORMATS), default="table", show_default=True
)
@dsn_option
@handle_errors
def verify(seal: bool, expect_digest: str | None, fmt: str, dsn: str | None) -> None:
    """Verify the event log: exit 0 when intact, 1 when a problem is found.

    Runs warden.verify_audit_log(), which reports changed, missing or
    unsealed rows and disabled protections, one row per problem. It
    prints the chain digest of the newest seal: keep it outside the
    database and pass it back with --expect-digest, so that deleting the
    newest seals is seen too.
    """
    with connect(require_dsn(dsn)) as conn:
        with conn.cursor(row_factory=dict_row) as cur:
            problems = cur.execute("SELECT * FROM warden.verify_audit_log()").fetchall()
        if expect_digest:
            kept = conn.execute(
                "SELECT id FROM warden.audit_log_seals "
                "WHERE chain_digest = decode(%s, 'hex')",
                (expect_digest.strip().lower(),),
            ).fetchone()
            if kept is None:
                problems.append(
                    {
                        "kind": "seal_missing",
                        "detail": "no seal carries the expected chain digest "
                        f"{expect_digest}: seals were removed or replaced",
                    }
                )
        sealed = None
        if seal and not problems:
            sealed = conn.execute("SELECT warden.seal_audit_log()").fetchone()[0]
        newest = conn.execute(
            "SELECT id, last_id, encode(chain_digest, 'hex') "
            "FROM warden.audit_log_seals ORDER BY id DESC LIMIT 1"
        ).fetchone()
    if problems:
        emit(problems, COLUMNS, fmt=fmt, title="event log problems")
        click.echo(f"{len(problems)} problems found", err=True)
        sys.exit(EXIT_PROBLEM)
    if fmt == "json" or fmt == "csv":
        emit([], COLUMNS, fmt=fmt)
    else:
        click.echo("event log intact")
    if sealed is not None:
        click.echo(f"sealed {sealed} events", err=fmt != "table")
    if newest is not None:
        click.echo(
            f"newest seal {newest[0]} (events up to id {newest[1]}), chain "
            f"digest {newest[2]}",
            err=fmt != "table",
        )
