"""pgaudit ``AUDIT:`` lines, in pgaudit's CSV layout.

The fields after ``AUDIT:`` are AUDIT_TYPE, STATEMENT_ID, SUBSTATEMENT_ID,
CLASS, COMMAND, OBJECT_TYPE, OBJECT_NAME, STATEMENT, PARAMETER and, with
``pgaudit.log_rows``, ROWS. A quoted statement may span lines.

- READ of a watched table (``warden.table_sensitivity`` at run time, or
  ``--table``) becomes ``customer_data_access`` with the row count when
  pgaudit logged it.
- ROLE-class statements (GRANT, REVOKE, CREATE/ALTER/DROP ROLE) become
  ``role_change``.
- Every other AUDIT line is reported as skipped with its reason. Whatever
  precedes ``AUDIT:`` on the line (a server log prefix) gives the time,
  user and database when it has them (the stderr forms that
  ``pgwarden ingest --format postgres-log`` reads).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable, Iterator
from typing import Any

from pgwarden.ingest.common import (
    MAX_RECORD_LINES,
    Event,
    Lines,
    ParseOptions,
    Skipped,
    event,
)
from pgwarden.ingest.postgres_log import server_time

AUDIT = re.compile(
    r"^(?P<prefix>.*?)(?:LOG|NOTICE|WARNING|INFO|DEBUG\d?):\s+"
    r"AUDIT: (?P<body>.*)$"
)
PREFIX = re.compile(
    r"^(?P<ts>\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(?:\.\d+)?)"
    r"(?: (?P<zone>[A-Za-z]{1,6}|[+-]\d{2}(?::?\d{2})?))?"
    r" \[(?P<pid>\d+)\]:?(?: \[\d+-\d+\])?"
    r"(?: user=(?P<kv_user>[^,]*),db=(?P<kv_db>[^,]*),app=.*?,"
    r"client=(?P<kv_client>\S*))?"
    r"(?: (?P<at_user>[^@\s]*)@(?P<at_db>\S*))?\s*$"
)
FIELDS = (
    "audit_type",
    "statement_id",
    "substatement_id",
    "class",
    "command",
    "object_type",
    "object_name",
    "statement",
    "parameter",
    "rows",
)
_NOT_LOGGED = ("<not logged>", "<previously logged>", "")


def _record_complete(body: str) -> bool:
    """True when the quotes of a CSV record balance."""
    return body.count('"') % 2 == 0


def _table_matches(name: str, watched: frozenset[str]) -> str | None:
    """Return the watched name that ``name`` (schema.table) stands for."""
    if name in watched:
        return name
    bare = name.rsplit(".", 1)[-1]
    if bare in watched:
        return bare
    for candidate in watched:
        if candidate.rsplit(".", 1)[-1] == bare and "." not in name:
            return candidate
    return None


class _Parser:
    def __init__(self, options: ParseOptions) -> None:
        self.options = options

    def parse(self, lines: Iterable[str]) -> Iterator[Event | Skipped]:
        source = Lines(lines)
        for first in source:
            number, line = first
            m = AUDIT.match(line)
            if m is None:
                continue
            body = [m["body"]]
            taken = [first]
            complete = _record_complete(m["body"])
            while not complete and len(taken) < MAX_RECORD_LINES:
                following = next(source, None)
                if following is None:
                    break
                taken.append(following)
                body.append(following[1])
                complete = _record_complete("\n".join(body))
            if not complete:
                # Taken for a stray quote: the following lines are read again.
                where = (
                    "at the end of the file"
                    if len(taken) < MAX_RECORD_LINES
                    else f"within {MAX_RECORD_LINES} lines"
                )
                yield Skipped(number, f"AUDIT statement not closed {where}")
                source.give_back(taken[1:])
                continue
            raw = "\n".join(text for _, text in taken)
            yield from self.record(number, m["prefix"], "\n".join(body), raw)

    def record(
        self, number: int, prefix: str, body: str, raw: str
    ) -> Iterator[Event | Skipped]:
        """One AUDIT record; ``raw`` is its whole text, log-line prefix included.

        The raw text identifies the event (``metadata.ingest_key``): the same
        statement logged for another user, process or time is another event.
        """
        try:
            row = next(csv.reader(io.StringIO(body)))
        except (csv.Error, StopIteration) as exc:
            yield Skipped(number, f"AUDIT record is not CSV ({exc})")
            return
        if len(row) < 9:
            yield Skipped(number, f"AUDIT record with {len(row)} fields")
            return
        values = dict(zip(FIELDS, row, strict=False))
        created, quality, who = self.prefix(prefix)
        if created is None:
            created = self.options.reference_now()
            quality = [*quality, "time_from_import"]
        audit_class = values["class"].upper()
        meta: dict[str, Any] = {
            "pgaudit_type": values["audit_type"],
            "statement_id": values["statement_id"],
            "substatement_id": values["substatement_id"],
            "class": audit_class,
            "command": values["command"],
        }
        meta.update({k: v for k, v in who.items() if k != "user" and v})
        statement = values["statement"]
        if statement not in _NOT_LOGGED:
            meta["statement"] = statement[:2000]
        if values["object_name"]:
            meta["object"] = values["object_name"]
        rows = values.get("rows")
        record_count = int(rows) if rows and rows.isdigit() else None
        user = who.get("user")
        if audit_class == "ROLE":
            yield event(
                number,
                raw,
                "role_change",
                created_at=created,
                user_id=user,
                metadata=meta,
                quality=quality,
            )
            return
        if audit_class != "READ":
            yield Skipped(number, f"pgaudit class {audit_class} is not imported")
            return
        name = values["object_name"]
        if not name:
            yield Skipped(
                number,
                "READ without an object name (set pgaudit.log_relation)",
            )
            return
        table = _table_matches(name, self.options.watched_tables)
        if table is None:
            yield Skipped(number, f"READ of {name}, which is not watched")
            return
        yield event(
            number,
            raw,
            "customer_data_access",
            created_at=created,
            user_id=user,
            metadata=meta,
            record_count=record_count,
            table_name=table,
            quality=quality,
        )

    def prefix(
        self, prefix: str
    ) -> tuple[dt.datetime | None, list[str], dict[str, Any]]:
        m = PREFIX.match(prefix.strip() + " " if prefix.strip() else "")
        if not prefix.strip() or m is None:
            return None, [], {}
        try:
            created, quality = server_time(m["ts"], m["zone"], self.options)
        except ValueError:
            return None, ["bad_time"], {}
        who = {
            "user": m["kv_user"] or m["at_user"] or None,
            "database": m["kv_db"] or m["at_db"] or None,
            "pid": int(m["pid"]),
        }
        return created, quality, who


def parse(lines: Iterable[str], options: ParseOptions) -> Iterator[Event | Skipped]:
    """Read pgaudit AUDIT records from a server log or psql output."""
    return _Parser(options).parse(lines)
