"""What every log parser shares: records, options, times and addresses.

A parser reads lines and yields, in file order, either an event (a dict
with the arguments of ``warden.log_event`` plus ``line``, the number of the
line it came from, and ``record``, the raw text the event was read from)
or a :class:`Skipped` record naming the line and the reason.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import re
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

#: The fields of ``warden.log_event`` an event dict may carry.
EVENT_FIELDS = (
    "event_type",
    "user_id",
    "ip_address",
    "metadata",
    "record_count",
    "table_name",
    "risk_score",
    "created_at",
)

Event = dict[str, Any]


@dataclass(frozen=True)
class Skipped:
    """A line (or record starting at a line) that produced no event."""

    line: int
    reason: str


@dataclass
class ParseOptions:
    """Settings that parsers need beyond the lines themselves."""

    #: Year of syslog lines (which carry none); None infers it.
    year: int | None = None
    #: Zone of local times that carry no offset.
    timezone: str = "UTC"
    #: The moment no inferred time may lie after (tests fix it).
    now: dt.datetime | None = None
    #: Tables whose reads count as customer-data access (pgaudit).
    watched_tables: frozenset[str] = field(default_factory=frozenset)

    def zone(self) -> dt.tzinfo:
        """The zone of local times, as a tzinfo."""
        return get_zone(self.timezone)

    def reference_now(self) -> dt.datetime:
        """The current time, or the fixed one of the options."""
        return self.now or dt.datetime.now(dt.timezone.utc)


def get_zone(name: str) -> dt.tzinfo:
    """Return the zone called ``name``; ValueError when unknown."""
    if name.upper() in ("UTC", "Z", "GMT"):
        return dt.timezone.utc
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


def localize(naive: dt.datetime, zone: dt.tzinfo) -> tuple[dt.datetime, list[str]]:
    """Attach ``zone`` to a naive local time; flag DST problems.

    Returns the aware time and the data-quality marks: a local time that a
    DST change makes occur twice is ``ambiguous_local_time`` (the first,
    summer-time reading is taken); one that never occurs is
    ``nonexistent_local_time`` (read with the offset before the change).
    """
    first = naive.replace(tzinfo=zone, fold=0)
    second = naive.replace(tzinfo=zone, fold=1)
    if first.utcoffset() == second.utcoffset():
        return first, []
    back = first.astimezone(dt.timezone.utc).astimezone(zone)
    if back.replace(tzinfo=None) != naive:
        return first, ["nonexistent_local_time"]
    return first, ["ambiguous_local_time"]


_MONTHS = {
    name: number
    for number, name in enumerate(
        (
            "jan",
            "feb",
            "mar",
            "apr",
            "may",
            "jun",
            "jul",
            "aug",
            "sep",
            "oct",
            "nov",
            "dec",
        ),
        start=1,
    )
}


def syslog_time(
    month: str,
    day: int,
    clock: str,
    options: ParseOptions,
) -> tuple[dt.datetime, list[str]]:
    """Resolve a yearless, zoneless syslog time (``Dec 10 06:55:46``).

    With ``options.year`` that year is taken; otherwise the latest year in
    which the time does not lie in the future. ValueError for a date that
    exists in no candidate year.
    """
    number = _MONTHS.get(month.lower()[:3])
    if number is None:
        raise ValueError(f"unknown month {month!r}")
    hour, minute, second = (int(x) for x in clock.split(":"))
    zone = options.zone()
    if options.year is not None:
        years = [options.year]
    else:
        now = options.reference_now()
        current = now.astimezone(zone).year
        years = list(range(current, current - 9, -1))
    for year in years:
        try:
            naive = dt.datetime(year, number, day, hour, minute, second)
        except ValueError:
            continue
        aware, marks = localize(naive, zone)
        if options.year is not None or aware <= options.reference_now():
            return aware, marks
    raise ValueError(f"{month} {day} exists in no year tried")


def iso_time(text: str, options: ParseOptions) -> tuple[dt.datetime, list[str]]:
    """Parse an ISO 8601 time; a time without offset is local to the zone."""
    value = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if value.tzinfo is None:
        return localize(value, options.zone())
    return value, []


def split_host_port(text: str) -> tuple[str, str | None]:
    """Split ``host:port`` or ``[v6]:port``; a bare v6 address has no port."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        return host, rest.lstrip(":") or None
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        return host, port or None
    return text, None


