"""The ``pgwarden`` command line.

Each command lives in its own module under :mod:`pgwarden.commands`; this
module holds the group, the shared options and the one place where errors
become a single line and an exit code.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click
import psycopg

from pgwarden import __version__
from pgwarden.errors import PgwardenError, from_database

F = TypeVar("F", bound=Callable[..., Any])

#: Exit codes: 0 success; 1 the command found a problem (verify, test-rules);
#: 2 usage error (click); 3 pgwarden or database error.
EXIT_PROBLEM = 1
EXIT_ERROR = 3

dsn_option = click.option(
    "--dsn",
    envvar="DATABASE_URL",
    show_envvar=True,
    help="libpq connection string or URI; else DATABASE_URL, else the libpq "
    "PG* variables.",
)


def handle_errors(func: F) -> F:
    """Show pgwarden and database errors as one line, exit non-zero."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        verbose = bool(ctx.find_root().params.get("verbose"))
        try:
            return func(*args, **kwargs)
        except PgwardenError as exc:
            if verbose:
                logging.getLogger(__name__).exception("command failed")
            click.echo(f"pgwarden: error: {exc.one_line()}", err=True)
            if verbose and exc.detail:
                click.echo(f"  detail: {exc.detail}", err=True)
            sys.exit(EXIT_ERROR)
        except psycopg.Error as exc:
            if verbose:
                logging.getLogger(__name__).exception("command failed")
            err = from_database(exc)
            click.echo(f"pgwarden: error: {err.one_line()}", err=True)
            if verbose and err.detail:
                click.echo(f"  detail: {err.detail}", err=True)
            sys.exit(EXIT_ERROR)

    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pgwarden")
@click.option("-v", "--verbose", is_flag=True, help="Show debug output and tracebacks.")
def main(verbose: bool) -> None:
    """pgwarden: detect customer-data theft and unauthorized access in
    PostgreSQL."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s" if verbose else "%(message)s",
    )
    if not verbose:
        logging.getLogger("yoyo").setLevel(logging.WARNING)
        logging.getLogger("pgserver").setLevel(logging.WARNING)


def _register() -> None:
    from pgwarden.commands import (
        demo,
        detect,
        incidents,
        ingest,
        migrate,
        test_rules,
        verify,
        watch,
    )

    main.add_command(migrate.migrate)
    main.add_command(demo.demo)
    main.add_command(test_rules.test_rules)
    main.add_command(ingest.ingest)
    main.add_command(watch.watch)
    main.add_command(detect.detect)
    main.add_command(incidents.incidents)
    main.add_command(verify.verify)


_register()
