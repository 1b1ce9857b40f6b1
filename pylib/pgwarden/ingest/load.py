"""Storing parsed events in ``warden.security_audit_log``.

Events are checked and normalised exactly as ``warden.log_event`` would
(unknown types and out-of-range numbers refused per event and reported;
bad addresses kept in ``metadata.raw_ip_address`` with a data-quality
mark; text that was not valid UTF-8 stored with U+FFFD in its place and
the mark ``invalid_utf8``), then loaded with COPY in batches, source
``importer``. Each batch
is one statement, so the log's statement-level triggers (type check,
real-time rules) judge it once.

Ingesting the same file twice stores nothing twice: every event carries
``metadata.ingest_key``, a digest of its format, its record text, the
occurrence of that text in the file and its position within the record
(``message repeated N times`` gives N events), and a batch skips the keys
already in the log. Batches of one run are serialised with other importers
by a transaction-level advisory lock, so two concurrent runs of one file
cannot both store an event.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from pgwarden.ingest.common import (
    DOTTED_QUAD,
    Event,
    Skipped,
    looks_like_address,
    parse_inet,
)

log = logging.getLogger(__name__)

#: Events per COPY statement. The real-time rules judge each statement;
#: their cost grows faster than the batch, so batches stay moderate.
BATCH_SIZE = 500
#: Times before this are marked created_at_before_1970, as log_event does.
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
#: Serialises importers of one database (first half of a two-key lock).
LOCK_KEY = 0x70677769
COLUMNS = (
    "user_id",
    "event_type",
    "metadata",
    "risk_score",
    "created_at",
    "ip_address",
    "table_name",
    "record_count",
    "session_id",
    "source",
)


@dataclass
class Summary:
    """What one ingest run did."""

    lines_read: int = 0
    dry_run: bool = False
    events_parsed: int = 0
    events_stored: int = 0
    duplicates: int = 0
    skipped: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    stored_by_type: Counter[str] = field(default_factory=Counter)

    def skip(self, line: int, reason: str) -> None:
        """Record a line that produced no event."""
        self.skipped[repair_text(reason)[0]].append(line)

    @property
    def lines_skipped(self) -> int:
        """Number of lines (records) skipped, all reasons together."""
        return sum(len(lines) for lines in self.skipped.values())

    def as_dict(self) -> dict[str, Any]:
        """The summary as plain data (for --output json)."""
        return {
            "dry_run": self.dry_run,
            "lines_read": self.lines_read,
            "events_parsed": self.events_parsed,
            "events_stored": self.events_stored,
            "duplicates": self.duplicates,
            "stored_by_type": dict(self.stored_by_type),
            "skipped": {k: sorted(v) for k, v in self.skipped.items()},
        }


class Refused(ValueError):
    """An event that log_event would refuse; the reason is the message."""


@dataclass
class EventTypes:
    """The event types of the database and their default risk scores."""

    defaults: dict[str, int]

    @classmethod
    def load(cls, conn: psycopg.Connection) -> EventTypes:
        rows = conn.execute(
            "SELECT event_type, default_risk_score FROM warden.event_types"
        ).fetchall()
        return cls({name: int(risk) for name, risk in rows})


def normalise(
    item: Event,
    types: EventTypes,
    *,
    addresses: Callable[[str], str | None] = parse_inet,
    order_marks: Callable[[list[str | None]], list[str | None]] | None = None,
    now: dt.datetime | None = None,
) -> Event:
    """Check and normalise one event as warden.log_event does.

    Raises :class:`Refused` for what log_event refuses; returns the event
    with user id, address, risk score and metadata as log_event would
    store them.
    """
    order_marks = order_marks or python_order
    for name in ("user_id", "ip_address", "table_name", "event_type"):
        if "\x00" in str(item.get(name) or ""):
            raise Refused(f"{name} contains a NUL character")
    if _has_nul(item.get("metadata")):
        # jsonb cannot hold \u0000; log_event's caller gets the same refusal.
        raise Refused("metadata contains a NUL character")
    kind = item["event_type"]
    if kind not in types.defaults:
        raise Refused(f'unknown event type "{kind}"')
    risk = item.get("risk_score")
    if risk is not None and not 1 <= int(risk) <= 5:
        raise Refused(f"risk score {risk} is out of range")
    count = item.get("record_count")
    if count is not None and int(count) < 0:
        raise Refused(f"record count {count} is negative")
    if count is not None and int(count) > 2**31 - 1:
        raise Refused(f"record count {count} is out of range")
    created = item.get("created_at")
    if not isinstance(created, dt.datetime) or created.tzinfo is None:
        raise Refused("no event time with a zone")
    metadata = item.get("metadata")
    quality: list[str] = []
    # Keys that pgwarden writes into metadata beside its marks.
    own: dict[str, Any] = {}
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        metadata = {"raw_metadata": metadata}
        quality.append("metadata_not_object")
    else:
        metadata = dict(metadata)
        marks = metadata.get("data_quality")
        if isinstance(marks, list):
            # As jsonb_array_elements_text renders them (null stays null).
            quality.extend(
                m if isinstance(m, str) or m is None else json.dumps(m) for m in marks
            )
    user = item.get("user_id")
    if user is not None and not str(user).strip(" "):
        user = None
        quality.append("empty_user_id")
    elif user is not None and len(user) > 256:
        own["raw_user_id"] = user
        user = user[:256]
        quality.append("user_id_truncated")
    address = item.get("ip_address")
    stored_address = None
    if address is not None and str(address).strip(" "):
        stored_address = addresses(str(address))
        if stored_address is None:
            own["raw_ip_address"] = address
            quality.append("invalid_ip_address")
    reference = now or dt.datetime.now(dt.timezone.utc)
    if created > reference + dt.timedelta(days=1):
        quality.append("created_at_in_future")
    elif created < EPOCH:
        quality.append("created_at_before_1970")
    # Marks of the importer itself (text that was not valid UTF-8).
    quality.extend(item.get("importer_quality") or ())
    if quality:
        # A caller's key that pgwarden writes too, or a data_quality that
        # is no list of marks, is kept under caller_<key>, as log_event does.
        if "data_quality" in metadata and not isinstance(
            metadata["data_quality"], list
        ):
            own["data_quality"] = None
        for key in own:
            if key in metadata:
                free = f"caller_{key}"
                while free in metadata:
                    free = f"caller_{free}"
                metadata[free] = metadata.pop(key)
                quality.append("metadata_key_renamed")
        metadata.update(own)
        metadata["data_quality"] = order_marks(quality)
    result = dict(item)
    result.pop("importer_quality", None)
    result.update(
        user_id=user,
        ip_address=stored_address,
        metadata=metadata,
        risk_score=int(risk) if risk is not None else types.defaults[kind],
        record_count=None if count is None else int(count),
    )
    return result


_PLAIN_MARK = re.compile(r"^[a-z_]+$")


def _has_nul(value: Any) -> bool:
    """True when a JSON value holds a NUL character in a key or string."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def python_order(marks: list[str | None]) -> list[str | None]:
    """Distinct marks in the order jsonb_agg(DISTINCT) gives plain names.

    Exact for lower-case names with underscores (all of pgwarden's own
    marks); other text is ordered by the database's collation, which
    :class:`Loader` asks for.
    """
    names = sorted({m for m in marks if m is not None})
    return [*names, None] if None in marks else names


