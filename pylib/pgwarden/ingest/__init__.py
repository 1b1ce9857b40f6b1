"""Reading security events out of log files.

One parser module per format; each is pure Python and yields, in file
order, event dicts (the arguments of ``warden.log_event`` plus ``line``
and ``record``) or :class:`~pgwarden.ingest.common.Skipped` records.
:mod:`pgwarden.ingest.load` stores the events.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from pgwarden.ingest import auth_log, csv_events, jsonl, pgaudit, postgres_log
from pgwarden.ingest.common import Event, ParseOptions, Skipped

Parser = Callable[[Iterable[str], ParseOptions], Iterator["Event | Skipped"]]

#: The formats of ``pgwarden ingest --format``.
FORMATS: dict[str, Parser] = {
    "jsonl": jsonl.parse,
    "csv": csv_events.parse,
    "auth-log": auth_log.parse,
    "postgres-log": postgres_log.parse,
    "pgaudit": pgaudit.parse,
}


def parse(
    format_name: str, lines: Iterable[str], options: ParseOptions | None = None
) -> Iterator[Event | Skipped]:
    """Parse ``lines`` in the given format."""
    return FORMATS[format_name](lines, options or ParseOptions())


__all__ = ["FORMATS", "Event", "ParseOptions", "Skipped", "parse"]
