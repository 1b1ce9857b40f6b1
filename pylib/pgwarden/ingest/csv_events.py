"""CSV with a header row naming the arguments of ``log_event``."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator

from pgwarden.ingest.common import Event, ParseOptions, Skipped
from pgwarden.ingest.jsonl import from_mapping


def parse(lines: Iterable[str], options: ParseOptions) -> Iterator[Event | Skipped]:
    """Read CSV events; quoted fields may span lines.

    Empty cells mean "not given". ``metadata`` is a JSON object in a cell.
    """
    buffer: list[str] = []
    start = 0
    header: list[str] | None = None
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r\n")
        if not buffer:
            start = number
        buffer.append(line)
        text = "\n".join(buffer)
        # A record is complete when its quotes balance.
        if text.count('"') % 2:
            continue
        buffer = []
        if not text.strip():
            continue
        try:
            row = next(csv.reader(io.StringIO(text)))
        except csv.Error as exc:
            yield Skipped(start, f"not CSV ({exc})")
            continue
        if header is None:
            # A byte-order mark (spreadsheet exports) is not part of a name.
            header = [name.strip().lstrip("\ufeff") for name in row]
            if "event_type" not in header:
                yield Skipped(start, "header names no event_type column")
                return
            continue
        if len(row) != len(header):
            yield Skipped(
                start, f"{len(row)} fields where the header has {len(header)}"
            )
            continue
        values = {
            name: value for name, value in zip(header, row, strict=True) if value != ""
        }
        yield from_mapping(start, text, values, options)
    if buffer:
        yield Skipped(start, "unterminated quoted field")