#: Code points that no UTF-8 text holds: the lone surrogates that invalid
#: bytes decode to (``surrogateescape``) or that a JSON ``\udXXX`` escape gives.
_SURROGATE = re.compile("[\ud800-\udfff]")


def repair_text(value: Any) -> tuple[Any, bool]:
    """Replace lone surrogates in strings (keys too) of a value by U+FFFD.

    Returns the repaired value and whether anything was replaced; the
    database can store neither a lone surrogate in text nor in jsonb.
    """
    if isinstance(value, str):
        repaired = _SURROGATE.sub("\ufffd", value)
        return repaired, repaired != value
    if isinstance(value, dict):
        changed = False
        result = {}
        for key, item in value.items():
            new_key, key_changed = repair_text(key)
            new_item, item_changed = repair_text(item)
            result[new_key] = new_item
            changed = changed or key_changed or item_changed
        return result, changed
    if isinstance(value, list):
        pairs = [repair_text(v) for v in value]
        return [v for v, _ in pairs], any(c for _, c in pairs)
    return value, False


def repair_event(item: Event) -> Event:
    """The event with invalid text replaced and marked ``invalid_utf8``."""
    changed = False
    result = dict(item)
    for name in ("user_id", "ip_address", "table_name", "event_type", "metadata"):
        result[name], was_changed = repair_text(item.get(name))
        changed = changed or was_changed
    if changed:
        # Read by normalise, which adds it to the event's marks.
        result["importer_quality"] = ["invalid_utf8"]
    return result


