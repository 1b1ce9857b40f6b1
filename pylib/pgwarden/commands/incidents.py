"""``pgwarden incidents``: list, show, acknowledge, resolve and report."""

from __future__ import annotations

import json

import click
from psycopg.rows import dict_row

from pgwarden.cli import dsn_option, handle_errors
from pgwarden.db import connect, require_dsn
from pgwarden.errors import PgwardenError
from pgwarden.output import FORMATS, emit, plain

LIST_COLUMNS = (
    "reference",
    "severity",
    "status",
    "rule",
    "user_id",
    "detected_at",
    "due_at",
    "time_left",
    "overdue",
    "escalation_level",
    "alert_count",
)
ALL_COLUMNS = (
    "reference",
    "severity",
    "status",
    "rule",
    "user_id",
    "detected_at",
    "due_at",
    "escalation_level",
    "acknowledged_by",
    "resolved_at",
)
TIMELINE_COLUMNS = (
    "occurred_at",
    "action",
    "actor",
    "from_status",
    "to_status",
    "note",
)


def incident_id(conn, ident: str) -> int:
    """Resolve an incident id or reference (INC-000042) to its id."""
    row = conn.execute(
        "SELECT id FROM warden.incidents WHERE reference = upper(%s) OR id::text = %s",
        (ident, ident.lstrip("#")),
    ).fetchone()
    if row is None:
        raise PgwardenError(
            f"no incident {ident}",
            sqlstate="P0002",
            hint="pgwarden incidents list --all shows them",
        )
    return row[0]


@click.group()
def incidents() -> None:
    """Work with incidents: list, show, ack, resolve, report."""


@incidents.command("list")
@click.option(
    "--all",
    "show_all",
    is_flag=True,
    help="Include resolved and false-positive incidents.",
)
@click.option("--severity", type=click.Choice(["critical", "high", "medium", "low"]))
@click.option("--status", help="Only incidents in this status.")
@click.option(
    "--output", "fmt", type=click.Choice(FORMATS), default="table", show_default=True
)
@dsn_option
@handle_errors
def list_incidents(
    show_all: bool, severity: str | None, status: str | None, fmt: str, dsn: str | None
) -> None:
    """List open incidents, overdue and most severe first."""
    source = "warden.incidents" if show_all else "warden.open_incidents"
    columns = ALL_COLUMNS if show_all else LIST_COLUMNS
    with connect(require_dsn(dsn)) as conn, conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            f"SELECT * FROM {source} "  # noqa: S608
            "WHERE (%(sev)s::text IS NULL OR severity = %(sev)s) "
            "AND (%(st)s::text IS NULL OR status = %(st)s) "
            "ORDER BY CASE severity WHEN 'critical' THEN 1 WHEN 'high' THEN 2 "
            "WHEN 'medium' THEN 3 ELSE 4 END, due_at",
            {"sev": severity, "st": status},
        ).fetchall()
    if not rows and fmt == "table":
        click.echo("no incidents")
        return
    emit(rows, columns, fmt=fmt, title="incidents")


@incidents.command()
@click.argument("ident")
@click.option(
    "--output",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
)
@dsn_option
@handle_errors
def show(ident: str, fmt: str, dsn: str | None) -> None:
    """Show one incident (id or reference) with its timeline."""
    with connect(require_dsn(dsn)) as conn:
        iid = incident_id(conn, ident)
        with conn.cursor(row_factory=dict_row) as cur:
            incident = cur.execute(
                "SELECT * FROM warden.incidents WHERE id = %s", (iid,)
            ).fetchone()
            timeline = cur.execute(
                "SELECT * FROM warden.incident_timeline "
                "WHERE incident_id = %s ORDER BY id",
                (iid,),
            ).fetchall()
    if fmt == "json":
        click.echo(json.dumps(plain({**incident, "timeline": timeline}), indent=2))
        return
    for name, value in incident.items():
        if value is not None:
            click.echo(f"{name:>18}: {plain(value)}")
    emit(timeline, TIMELINE_COLUMNS, title="timeline")


@incidents.command()
@click.argument("ident")
@click.option("--note", help="Why, or what was checked.")
@dsn_option
@handle_errors
def ack(ident: str, note: str | None, dsn: str | None) -> None:
    """Acknowledge an incident (stops its escalation)."""
    with connect(require_dsn(dsn)) as conn:
        iid = incident_id(conn, ident)
        ref, status = conn.execute(
            "SELECT reference, status FROM warden.acknowledge_incident(%s, %s)",
            (iid, note),
        ).fetchone()
    click.echo(f"{ref} {status}")


@incidents.command()
@click.argument("ident")
@click.option("--resolution", required=True, help="How it was resolved.")
@click.option(
    "--false-positive",
    is_flag=True,
    help="Resolve as a false positive; lifts the locks and blocks it caused.",
)
@dsn_option
@handle_errors
def resolve(ident: str, resolution: str, false_positive: bool, dsn: str | None) -> None:
    """Resolve an incident."""
    with connect(require_dsn(dsn)) as conn:
        iid = incident_id(conn, ident)
        ref, status = conn.execute(
            "SELECT reference, status FROM warden.resolve_incident(%s, %s, %s)",
            (iid, resolution, false_positive),
        ).fetchone()
    click.echo(f"{ref} {status}")


@incidents.command()
@click.argument("ident")
@click.option(
    "--output",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
)
@dsn_option
@handle_errors
def report(ident: str, fmt: str, dsn: str | None) -> None:
    """Print the incident report (evidence, timeline, containment)."""
    with connect(require_dsn(dsn)) as conn:
        iid = incident_id(conn, ident)
        text, details = conn.execute(
            "SELECT report, details FROM warden.incident_report(%s)", (iid,)
        ).fetchone()
    if fmt == "json":
        click.echo(json.dumps(details, indent=2))
    else:
        click.echo(text)


@incidents.command()
@click.argument("ident")
@click.option(
    "--user-notification",
    is_flag=True,
    help="Render the message to the affected user instead of the critical alert.",
)
@dsn_option
@handle_errors
def render(ident: str, user_notification: bool, dsn: str | None) -> None:
    """Render the runbook's critical alert (or user notification)."""
    func = "render_user_notification" if user_notification else "render_critical_alert"
    with connect(require_dsn(dsn)) as conn:
        iid = incident_id(conn, ident)
        text = conn.execute(
            f"SELECT warden.{func}(%s)",
            (iid,),
        ).fetchone()[0]
    click.echo(text)
