"""JSON lines: one object per line with the arguments of ``log_event``."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator
from typing import Any

from pgwarden.ingest.common import (
    EVENT_FIELDS,
    Event,
    ParseOptions,
    Skipped,
    event,
    iso_time,
    numbered,
)


def from_mapping(
    line: int, record: str, values: dict[str, Any], options: ParseOptions
) -> Event | Skipped:
    """Turn one mapping of log_event arguments into an event or a skip.

    Shared by the JSON-lines and CSV readers. Unknown keys are refused, so
    that a misspelt column is reported rather than silently dropped.
    """
    unknown = sorted(set(values) - set(EVENT_FIELDS))
    if unknown:
        return Skipped(line, f"unknown field {', '.join(unknown)}")
    event_type = values.get("event_type")
    if not isinstance(event_type, str) or not event_type.strip():
        return Skipped(line, "no event_type")
    quality: list[str] = []
    created = values.get("created_at")
    if created in (None, ""):
        # As log_event: an event without a time happened now.
        created_at = options.reference_now()
    elif isinstance(created, str):
        try:
            created_at, quality = iso_time(created, options)
        except ValueError:
            return Skipped(line, f"created_at {created!r} is not a time")
    elif isinstance(created, dt.datetime):
        created_at = created
    else:
        return Skipped(line, f"created_at {created!r} is not a time")
    numbers: dict[str, int | None] = {}
    for name in ("record_count", "risk_score"):
        raw = values.get(name)
        if raw in (None, ""):
            numbers[name] = None
            continue
        try:
            number = int(raw)
        except (TypeError, ValueError):
            return Skipped(line, f"{name} {raw!r} is not an integer")
        if isinstance(raw, float) and raw != number:
            return Skipped(line, f"{name} {raw!r} is not an integer")
        numbers[name] = number
    metadata = values.get("metadata")
    if isinstance(metadata, str) and metadata.strip():
        try:
            metadata = json.loads(metadata)
        except ValueError:
            return Skipped(line, "metadata is not JSON")
    elif metadata == "":
        metadata = None
    if metadata is not None and not isinstance(metadata, dict):
        # Kept as log_event keeps it: wrapped and marked.
        metadata = {"raw_metadata": metadata}
        quality = [*quality, "metadata_not_object"]
    user_id = values.get("user_id")
    ip_address = values.get("ip_address")
    table_name = values.get("table_name") or None
    result = event(
        line,
        record,
        event_type.strip(),
        created_at=created_at,
        user_id=None if user_id is None else str(user_id),
        ip_address=None if ip_address is None else str(ip_address),
        metadata=metadata,
        record_count=numbers["record_count"],
        table_name=None if table_name is None else str(table_name),
        risk_score=numbers["risk_score"],
        quality=quality,
    )
    return result


def parse(lines: Iterable[str], options: ParseOptions) -> Iterator[Event | Skipped]:
    """Read JSON lines; blank lines are ignored."""
    for number, line in numbered(lines):
        if not line.strip():
            continue
        try:
            values = json.loads(line)
        except ValueError as exc:
            yield Skipped(number, f"not JSON ({exc.msg})")
            continue
        if not isinstance(values, dict):
            yield Skipped(number, "not a JSON object")
            continue
        yield from_mapping(number, line, values, options)
