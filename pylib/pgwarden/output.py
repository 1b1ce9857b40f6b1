"""Showing rows to the operator: rich tables, JSON or CSV."""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import ipaddress
import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table

#: The formats of every command's ``--output`` option.
FORMATS = ("table", "json", "csv")

SEVERITY_STYLE = {
    "critical": "bold red",
    "high": "red",
    "medium": "yellow",
    "low": "cyan",
}


def make_console(**kwargs: Any) -> Console:
    """A rich console; 120 columns wide when writing to a file or a pipe.

    rich falls back to 80 columns off a terminal, which folds the tables of
    incidents and alerts into unreadable slivers in logs and CI output.
    """
    console = Console(**kwargs)
    if not console.is_terminal and "width" not in kwargs:
        console = Console(width=120, **kwargs)
    return console


def plain(value: Any) -> Any:
    """Turn a database value into something JSON can hold."""
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value)
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(
        value,
        ipaddress.IPv4Address
        | ipaddress.IPv6Address
        | ipaddress.IPv4Interface
        | ipaddress.IPv6Interface
        | ipaddress.IPv4Network
        | ipaddress.IPv6Network,
    ):
        return str(value)
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return value


def cell(value: Any) -> str:
    """Show one value in a table or CSV cell."""
    value = plain(value)
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return str(value)


def emit(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[str],
    *,
    fmt: str = "table",
    title: str | None = None,
    stream: TextIO | None = None,
    console: Console | None = None,
    nowrap: Sequence[str] = (),
) -> None:
    """Write rows in the chosen format; ``nowrap`` columns are never folded."""
    out = stream or sys.stdout
    if fmt == "json":
        json.dump([plain(r) for r in rows], out, indent=2, sort_keys=False)
        out.write("\n")
        return
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([cell(row.get(c)) for c in columns])
        return
    console = console or make_console(file=out)
    table = Table(title=title)
    for name in columns:
        table.add_column(name, overflow="fold", no_wrap=name in nowrap)
    for row in rows:
        style = SEVERITY_STYLE.get(str(row.get("severity", "")))
        table.add_row(*(cell(row.get(c)) for c in columns), style=style)
    console.print(table)
