"""``pgwarden migrate``: install, upgrade, roll back and inspect."""

from __future__ import annotations

import click

from pgwarden import install
from pgwarden.cli import dsn_option, handle_errors
from pgwarden.db import require_dsn


@click.group(invoke_without_command=True)
@dsn_option
@click.pass_context
@handle_errors
def migrate(ctx: click.Context, dsn: str | None) -> None:
    """Install or upgrade pgwarden (apply); see also rollback and status."""
    ctx.ensure_object(dict)
    ctx.obj["dsn"] = dsn
    if ctx.invoked_subcommand is None:
        ctx.invoke(apply, dsn=dsn)


def _dsn(ctx: click.Context, dsn: str | None) -> str:
    return require_dsn(dsn or (ctx.obj or {}).get("dsn"))


@migrate.command()
@dsn_option
@click.pass_context
@handle_errors
def apply(ctx: click.Context, dsn: str | None) -> None:
    """Apply pending migrations and reload functions, views and triggers."""
    ids = install.apply(_dsn(ctx, dsn))
    if ids:
        for mid in ids:
            click.echo(f"applied {mid}")
    else:
        click.echo("nothing to apply; functions, views and triggers reloaded")


@migrate.command()
@dsn_option
@click.option(
    "--steps",
    type=click.IntRange(min=1),
    default=None,
    help="Roll back only this many migrations (default: all, which removes pgwarden).",
)
@click.option(
    "--discard-data",
    is_flag=True,
    help="Let --steps drop tables that hold alerts, incidents, locks or other "
    "stored rows (refused otherwise); back them up first.",
)
@click.pass_context
@handle_errors
def rollback(
    ctx: click.Context, dsn: str | None, steps: int | None, discard_data: bool
) -> None:
    """Roll back migrations; with no --steps, remove pgwarden entirely."""
    ids = install.rollback(_dsn(ctx, dsn), steps=steps, discard_data=discard_data)
    for mid in ids:
        click.echo(f"rolled back {mid}")
    if not ids:
        click.echo("nothing to roll back")


@migrate.command()
@dsn_option
@click.pass_context
@handle_errors
def status(ctx: click.Context, dsn: str | None) -> None:
    """List migrations, applied and pending."""
    for entry in install.status(_dsn(ctx, dsn)):
        click.echo(f"{'applied' if entry.applied else 'pending':8} {entry.id}")
