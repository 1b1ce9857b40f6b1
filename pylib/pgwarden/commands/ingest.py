"""``pgwarden ingest``: load security events from log files."""

from __future__ import annotations

import gzip
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import click
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

from pgwarden.cli import dsn_option, handle_errors
from pgwarden.db import connect, require_dsn
from pgwarden.errors import ConfigurationError
from pgwarden.ingest import FORMATS, ParseOptions, parse
from pgwarden.ingest.common import get_zone
from pgwarden.ingest.load import BATCH_SIZE, Loader, Summary

#: Line numbers shown per skip reason in the summary.
SHOWN_LINES = 8


def watched_tables(conn, extra: tuple[str, ...]) -> frozenset[str]:
    """Watched tables from warden.table_sensitivity (if any) plus --table."""
    names = set(extra)
    exists = conn.execute(
        "SELECT to_regclass('warden.table_sensitivity') IS NOT NULL"
    ).fetchone()[0]
    if exists:
        names.update(
            name
            for (name,) in conn.execute(
                "SELECT table_name FROM warden.table_sensitivity"
            )
        )
    return frozenset(names)


def _lines(handle: IO[bytes], counter: list[int], progress, task) -> Iterator[str]:
    """Decode the file's lines; bytes that are not UTF-8 stay recognisable.

    Each invalid byte becomes a lone surrogate (``surrogateescape``), so the
    record text, and with it ``metadata.ingest_key``, keeps the original
    bytes apart. The loader replaces the surrogates in stored values with
    U+FFFD and marks the event ``invalid_utf8`` in ``metadata.data_quality``.
    """
    for raw in handle:
        counter[0] += 1
        if progress is not None:
            progress.update(task, advance=len(raw))
        yield raw.decode("utf-8", "surrogateescape")


def ingest_file(
    conn,
    path: str,
    *,
    format_name: str,
    options: ParseOptions,
    summary: Summary,
    batch_size: int = BATCH_SIZE,
    dry_run: bool = False,
    show_progress: bool = False,
) -> None:
    """Parse one file (``-`` for standard input, ``.gz`` read compressed)."""
    label = "<stdin>" if path == "-" else Path(path).name
    loader = Loader(
        conn,
        format_name=format_name,
        file_label=label,
        summary=summary,
        batch_size=batch_size,
        dry_run=dry_run,
    )
    counter = [0]
    if path == "-":
        handle: IO[bytes] = sys.stdin.buffer
    elif path.endswith(".gz"):
        # Rotated logs are often compressed; the progress bar then counts
        # uncompressed bytes against the compressed size, so it stays off.
        handle = gzip.open(path, "rb")  # noqa: SIM115
        show_progress = False
    else:
        handle = open(path, "rb")  # noqa: SIM115
    try:
        progress = None
        task = None
        if show_progress and path != "-":
            progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            task = progress.add_task(label, total=Path(path).stat().st_size)
            progress.start()
        try:
            for item in parse(
                format_name, _lines(handle, counter, progress, task), options
            ):
                loader.add(item)
            loader.flush()
        finally:
            if progress is not None:
                progress.stop()
    finally:
        if path != "-":
            handle.close()
    summary.lines_read += counter[0]


def print_summary(summary: Summary, *, dry_run: bool) -> None:
    """The human summary: counts, then skipped lines by reason."""
    verb = "would store" if dry_run else "stored"
    click.echo(
        f"{summary.lines_read} lines read, {summary.events_parsed} events "
        f"parsed, {summary.events_stored} {verb}, {summary.duplicates} "
        f"already stored, {summary.lines_skipped} lines skipped"
    )
    for kind, count in sorted(summary.stored_by_type.items()):
        click.echo(f"  {kind}: {count}")
    for reason, lines in sorted(
        summary.skipped.items(), key=lambda kv: (-len(kv[1]), kv[0])
    ):
        lines = sorted(lines)
        shown = ", ".join(str(n) for n in lines[:SHOWN_LINES])
        more = (
            f" and {len(lines) - SHOWN_LINES} more" if len(lines) > SHOWN_LINES else ""
        )
        click.echo(f"  skipped {len(lines)} ({reason}): lines {shown}{more}")


@click.command()
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(allow_dash=True, dir_okay=False)
)
@click.option(
    "--format",
    "format_name",
    required=True,
    type=click.Choice(sorted(FORMATS)),
    help="Format of the files.",
)
@click.option(
    "--year",
    type=click.IntRange(1970, 9999),
    help="Year of syslog lines (default: the latest year that puts "
    "no event in the future).",
)
@click.option(
    "--timezone",
    "timezone",
    default="UTC",
    show_default=True,
    help="Zone of local times without offset (IANA name).",
)
@click.option(
    "--table",
    "tables",
    multiple=True,
    help="pgaudit: a table whose reads are customer-data access "
    "(besides the watched tables); repeatable.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(1, 100000),
    default=BATCH_SIZE,
    show_default=True,
    help="Events per COPY statement.",
)
@click.option("--dry-run", is_flag=True, help="Parse and check, store nothing.")
@click.option(
    "--output",
    "output",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Summary format.",
)
@dsn_option
@handle_errors
def ingest(
    files: tuple[str, ...],
    format_name: str,
    year: int | None,
    timezone: str,
    tables: tuple[str, ...],
    batch_size: int,
    dry_run: bool,
    output: str,
    dsn: str | None,
) -> None:
    """Load security events from log FILES (- for standard input).

    Formats: jsonl and csv (the fields of warden.log_event), auth-log
    (Linux auth.log / sshd syslog), postgres-log (stderr, csvlog or jsonlog
    server logs), pgaudit (AUDIT lines). Lines that give no event are
    reported with their reason; ingesting a file again stores nothing twice.
    """
    try:
        get_zone(timezone)
    except ValueError as exc:
        raise ConfigurationError(
            str(exc), hint="give an IANA zone such as Europe/Berlin or UTC"
        ) from exc
    for path in files:
        if path != "-" and not Path(path).is_file():
            raise ConfigurationError(f"no such file: {path}")
    summary = Summary(dry_run=dry_run)
    with connect(require_dsn(dsn)) as conn:
        options = ParseOptions(
            year=year,
            timezone=timezone,
            watched_tables=watched_tables(conn, tables),
        )
        for path in files:
            ingest_file(
                conn,
                path,
                format_name=format_name,
                options=options,
                summary=summary,
                batch_size=batch_size,
                dry_run=dry_run,
                show_progress=sys.stderr.isatty(),
            )
    if output == "json":
        click.echo(json.dumps(summary.as_dict(), indent=2))
    else:
        print_summary(summary, dry_run=dry_run)
