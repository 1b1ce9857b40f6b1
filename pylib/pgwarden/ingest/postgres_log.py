"""PostgreSQL server logs: stderr, csvlog and jsonlog.

``connection authorized`` becomes ``login_success``; ``password
authentication failed`` and ``no pg_hba.conf entry`` become
``login_failed`` with the role and the client address. The stderr form is
read with the common ``log_line_prefix`` values ``'%m [%p] '``,
``'%m [%p] %q%u@%d '`` and ``'%t [%p]: [%l-1] user=%u,db=%d,app=%a,
client=%h '``; the client address of a process is remembered from its
``connection received`` line when the prefix does not carry it. The
format of each line is recognised on its own, so one file may mix them.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
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
    localize,
    split_host_port,
)

STDERR = re.compile(
    r"^(?P<ts>\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(?:\.\d+)?)"
    r"(?: (?P<zone>[A-Za-z]{1,6}|[+-]\d{2}(?::?\d{2})?))?"
    r" \[(?P<pid>\d+)\]:?"
    r"(?: \[\d+-\d+\])?"
    r"(?: user=(?P<kv_user>[^,]*),db=(?P<kv_db>[^,]*),app=(?P<kv_app>.*?),"
    r"client=(?P<kv_client>\S*))?"
    r"(?: (?P<at_user>[^@\s]*)@(?P<at_db>\S*))?"
    r"\s+(?P<level>[A-Z]+\d?):\s+(?P<msg>.*)$"
)
AUTHORIZED = re.compile(
    r"^connection authorized: user=(?P<user>\S+)"
    r"(?: database=(?P<db>\S+))?(?: application_name=(?P<app>.*?))?"
    r"(?: SSL enabled.*| GSS.*)?$"
)
RECEIVED = re.compile(r"^connection received: host=(?P<host>\S+)(?: port=\d+)?")
PASSWORD_FAILED = re.compile(
    r"^(?:password|md5|scram-sha-256|\S+) authentication failed for user "
    r'"(?P<user>[^"]*)"'
)
NO_HBA = re.compile(
    r"^no pg_hba\.conf entry for (?:replication connection from )?"
    r'host "(?P<host>[^"]+)", user "(?P<user>[^"]*)"'
    r'(?:, database "(?P<db>[^"]*)")?'
)
ROLE_MISSING = re.compile(r'^role "(?P<user>[^"]*)" does not exist')

#: csvlog columns, in order (later versions add columns at the end).
CSV_COLUMNS = (
    "log_time",
    "user_name",
    "database_name",
    "process_id",
    "connection_from",
    "session_id",
    "session_line_num",
    "command_tag",
    "session_start_time",
    "virtual_transaction_id",
    "transaction_id",
    "error_severity",
    "sql_state_code",
    "message",
    "detail",
    "hint",
    "internal_query",
    "internal_query_pos",
    "context",
    "query",
    "query_pos",
    "location",
    "application_name",
    "backend_type",
    "leader_pid",
    "query_id",
)

_ZONE_OFFSETS = {"UTC": 0, "GMT": 0, "Z": 0}


def server_time(
    text: str, zone: str | None, options: ParseOptions
) -> tuple[dt.datetime, list[str]]:
    """Read a server log time with its zone abbreviation or offset.

    Numeric offsets and UTC/GMT are exact. Another abbreviation (CET, EST)
    is read in ``--timezone``, which should be the server's log_timezone;
    a mismatch between the two is marked in data_quality.
    """
    naive = dt.datetime.fromisoformat(text)
    if zone is None:
        return localize(naive, options.zone())
    if zone.upper() in _ZONE_OFFSETS:
        return naive.replace(tzinfo=dt.timezone.utc), []
    if zone[0] in "+-":
        digits = zone[1:].replace(":", "")
        minutes = int(digits[:2]) * 60 + int(digits[2:4] or 0)
        sign = -1 if zone[0] == "-" else 1
        tz = dt.timezone(sign * dt.timedelta(minutes=minutes))
        return naive.replace(tzinfo=tz), []
    aware, marks = localize(naive, options.zone())
    if aware.tzname() != zone:
        marks = [*marks, "zone_abbreviation_mismatch"]
    return aware, marks


class _Parser:
    """Remembers the client address of each server process."""

    def __init__(self, options: ParseOptions) -> None:
        self.options = options
        self.clients: dict[str, str] = {}

    def parse(self, lines: Iterable[str]) -> Iterator[Event | Skipped]:
        source = Lines(lines)
        for number, line in source:
            if not line.strip():
                continue
            if line.startswith("{"):
                yield from self.json_record(number, line)
            elif re.match(r"^\d{4}-\d{2}-\d{2} [\d:.]+ [^,]*,", line) and (
                line.count(",") >= 13 or line.count('"') % 2
            ):
                yield from self.csvlog(number, line, source)
            else:
                yield from self.stderr_line(number, line)

    def csvlog(
        self, number: int, line: str, source: Lines
    ) -> Iterator[Event | Skipped]:
        """A csvlog record from its first line; quoted fields may span lines."""
        taken = [(number, line)]
        text = line
        while text.count('"') % 2 and len(taken) < MAX_RECORD_LINES:
            following = next(source, None)
            if following is None:
                break
            taken.append(following)
            text = f"{text}\n{following[1]}"
        if text.count('"') % 2:
            # Taken for a stray quote: the following lines are read again.
            where = (
                "at the end of the file"
                if len(taken) < MAX_RECORD_LINES
                else f"within {MAX_RECORD_LINES} lines"
            )
            yield Skipped(number, f"csvlog record not closed {where}")
            source.give_back(taken[1:])
            return
        yield from self.csv_record(number, text)

    def stderr_line(self, number: int, line: str) -> Iterator[Event | Skipped]:
        m = STDERR.match(line)
        if m is None:
            if line.startswith(("\t", " ")) or re.match(r"^[A-Z]+:\s", line):
                yield Skipped(number, "continuation line")
            else:
                yield Skipped(number, "not a recognised server log line")
            return
        try:
            created, quality = server_time(m["ts"], m["zone"], self.options)
        except ValueError as exc:
            yield Skipped(number, f"bad time: {exc}")
            return
        client = m["kv_client"]
        if client in ("", "[local]"):
            client = None
        yield from self.message(
            number,
            line,
            created,
            quality,
            pid=m["pid"],
            level=m["level"],
            message=m["msg"],
            user=m["kv_user"] or m["at_user"] or None,
            database=m["kv_db"] or m["at_db"] or None,
            client=client,
            application=m["kv_app"] or None,
        )

    def csv_record(self, number: int, text: str) -> Iterator[Event | Skipped]:
        try:
            row = next(csv.reader(io.StringIO(text)))
        except (csv.Error, StopIteration) as exc:
            yield Skipped(number, f"not a csvlog record ({exc})")
            return
        if len(row) < 23:
            yield Skipped(number, f"csvlog record with {len(row)} columns")
            return
        values = dict(zip(CSV_COLUMNS, row, strict=False))
        ts, _, zone = values["log_time"].partition(" ")[2].partition(" ")
        date = values["log_time"].split(" ")[0]
        try:
            created, quality = server_time(f"{date} {ts}", zone or None, self.options)
        except ValueError as exc:
            yield Skipped(number, f"bad time: {exc}")
            return
        client = values["connection_from"] or None
        if client and client != "[local]":
            client = (
                split_host_port(client)[0]
                if client.count(":") <= 1
                else (client.rsplit(":", 1)[0])
            )
        else:
            client = None
        yield from self.message(
            number,
            text,
            created,
            quality,
            pid=values["process_id"],
            level=values["error_severity"],
            message=values["message"],
            user=values["user_name"] or None,
            database=values["database_name"] or None,
            client=client,
            application=values.get("application_name") or None,
            sqlstate=values["sql_state_code"] or None,
        )

    def json_record(self, number: int, line: str) -> Iterator[Event | Skipped]:
        try:
            values = json.loads(line)
        except ValueError:
            yield Skipped(number, "not a jsonlog record")
            return
        if not isinstance(values, dict) or "timestamp" not in values:
            yield Skipped(number, "jsonlog record without timestamp")
            return
        stamp = str(values["timestamp"])
        date, _, rest = stamp.partition(" ")
        clock, _, zone = rest.partition(" ")
        try:
            created, quality = server_time(
                f"{date} {clock}", zone or None, self.options
            )
        except ValueError as exc:
            yield Skipped(number, f"bad time: {exc}")
            return
        client = values.get("remote_host")
        if client in ("[local]", ""):
            client = None
        yield from self.message(
            number,
            line,
            created,
            quality,
            pid=str(values.get("pid", "")),
            level=str(values.get("error_severity", "")),
            message=str(values.get("message", "")),
            user=values.get("user"),
            database=values.get("dbname"),
            client=client,
            application=values.get("application_name"),
            sqlstate=values.get("state_code"),
        )

    def message(
        self,
        number: int,
        record: str,
        created: dt.datetime,
        quality: list[str],
        *,
        pid: str,
        level: str,
        message: str,
        user: str | None,
        database: str | None,
        client: str | None,
        application: str | None,
        sqlstate: str | None = None,
    ) -> Iterator[Event | Skipped]:
        received = RECEIVED.match(message)
        if received:
            self.clients[pid] = received["host"]
            yield Skipped(number, "connection received (address noted)")
            return
        client = client or self.clients.get(pid)
        meta: dict[str, Any] = {"pid": int(pid)} if pid.isdigit() else {}
        for name, value in (
            ("database", database),
            ("application_name", application),
            ("sqlstate", sqlstate),
            ("severity", level),
        ):
            if value:
                meta[name] = value
        kind = None
        m = AUTHORIZED.match(message)
        if m:
            kind, user = "login_success", m["user"]
            if m["db"]:
                meta.setdefault("database", m["db"])
        elif (m := PASSWORD_FAILED.match(message)) is not None:
            kind, user = "login_failed", m["user"]
            meta["reason"] = "password_authentication_failed"
        elif (m := NO_HBA.match(message)) is not None:
            kind, user, client = "login_failed", m["user"], m["host"]
            meta["reason"] = "no_pg_hba_entry"
            if m["db"]:
                meta["database"] = m["db"]
        elif level == "FATAL" and (m := ROLE_MISSING.match(message)):
            kind, user = "login_failed", m["user"]
            meta["reason"] = "role_does_not_exist"
        if kind is None:
            yield Skipped(number, "not a security event")
            return
        if kind == "login_failed" and user:
            meta["attempted_user"] = user
        if client and not re.match(r"^[0-9A-Fa-f:.]+$", client):
            meta["remote_host"] = client
            client = None
        yield event(
            number,
            record,
            kind,
            created_at=created,
            user_id=user or None,
            ip_address=client,
            metadata=meta,
            quality=quality,
        )


def parse(lines: Iterable[str], options: ParseOptions) -> Iterator[Event | Skipped]:
    """Read a PostgreSQL server log (stderr, csvlog or jsonlog)."""
    return _Parser(options).parse(lines)