DOTTED_QUAD = re.compile(
    r"^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}"
    r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$"
)
_ADDRESS_CHARS = re.compile(r"^[0-9A-Fa-f:.]+(/[0-9]{1,3})?$")


def looks_like_address(text: str | None) -> bool:
    """True when ``text`` could be an address (the test _parse_inet makes)."""
    return bool(text) and bool(_ADDRESS_CHARS.match(text.strip(" ")))


def parse_inet(value: str | None) -> str | None:
    """Normalise an address as ``warden._parse_inet`` does, in Python.

    Returns the text to store, or None when the value is no address. The
    database's own function stays the reference; :mod:`pgwarden.ingest.load`
    asks it about every value this function cannot settle by a regular
    expression, so the stored outcome is exactly log_event's.
    """
    if value is None:
        return None
    trimmed = value.strip(" ")  # btrim trims spaces only
    if not trimmed:
        return None
    if DOTTED_QUAD.match(trimmed):
        return trimmed
    if not _ADDRESS_CHARS.match(trimmed):
        return None
    try:
        iface = ipaddress.ip_interface(trimmed)
    except ValueError:
        return None
    address = iface.ip
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        prefix = max(iface.network.prefixlen - 96, 0)
        v4 = str(address.ipv4_mapped)
        return v4 if "/" not in trimmed else f"{v4}/{prefix}"
    return trimmed


def numbered(lines: Iterable[str]) -> Iterator[tuple[int, str]]:
    """Number lines from 1 and strip their line ends."""
    for number, line in enumerate(lines, start=1):
        yield number, line.rstrip("\r\n")


#: Lines one record may span (a quoted field holding line breaks, in CSV,
#: csvlog and pgaudit records). A quote still open after this many lines,
#: or at the end of the file, is taken for a stray one: the record's first
#: line is reported and the lines after it are read again on their own.
MAX_RECORD_LINES = 100


class Lines:
    """Numbered lines (see :func:`numbered`) that can be given back.

    A parser that took lines for the continuation of a record, and finds
    that they were not, gives them back to read them again on their own.
    """

    def __init__(self, lines: Iterable[str]) -> None:
        self._source = numbered(lines)
        self._again: deque[tuple[int, str]] = deque()

    def __iter__(self) -> Iterator[tuple[int, str]]:
        return self

    def __next__(self) -> tuple[int, str]:
        if self._again:
            return self._again.popleft()
        return next(self._source)

    def give_back(self, lines: list[tuple[int, str]]) -> None:
        """Read these lines (in this order) before any other."""
        self._again.extendleft(reversed(lines))


def event(
    line: int,
    record: str,
    event_type: str,
    *,
    created_at: dt.datetime | None,
    user_id: str | None = None,
    ip_address: str | None = None,
    metadata: dict[str, Any] | None = None,
    record_count: int | None = None,
    table_name: str | None = None,
    risk_score: int | None = None,
    quality: Iterable[str] = (),
) -> Event:
    """Build one event dict; data-quality marks go into metadata."""
    meta = dict(metadata or {})
    quality = list(quality)
    if quality:
        given = meta.get("data_quality")
        marks = [
            m if isinstance(m, str) else json.dumps(m)
            for m in (given if isinstance(given, list) else [])
        ]
        meta["data_quality"] = sorted({*marks, *quality})
    return {
        "line": line,
        "record": record,
        "event_type": event_type,
        "user_id": user_id,
        "ip_address": ip_address,
        "metadata": meta,
        "record_count": record_count,
        "table_name": table_name,
        "risk_score": risk_score,
        "created_at": created_at,
    }
