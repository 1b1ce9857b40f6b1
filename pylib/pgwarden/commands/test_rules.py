"""``pgwarden test-rules``: run scenario files against a real PostgreSQL.

Each scenario runs in a fresh database cloned from a template with
pgwarden installed, on an embedded server that is started and removed
(the default) or on the server given with ``--dsn``, where the databases
are named ``pgwarden_scenario_*`` and dropped afterwards.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import click

from pgwarden import scenarios
from pgwarden.cli import EXIT_PROBLEM, dsn_option, handle_errors
from pgwarden.db import describe, resolve_dsn
from pgwarden.embedded import embedded_server


@contextlib.contextmanager
def _server(dsn: str | None) -> Iterator[str]:
    resolved = resolve_dsn(dsn)
    if resolved is not None:
        click.echo(f"running on {describe(resolved)} (throwaway databases)")
        yield resolved
        return
    click.echo("no database given: starting an embedded PostgreSQL")
    with embedded_server() as uri:
        yield uri


@click.command("test-rules")
@dsn_option
@click.option(
    "-k",
    "--match",
    "pattern",
    metavar="TEXT",
    help="Run only scenarios whose name contains TEXT.",
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Run this many scenarios at once, each in its own database.",
)
@click.option(
    "--keep-failed",
    is_flag=True,
    help="Keep the database of each scenario that does not pass, and print "
    "its name (only with --dsn; an embedded server is removed anyway).",
)
@click.option(
    "--template",
    metavar="DBNAME",
    help="Clone this database of the server (pgwarden installed, nobody "
    "connected) for each scenario instead of installing pgwarden afresh; "
    "for example a copy of production's tuned rules.",
)
@click.argument(
    "paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=True)
)
@handle_errors
def test_rules(
    dsn: str | None,
    pattern: str | None,
    jobs: int,
    keep_failed: bool,
    template: str | None,
    paths: tuple[str, ...],
) -> None:
    """Run the rule scenarios in PATHS (files, or folders of *scenario*.yaml).

    Prints one line per scenario, and for each failure what was expected
    and what was found. Exits with 1 when a scenario fails or a file is
    invalid.
    """
    if not click.get_current_context().find_root().params.get("verbose"):
        # One line per scenario: the template's installation is no news.
        logging.getLogger("pgwarden.install").setLevel(logging.WARNING)
    files = scenarios.find_files(paths)
    loaded: list[scenarios.Scenario] = []
    invalid = 0
    for path in files:
        try:
            loaded.extend(scenarios.load_file(path))
        except scenarios.ScenarioError as exc:
            invalid += 1
            click.echo(f"INVALID {exc.one_line()}")
    if pattern:
        loaded = [s for s in loaded if pattern.lower() in s.name.lower()]
    if not files:
        click.echo("no scenario files found (files named *scenario*.yaml)")
        sys.exit(EXIT_PROBLEM)
    results: list[scenarios.ScenarioResult] = []
    if loaded:
        with (
            _server(dsn) as server,
            scenarios.ThrowawayDatabases(server, template=template) as pool,
        ):
            executor = ThreadPoolExecutor(max_workers=jobs)
            try:
                # map keeps the order of the files, whatever ends first.
                for result in executor.map(
                    lambda s: pool.run(s, keep_failed=keep_failed), loaded
                ):
                    results.append(result)
                    click.echo(
                        result.report() if not result.passed else result.headline()
                    )
                    if result.database in pool.kept:
                        click.echo(f"      kept database {result.database}")
            finally:
                # On an error or Ctrl-C, start no further scenario; the
                # running ones end and drop their databases.
                executor.shutdown(wait=True, cancel_futures=True)
    passed = sum(r.passed for r in results)
    failed = len(results) - passed
    summary = f"{passed} passed, {failed} failed"
    if invalid:
        summary += f", {invalid} invalid file{'s' if invalid > 1 else ''}"
    click.echo(summary)
    if failed or invalid or not results:
        sys.exit(EXIT_PROBLEM)