def ingest_key(format_name: str, record: str, occurrence: int, part: int) -> str:
    """The digest that identifies one event of a file across runs.

    The record is the raw text, invalid bytes included (as surrogates), so
    records that differ only in such bytes keep apart.
    """
    digest = hashlib.sha256()
    for piece in (format_name, record, str(occurrence), str(part)):
        digest.update(piece.encode("utf-8", "surrogatepass"))
        digest.update(b"\x00")
    return digest.hexdigest()[:32]


class AddressResolver:
    """Normalise addresses with the database's own warden._parse_inet.

    Dotted quads and text that cannot be an address are settled in Python
    (the function's own fast paths); everything else is asked of the
    database once per distinct value, so the result is log_event's.
    """

    def __init__(self, conn: psycopg.Connection | None) -> None:
        self.conn = conn
        self.cache: dict[str, str | None] = {}

    def prefetch(self, values: Iterable[str]) -> None:
        wanted = {
            v
            for v in values
            if v not in self.cache
            and looks_like_address(v)
            and not DOTTED_QUAD.match(v.strip(" "))
        }
        if not wanted or self.conn is None:
            return
        try:
            rows = self.conn.execute(
                "SELECT v, warden._parse_inet(v) FROM unnest(%s::text[]) AS v",
                (sorted(wanted),),
            ).fetchall()
        except psycopg.errors.InsufficientPrivilege:
            log.debug("warden._parse_inet not callable; using Python")
            self.conn = None
            return
        for value, inet in rows:
            self.cache[value] = None if inet is None else str(inet)

    def __call__(self, value: str) -> str | None:
        if value in self.cache:
            return self.cache[value]
        return parse_inet(value)


