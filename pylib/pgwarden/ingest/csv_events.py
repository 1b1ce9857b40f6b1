"""CSV with a header row naming the arguments of ``log_event``."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator

from pgwarden.ingest.common import (
    MAX_RECORD_LINES,
    Event,
    Lines,
    ParseOptions,
    Skipped,
)
from pgwarden.ingest.jsonl import from_mapping


def ends_in_quotes(line: str, in_quotes: bool) -> bool:
    """True when a quoted field is still open at the end of ``line``.

    Follows the csv module's reading (double quotes escape a quote; a
    quote inside an unquoted field is an ordinary character). ``in_quotes``
    says whether the line continues a quoted field of the line before.
    """
    if '"' not in line:
        return in_quotes
    state = "quoted" if in_quotes else "start"
    for char in line:
        if state == "quoted":
            if char == '"':
                state = "quote_in_quoted"
        elif state == "quote_in_quoted":
            state = {'"': "quoted", ",": "start"}.get(char, "field")
        elif char in ",\r":
            state = "start"
        elif state == "start" and char == '"':
            state = "quoted"
        else:
            state = "field"
    return state == "quoted"


def parse(lines: Iterable[str], options: ParseOptions) -> Iterator[Event | Skipped]:
    """Read CSV events; quoted fields may span lines.

    Empty cells mean "not given". ``metadata`` is a JSON object in a cell.
    A record spanning lines that is not a well-formed row of the header's
    width giving an event is taken for a stray quote: its first line is
    reported and the lines after it are read again.
    """
    source = Lines(lines)
    header: list[str] | None = None
    for first in source:
        start = first[0]
        record = [first]
        open_quote = ends_in_quotes(first[1], False)
        while open_quote and len(record) < MAX_RECORD_LINES:
            line = next(source, None)
            if line is None:
                break
            record.append(line)
            open_quote = ends_in_quotes(line[1], True)
        if open_quote:
            where = (
                "at the end of the file"
                if len(record) < MAX_RECORD_LINES
                else f"within {MAX_RECORD_LINES} lines"
            )
            yield Skipped(start, f"quoted field not closed {where}")
            source.give_back(record[1:])
            continue
        text = "\n".join(line for _, line in record)
        if not text.strip():
            continue
        multiline = len(record) > 1
        try:
            row = next(csv.reader(io.StringIO(text), strict=multiline))
        except csv.Error as exc:
            row = None
            problem = f"not CSV ({exc})"
        if row is not None and header is None:
            # A byte-order mark (spreadsheet exports) is not part of a name.
            header = [name.strip().lstrip("\ufeff") for name in row]
            if "event_type" not in header:
                yield Skipped(start, "header names no event_type column")
                return
            continue
        if row is not None and header is not None and len(row) != len(header):
            problem = f"{len(row)} fields where the header has {len(header)}"
            row = None
        result: Event | Skipped
        if row is None:
            result = Skipped(start, problem)
        else:
            values = {
                name: value
                for name, value in zip(header, row, strict=True)
                if value != ""
            }
            result = from_mapping(start, text, values, options)
        yield result
        if multiline and isinstance(result, Skipped):
            # Taken for a stray quote: the following lines are read again.
            source.give_back(record[1:])