class Loader:
    """Normalises, deduplicates and COPYs events into the log."""

    def __init__(
        self,
        conn: psycopg.Connection,
        *,
        format_name: str,
        file_label: str,
        summary: Summary,
        batch_size: int = BATCH_SIZE,
        dry_run: bool = False,
    ) -> None:
        self.conn = conn
        self.format_name = format_name
        self.file_label = file_label
        self.summary = summary
        self.batch_size = batch_size
        self.dry_run = dry_run
        self.types = EventTypes.load(conn)
        self.addresses = AddressResolver(conn)
        self.occurrences: Counter[str] = Counter()
        self.batch: list[Event] = []
        try:
            self.session_id = conn.execute("SELECT warden._session_id()").fetchone()[0]
        except psycopg.errors.InsufficientPrivilege:
            self.session_id = None

    def render_marks(self, item: Event) -> None:
        """Render non-text data-quality marks as the database renders them.

        log_event reads ``metadata.data_quality`` with
        jsonb_array_elements_text; numbers, objects and arrays in it are
        turned into text by the database, exactly.
        """
        metadata = item.get("metadata")
        if not isinstance(metadata, dict):
            return
        marks = metadata.get("data_quality")
        if (
            not isinstance(marks, list)
            or all(m is None or isinstance(m, str) for m in marks)
            or _has_nul(marks)
        ):
            # A NUL character is refused by normalise, as log_event does.
            return
        rendered = [
            text
            for (text,) in self.conn.execute(
                "SELECT q FROM jsonb_array_elements_text(%s) AS q",
                (Jsonb(marks),),
            )
        ]
        item["metadata"] = {**metadata, "data_quality": rendered}

    def order_marks(self, marks: list[str | None]) -> list[str | None]:
        """Order data-quality marks as log_event's jsonb_agg(DISTINCT) does."""
        if all(m is not None and _PLAIN_MARK.match(m) for m in marks):
            return python_order(marks)
        return self.conn.execute(
            "SELECT jsonb_agg(DISTINCT q) FROM unnest(%s::text[]) AS q",
            (marks,),
        ).fetchone()[0]

    def add(self, item: Event | Skipped) -> None:
        """Take one parser output; store full batches."""
        if isinstance(item, Skipped):
            self.summary.skip(item.line, item.reason)
            return
        self.summary.events_parsed += 1
        record = item.get("record", "")
        part = int(item.get("part", 0))
        if part == 0:
            self.occurrences[record] += 1
        occurrence = self.occurrences[record]
        item = repair_event(item)
        item["key"] = ingest_key(self.format_name, record, occurrence, part)
        self.batch.append(item)
        if len(self.batch) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        """Store the current batch in one transaction."""
        batch, self.batch = self.batch, []
        if not batch:
            return
        self.addresses.prefetch(
            str(e["ip_address"]) for e in batch if e.get("ip_address")
        )
        rows = []
        for item in batch:
            self.render_marks(item)
            try:
                clean = normalise(
                    item,
                    self.types,
                    addresses=self.addresses,
                    order_marks=self.order_marks,
                )
            except Refused as exc:
                self.summary.skip(item["line"], str(exc))
                continue
            meta = clean["metadata"]
            meta["ingest_key"] = item["key"]
            meta["ingest_file"] = self.file_label
            meta["ingest_line"] = item["line"]
            rows.append(clean)
        if not rows:
            return
        with self.conn.transaction():
            self.conn.execute(
                "SELECT pg_advisory_xact_lock(%s, hashtext(current_database()))",
                (LOCK_KEY,),
            )
            keys = [r["metadata"]["ingest_key"] for r in rows]
            existing = {
                k
                for (k,) in self.conn.execute(
                    "SELECT l.metadata ->> 'ingest_key' "
                    "FROM warden.security_audit_log AS l "
                    "WHERE l.source = 'importer' "
                    "AND l.metadata ->> 'ingest_key' = ANY(%s)",
                    (keys,),
                )
            }
            fresh = [r for r in rows if r["metadata"]["ingest_key"] not in existing]
            self.summary.duplicates += len(rows) - len(fresh)
            if fresh and not self.dry_run:
                self.copy(fresh)
            # In a dry run this counts what would have been stored.
            self.summary.events_stored += len(fresh)
            for r in fresh:
                self.summary.stored_by_type[r["event_type"]] += 1

    def copy(self, rows: list[Event]) -> None:
        columns = ", ".join(COLUMNS)
        with self.conn.cursor().copy(
            f"COPY warden.security_audit_log ({columns}) FROM STDIN"
        ) as copy:
            for r in rows:
                copy.write_row(
                    (
                        r["user_id"],
                        r["event_type"],
                        Jsonb(r["metadata"]),
                        r["risk_score"],
                        r["created_at"],
                        r["ip_address"],
                        r["table_name"],
                        r["record_count"],
                        self.session_id,
                        "importer",
                    )
                )
