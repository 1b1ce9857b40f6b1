"""Rule tests as data: scenario files, and running them against PostgreSQL.

A scenario file is YAML. Each document in it is one scenario: rule
overrides applied first, then events reported through ``warden.log_event``
at times absolute or relative to the scenario's start, then one run of
``warden.check_customer_data_access_alerts()``, then expectations about
``warden.alerts``, locks, blocks and incidents. ``docs/rule-tests.md``
describes the format with a full example.

Loading keeps the line of every value, so that a malformed file gets an
error naming the file, the line and the field. Running needs a database
of its own per scenario: :class:`ThrowawayDatabases` installs pgwarden
once into a template and clones a fresh database from it for each one.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import logging
import re
import secrets
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import yaml
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import dict_row

from pgwarden import install
from pgwarden.errors import ConfigurationError, PgwardenError, from_database

log = logging.getLogger(__name__)

#: Prefix of every database that scenario runs create and drop.
DATABASE_PREFIX = "pgwarden_scenario_"
#: Columns of ``warden.detection_rules`` a scenario may override.
RULE_COLUMNS = {
    "enabled": "boolean",
    "severity": "text",
    "risk_score": "smallint",
    "threshold": "numeric",
    "time_window": "interval",
    "response": "text",
    "response_duration": "interval",
    "params": "jsonb",
}
SEVERITIES = ("critical", "high", "medium", "low")
#: Alert columns an expectation may match on, with their kind.
ALERT_MATCH = {
    "rule": "text",
    "user_id": "text",
    "ip_address": "inet",
    "subject": "text",
    "severity": "severity",
    "risk_score": "int",
    "status": "text",
    "event_count": "int",
    "record_count": "int",
}
INCIDENT_MATCH = {
    "rule": "text",
    "user_id": "text",
    "severity": "severity",
    "status": "text",
}
_OFFSET = re.compile(
    r"^(?P<sign>[+-])(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?"
    r"(?:(?P<s>\d+)s)?$"
)
_DURATION = re.compile(
    r"^(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?$"
)
_COUNT = re.compile(r"^(?:(?P<op>at least|exactly|>=|==|=)\s*)?(?P<n>\d+)$")


class ScenarioError(PgwardenError):
    """A scenario file is malformed, or names something that does not exist.

    The message names the file, the line and the field.
    """

    def __init__(
        self,
        path: str,
        line: int | None,
        where: str,
        message: str,
        *,
        sqlstate: str | None = None,
        hint: str | None = None,
    ) -> None:
        location = f"{path}:{line}" if line else path
        text = f"{location}: {where}: {message}" if where else f"{location}: {message}"
        super().__init__(text, sqlstate=sqlstate, hint=hint)
        self.problem = message
        self.path = path
        self.line = line
        self.where = where


# ---------------------------------------------------------------------------
# The model


@dataclass(frozen=True)
class Count:
    """How many matching rows an expectation wants: exactly or at least."""

    n: int = 1
    exact: bool = False

    def accepts(self, found: int) -> bool:
        """Return True when ``found`` rows satisfy the expectation."""
        return found == self.n if self.exact else found >= self.n

    def __str__(self) -> str:
        return f"exactly {self.n}" if self.exact else f"at least {self.n}"


@dataclass
class Event:
    """One event (or a run of ``repeat`` events) to report."""

    line: int
    fields: dict[str, Any]
    offset: dt.timedelta | None = None
    absolute: dt.datetime | None = None
    repeat: int = 1
    every: dt.timedelta = dt.timedelta(0)
    #: True for a ``- check: true`` item: run the scheduled detection here.
    check: bool = False

    def times(self, start: dt.datetime) -> list[dt.datetime]:
        """Return the event times, given the scenario's start."""
        first = (
            self.absolute
            if self.absolute is not None
            else (start + (self.offset or dt.timedelta(0)))
        )
        return [first + i * self.every for i in range(self.repeat)]


@dataclass
class Match:
    """Alerts or incidents matching some columns, with the line it came from."""

    line: int
    columns: dict[str, Any]
    count: Count = field(default_factory=Count)

    def describe(self) -> str:
        """Return the match as ``rule user_id=... severity=...``."""
        cols = dict(self.columns)
        parts = [str(cols.pop("rule", "any rule"))]
        parts += [f"{k}={v}" for k, v in cols.items()]
        return " ".join(parts)


@dataclass
class StateCheck:
    """An account that must (not) be locked, or an address (not) blocked."""

    line: int
    kind: str  # "account" or "address"
    value: str
    expected: bool


@dataclass
class Scenario:
    """One scenario of a file."""

    path: str
    line: int
    name: str
    start: dt.datetime | None = None
    start_offset: dt.timedelta = dt.timedelta(0)
    rules: dict[str, dict[str, tuple[int, Any]]] = field(default_factory=dict)
    rule_lines: dict[str, int] = field(default_factory=dict)
    tables: dict[str, tuple[int, str]] = field(default_factory=dict)
    setup: list[tuple[int, str]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    alerts: list[Match] = field(default_factory=list)
    no_alerts: list[Match] = field(default_factory=list)
    states: list[StateCheck] = field(default_factory=list)
    incidents: list[Match] = field(default_factory=list)

    @property
    def location(self) -> str:
        """``path:line`` of the scenario."""
        return f"{self.path}:{self.line}"

    def referenced_rules(self) -> Iterator[tuple[int, str, str]]:
        """Yield (line, field, rule id) for every rule the scenario names."""
        for rule, line in self.rule_lines.items():
            yield line, f"rules.{rule}", rule
        for kind, matches in (
            ("expect.alerts", self.alerts),
            ("expect.no_alerts", self.no_alerts),
            ("expect.state.incidents", self.incidents),
        ):
            for i, match in enumerate(matches):
                if "rule" in match.columns:
                    yield match.line, f"{kind}[{i}].rule", match.columns["rule"]


# ---------------------------------------------------------------------------
# Loading


class _Reader:
    """Turns composed YAML nodes into values, keeping their lines."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._constructor = yaml.constructor.SafeConstructor()

    def fail(self, node: yaml.Node | None, where: str, message: str) -> None:
        line = node.start_mark.line + 1 if node is not None else None
        raise ScenarioError(self.path, line, where, message)

    def line(self, node: yaml.Node) -> int:
        return node.start_mark.line + 1

    def mapping(
        self,
        node: yaml.Node,
        where: str,
        *,
        allowed: Iterable[str] | None = None,
        required: Iterable[str] = (),
    ) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        """Return key -> (key node, value node) of a mapping node."""
        if not isinstance(node, yaml.MappingNode):
            self.fail(node, where or "scenario", "must be a mapping")
        result: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        allowed_set = set(allowed) if allowed is not None else None
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self.fail(key_node, where, "keys must be plain names")
            key = str(key_node.value)
            sub = f"{where}.{key}" if where else key
            if key in result:
                self.fail(key_node, sub, "is given twice")
            if allowed_set is not None and key not in allowed_set:
                self.fail(
                    key_node,
                    sub,
                    "is not a known field; expected "
                    "one of " + ", ".join(sorted(allowed_set)),
                )
            result[key] = (key_node, value_node)
        for key in required:
            if key not in result:
                sub = f"{where}.{key}" if where else key
                self.fail(node, sub, "is required")
        return result

    def sequence(self, node: yaml.Node, where: str) -> list[yaml.Node]:
        if not isinstance(node, yaml.SequenceNode):
            self.fail(node, where, "must be a list")
        return list(node.value)

    def scalar(self, node: yaml.Node, where: str) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            self.fail(node, where, "must be a single value")
        return self._constructor.construct_object(node, deep=True)

    def text(self, node: yaml.Node, where: str) -> str:
        """A scalar as text, exactly as written (no YAML typing)."""
        if not isinstance(node, yaml.ScalarNode):
            self.fail(node, where, "must be a single value")
        value = str(node.value).strip()
        if not value:
            self.fail(node, where, "must not be empty")
        return value

    def json(self, node: yaml.Node, where: str) -> Any:
        """Any value, as JSON would hold it (timestamps become ISO text)."""
        value = self._constructor.construct_object(node, deep=True)
        try:
            return json.loads(json.dumps(value, default=_iso))
        except (TypeError, ValueError) as exc:
            self.fail(node, where, f"cannot be stored as JSON: {exc}")
        raise AssertionError  # unreachable: fail raises

    def integer(self, node: yaml.Node, where: str, *, minimum: int = 0) -> int:
        value = self.scalar(node, where)
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(node, where, f"must be a whole number, not {value!r}")
        if value < minimum:
            self.fail(node, where, f"must be {minimum} or more, not {value}")
        return value

    def boolean(self, node: yaml.Node, where: str) -> bool:
        value = self.scalar(node, where)
        if not isinstance(value, bool):
            self.fail(node, where, f"must be true or false, not {value!r}")
        return value

    def severity(self, node: yaml.Node, where: str) -> str:
        value = self.text(node, where)
        if value not in SEVERITIES:
            self.fail(
                node,
                where,
                f"{value!r} is not a severity; expected "
                "one of " + ", ".join(SEVERITIES),
            )
        return value

    def address(self, node: yaml.Node, where: str) -> str:
        value = self.text(node, where)
        try:
            return _canonical_inet(value)
        except ValueError:
            self.fail(node, where, f"{value!r} is not an address or network")
        raise AssertionError  # unreachable: fail raises

    def timestamp(self, node: yaml.Node, where: str) -> dt.datetime:
        value = self.scalar(node, where)
        if isinstance(value, dt.datetime):
            stamp = value
        elif isinstance(value, dt.date):
            stamp = dt.datetime.combine(value, dt.time())
        else:
            try:
                stamp = dt.datetime.fromisoformat(str(value).strip())
            except ValueError:
                self.fail(
                    node,
                    where,
                    f"{node.value!r} is not a time: give an "
                    "ISO timestamp such as 2026-12-01T10:00:00Z or an "
                    "offset such as +14m59s or -2h",
                )
        if stamp.tzinfo is None:
            # PyYAML turns zoned timestamps into naive UTC; so do we.
            stamp = stamp.replace(tzinfo=dt.timezone.utc)
        return stamp

    def offset(self, node: yaml.Node, where: str) -> dt.timedelta | None:
        """A relative time such as +14m59s, or None when it is not one."""
        if not isinstance(node, yaml.ScalarNode):
            self.fail(node, where, "must be a single value")
        raw = str(node.value).strip()
        match = _OFFSET.match(raw)
        if not match or raw in ("+", "-"):
            return None
        delta = _parts(match)
        return -delta if match["sign"] == "-" else delta

    def duration(self, node: yaml.Node, where: str) -> dt.timedelta:
        raw = self.text(node, where)
        match = _DURATION.match(raw)
        if not match or not any(match.groupdict().values()):
            self.fail(
                node,
                where,
                f"{raw!r} is not a duration; write it as 1d2h3m4s (any of the parts)",
            )
        return _parts(match)


def _iso(value: Any) -> str:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def _parts(match: re.Match[str]) -> dt.timedelta:
    return dt.timedelta(
        days=int(match["d"] or 0),
        hours=int(match["h"] or 0),
        minutes=int(match["m"] or 0),
        seconds=int(match["s"] or 0),
    )


def _canonical_inet(value: Any) -> str:
    """An address or network as ``a.b.c.d/len``, for comparison.

    IPv4-mapped IPv6 addresses become IPv4, as pgwarden stores them.
    """
    iface = ipaddress.ip_interface(str(value).strip())
    if (
        isinstance(iface, ipaddress.IPv6Interface)
        and iface.ip.ipv4_mapped
        and iface.network.prefixlen == 128
    ):
        return f"{iface.ip.ipv4_mapped}/32"
    return str(iface)


SCENARIO_KEYS = (
    "name",
    "description",
    "start",
    "rules",
    "tables",
    "setup",
    "events",
    "expect",
)
EVENT_KEYS = (
    "at",
    "event_type",
    "user_id",
    "ip_address",
    "metadata",
    "record_count",
    "table_name",
    "risk_score",
    "repeat",
    "every",
)
EXPECT_KEYS = ("alerts", "no_alerts", "state")
STATE_KEYS = (
    "locked_accounts",
    "unlocked_accounts",
    "blocked_addresses",
    "unblocked_addresses",
    "incidents",
)
TABLE_SENSITIVITIES = ("normal", "sensitive", "high_value")


def _scenario(reader: _Reader, node: yaml.Node) -> Scenario:
    top = reader.mapping(
        node, "", allowed=SCENARIO_KEYS, required=("name", "events", "expect")
    )
    name = reader.text(top["name"][1], "name")
    scenario = Scenario(path=reader.path, line=reader.line(node), name=name)

    if "start" in top:
        start_node = top["start"][1]
        offset = reader.offset(start_node, "start")
        if offset is not None:
            scenario.start_offset = offset
        elif reader.text(start_node, "start") != "now":
            scenario.start = reader.timestamp(start_node, "start")

    if "rules" in top:
        for rule, (key_node, value_node) in reader.mapping(
            top["rules"][1], "rules"
        ).items():
            where = f"rules.{rule}"
            cols = reader.mapping(value_node, where, allowed=RULE_COLUMNS)
            if not cols:
                reader.fail(value_node, where, "names no column to change")
            overrides: dict[str, tuple[int, Any]] = {}
            for col, (_, col_node) in cols.items():
                overrides[col] = (
                    reader.line(col_node),
                    _rule_value(reader, col, col_node, f"{where}.{col}"),
                )
            scenario.rules[rule] = overrides
            scenario.rule_lines[rule] = reader.line(key_node)

    if "tables" in top:
        for table, (_, value_node) in reader.mapping(
            top["tables"][1], "tables"
        ).items():
            where = f"tables.{table}"
            level = reader.text(value_node, where)
            if level not in TABLE_SENSITIVITIES:
                reader.fail(
                    value_node,
                    where,
                    f"{level!r} is not a "
                    "sensitivity; expected one of " + ", ".join(TABLE_SENSITIVITIES),
                )
            scenario.tables[table] = (reader.line(value_node), level)

    if "setup" in top:
        for i, item in enumerate(reader.sequence(top["setup"][1], "setup")):
            scenario.setup.append((reader.line(item), reader.text(item, f"setup[{i}]")))

    events = reader.sequence(top["events"][1], "events")
    if not events:
        reader.fail(top["events"][1], "events", "must list at least one event")
    for i, item in enumerate(events):
        scenario.events.append(_event(reader, item, f"events[{i}]"))

    expect = reader.mapping(top["expect"][1], "expect", allowed=EXPECT_KEYS)
    if not expect:
        reader.fail(
            top["expect"][1],
            "expect",
            "expects nothing; give alerts, no_alerts or state",
        )
    if "alerts" in expect:
        for i, item in enumerate(reader.sequence(expect["alerts"][1], "expect.alerts")):
            scenario.alerts.append(
                _match(reader, item, f"expect.alerts[{i}]", ALERT_MATCH, counted=True)
            )
    if "no_alerts" in expect:
        for i, item in enumerate(
            reader.sequence(expect["no_alerts"][1], "expect.no_alerts")
        ):
            scenario.no_alerts.append(
                _match(
                    reader, item, f"expect.no_alerts[{i}]", ALERT_MATCH, counted=False
                )
            )
    if "state" in expect:
        _state(reader, expect["state"][1], scenario)
    return scenario


def _rule_value(reader: _Reader, col: str, node: yaml.Node, where: str) -> Any:
    kind = RULE_COLUMNS[col]
    if kind == "boolean":
        return reader.boolean(node, where)
    if kind == "smallint":
        return reader.integer(node, where, minimum=1)
    if kind == "numeric":
        value = reader.scalar(node, where)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            reader.fail(node, where, f"must be a number, not {value!r}")
        return value
    if kind == "interval":
        raw = reader.text(node, where)
        match = _DURATION.match(raw)
        if match and any(match.groupdict().values()):
            return _parts(match)
        # Anything else is left to PostgreSQL ('15 minutes', '1 day').
        return raw
    if kind == "jsonb":
        return json.dumps(reader.json(node, where))
    if col == "severity":
        return reader.severity(node, where)
    return reader.text(node, where)


def _event(reader: _Reader, node: yaml.Node, where: str) -> Event:
    if isinstance(node, yaml.MappingNode) and any(
        getattr(key, "value", None) == "check" for key, _ in node.value
    ):
        fields = reader.mapping(node, where, allowed=("check",))
        if not reader.boolean(fields["check"][1], f"{where}.check"):
            reader.fail(fields["check"][1], f"{where}.check", "must be true")
        return Event(line=reader.line(node), fields={}, check=True)
    fields = reader.mapping(
        node, where, allowed=EVENT_KEYS, required=("at", "event_type")
    )
    event = Event(line=reader.line(node), fields={})
    at_node = fields["at"][1]
    offset = reader.offset(at_node, f"{where}.at")
    if offset is not None:
        event.offset = offset
    else:
        event.absolute = reader.timestamp(at_node, f"{where}.at")
    for key, (_, value_node) in fields.items():
        sub = f"{where}.{key}"
        if key == "at":
            continue
        if key == "repeat":
            event.repeat = reader.integer(value_node, sub, minimum=1)
        elif key == "every":
            event.every = reader.duration(value_node, sub)
        elif key in ("record_count", "risk_score"):
            event.fields[key] = reader.integer(value_node, sub, minimum=0)
        elif key == "metadata":
            if not isinstance(value_node, yaml.MappingNode):
                reader.fail(value_node, sub, "must be a mapping")
            event.fields[key] = reader.json(value_node, sub)
        else:
            event.fields[key] = reader.text(value_node, sub)
    if "every" in fields and event.repeat == 1:
        reader.fail(fields["every"][0], f"{where}.every", "needs repeat: more than 1")
    return event


def _match(
    reader: _Reader,
    node: yaml.Node,
    where: str,
    columns: dict[str, str],
    *,
    counted: bool,
) -> Match:
    allowed = [*columns, "count"] if counted else list(columns)
    fields = reader.mapping(node, where, allowed=allowed, required=("rule",))
    match = Match(line=reader.line(node), columns={})
    for key, (_, value_node) in fields.items():
        sub = f"{where}.{key}"
        if key == "count":
            match.count = _count(reader, value_node, sub)
            continue
        kind = columns[key]
        if kind == "severity":
            match.columns[key] = reader.severity(value_node, sub)
        elif kind == "int":
            match.columns[key] = reader.integer(value_node, sub)
        elif kind == "inet":
            match.columns[key] = reader.address(value_node, sub)
        else:
            match.columns[key] = reader.text(value_node, sub)
    return match


def _count(reader: _Reader, node: yaml.Node, where: str) -> Count:
    raw = reader.text(node, where)
    found = _COUNT.match(raw)
    if not found:
        reader.fail(
            node,
            where,
            f"{raw!r} is not a count; write 2 (exactly), 'exactly 2' or 'at least 2'",
        )
    op = found["op"] or "exactly"
    return Count(int(found["n"]), exact=op not in ("at least", ">="))


def _state(reader: _Reader, node: yaml.Node, scenario: Scenario) -> None:
    state = reader.mapping(node, "expect.state", allowed=STATE_KEYS)
    kinds = {
        "locked_accounts": ("account", True),
        "unlocked_accounts": ("account", False),
        "blocked_addresses": ("address", True),
        "unblocked_addresses": ("address", False),
    }
    for key, (kind, expected) in kinds.items():
        if key not in state:
            continue
        where = f"expect.state.{key}"
        for i, item in enumerate(reader.sequence(state[key][1], where)):
            value = reader.text(item, f"{where}[{i}]")
            scenario.states.append(StateCheck(reader.line(item), kind, value, expected))
    if "incidents" in state:
        where = "expect.state.incidents"
        for i, item in enumerate(reader.sequence(state["incidents"][1], where)):
            incident = _match(
                reader, item, f"{where}[{i}]", INCIDENT_MATCH, counted=True
            )
            incident.columns.setdefault("status", "open")
            scenario.incidents.append(incident)


def loads(text: str, path: str = "<string>") -> list[Scenario]:
    """Parse the scenarios of a YAML text; raise :class:`ScenarioError`."""
    reader = _Reader(path)
    try:
        documents = [
            doc
            for doc in yaml.compose_all(text, Loader=yaml.SafeLoader)
            if doc is not None
        ]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise ScenarioError(path, line, "", f"not valid YAML: {exc.problem}") from exc
    except yaml.YAMLError as exc:
        raise ScenarioError(path, None, "", f"not valid YAML: {exc}") from exc
    if not documents:
        raise ScenarioError(path, None, "", "holds no scenario")
    scenarios = [_scenario(reader, doc) for doc in documents]
    names: dict[str, int] = {}
    for scenario in scenarios:
        if scenario.name in names:
            raise ScenarioError(
                path,
                scenario.line,
                "name",
                f"{scenario.name!r} is already the name of "
                f"the scenario at line {names[scenario.name]}",
            )
        names[scenario.name] = scenario.line
    return scenarios


def load_file(path: str | Path) -> list[Scenario]:
    """Load the scenarios of one file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(str(path), None, "", f"cannot be read: {exc}") from exc
    return loads(text, str(path))


def is_scenario_file(path: Path) -> bool:
    """True for YAML files with ``scenario`` in their name."""
    return path.suffix in (".yaml", ".yml") and "scenario" in path.name.lower()


def find_files(paths: Sequence[str | Path]) -> list[Path]:
    """Expand folders into the scenario files they hold, sorted.

    A file given by name is taken whatever its name; in a folder, only
    ``*.yaml``/``*.yml`` files with ``scenario`` in their name are.
    """
    found: list[Path] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found.extend(
                sorted(
                    p for p in path.rglob("*") if p.is_file() and is_scenario_file(p)
                )
            )
        else:
            found.append(path)
    return found


# ---------------------------------------------------------------------------
# Running


@dataclass
class Finding:
    """One unmet expectation: what was expected and what was found."""

    line: int
    expected: str
    actual: str


@dataclass
class ScenarioResult:
    """The outcome of one scenario."""

    scenario: Scenario
    start: dt.datetime | None = None
    failures: list[Finding] = field(default_factory=list)
    error: PgwardenError | None = None
    alerts: list[dict[str, Any]] = field(default_factory=list)
    #: Name of the database the scenario ran in, when known.
    database: str | None = None

    @property
    def passed(self) -> bool:
        """True when every expectation held and nothing went wrong."""
        return self.error is None and not self.failures

    @property
    def status(self) -> str:
        """PASS, FAIL or ERROR."""
        if self.error is not None:
            return "ERROR"
        return "FAIL" if self.failures else "PASS"

    def headline(self) -> str:
        """One line: status, name and where the scenario is."""
        return f"{self.status:5} {self.scenario.name} ({self.scenario.location})"

    def report(self) -> str:
        """The headline, and on failure what was expected and found."""
        lines = [self.headline()]
        if isinstance(self.error, ScenarioError):
            where = f"{self.error.where}: " if self.error.where else ""
            sqlstate = f"[{self.error.sqlstate}] " if self.error.sqlstate else ""
            hint = f" (hint: {self.error.hint})" if self.error.hint else ""
            lines.append(
                f"      line {self.error.line}: {where}{sqlstate}"
                f"{self.error.problem}{hint}"
            )
            return "\n".join(lines)
        if self.error is not None:
            lines.append(f"      {self.error.one_line()}")
            return "\n".join(lines)
        for finding in self.failures:
            lines.append(f"    - expected (line {finding.line}): {finding.expected}")
            lines.append(f"    + found: {finding.actual}")
        if self.failures and not self.alerts:
            lines.append("      alerts after the run: none")
        elif self.failures:
            lines.append(f"      alerts after the run ({len(self.alerts)}):")
            for alert in self.alerts:
                lines.append(f"        {describe_alert(alert, self.start)}")
        return "\n".join(lines)


def _relative(moment: dt.datetime | None, start: dt.datetime | None) -> str:
    if moment is None:
        return "?"
    if start is None:
        return moment.isoformat()
    delta = moment - start
    sign = "-" if delta < dt.timedelta(0) else "+"
    seconds = int(abs(delta).total_seconds())
    days, seconds = divmod(seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    parts = [
        f"{v}{u}"
        for v, u in ((days, "d"), (hours, "h"), (minutes, "m"), (seconds, "s"))
        if v
    ]
    return sign + ("".join(parts) or "0s")


def describe_alert(alert: dict[str, Any], start: dt.datetime | None = None) -> str:
    """One alert as a line: id, rule, severity, actor, counts, times."""
    parts = [f"#{alert.get('id')}", str(alert.get("rule")), str(alert.get("severity"))]
    for key in ("user_id", "ip_address", "status"):
        if alert.get(key) is not None:
            parts.append(f"{key}={alert[key]}")
    parts.append(f"event_count={alert.get('event_count')}")
    if alert.get("record_count") is not None:
        parts.append(f"record_count={alert['record_count']}")
    parts.append(
        f"{_relative(alert.get('first_seen'), start)}.."
        f"{_relative(alert.get('last_seen'), start)}"
    )
    return " ".join(parts)


def _matches(row: dict[str, Any], columns: dict[str, Any]) -> bool:
    for key, wanted in columns.items():
        have = row.get(key)
        if have is None:
            return False
        if key == "ip_address":
            if _canonical_inet(have) != wanted:
                return False
        elif isinstance(wanted, int):
            if int(have) != wanted:
                return False
        elif str(have) != str(wanted):
            return False
    return True


def _fail(
    scenario: Scenario, line: int, where: str, exc: psycopg.Error
) -> ScenarioError:
    err = from_database(exc)
    return ScenarioError(
        scenario.path, line, where, err.message, sqlstate=err.sqlstate, hint=err.hint
    )


def _check_rule_ids(conn: psycopg.Connection, scenario: Scenario) -> None:
    rows = conn.execute("SELECT rule FROM warden.detection_rules").fetchall()
    known = {row["rule"] for row in rows}
    for line, where, rule in scenario.referenced_rules():
        if rule not in known:
            raise ScenarioError(
                scenario.path,
                line,
                where,
                f"{rule!r} is not a rule of warden.detection_rules",
                hint="known rules: " + ", ".join(sorted(known)),
            )


def _prepare(conn: psycopg.Connection, scenario: Scenario) -> None:
    for rule, overrides in scenario.rules.items():
        for col, (line, value) in overrides.items():
            query = sql.SQL(
                "UPDATE warden.detection_rules SET {} = %s::{} WHERE rule = %s"
            ).format(sql.Identifier(col), sql.SQL(RULE_COLUMNS[col]))
            try:
                conn.execute(query, (value, rule))
            except psycopg.Error as exc:
                raise _fail(scenario, line, f"rules.{rule}.{col}", exc) from exc
    for table, (line, level) in scenario.tables.items():
        try:
            conn.execute(
                "INSERT INTO warden.table_sensitivity (table_name, sensitivity)"
                " VALUES (%s, %s) ON CONFLICT (table_name)"
                " DO UPDATE SET sensitivity = EXCLUDED.sensitivity",
                (table, level),
            )
        except psycopg.Error as exc:
            raise _fail(scenario, line, f"tables.{table}", exc) from exc
    for i, (line, statement) in enumerate(scenario.setup):
        try:
            conn.execute(statement.encode("utf-8"))
        except psycopg.Error as exc:
            raise _fail(scenario, line, f"setup[{i}]", exc) from exc


def _number(value: Any, n: int) -> Any:
    """Replace ``{n}`` in the strings of a value by the repetition number."""
    if isinstance(value, str):
        return value.replace("{n}", str(n))
    if isinstance(value, dict):
        return {k: _number(v, n) for k, v in value.items()}
    if isinstance(value, list):
        return [_number(v, n) for v in value]
    return value


def _detect(
    conn: psycopg.Connection, scenario: Scenario, line: int, where: str
) -> None:
    """Run the scheduled detection once."""
    try:
        conn.execute(
            "SELECT * FROM warden.check_customer_data_access_alerts()"
        ).fetchall()
    except psycopg.Error as exc:
        raise _fail(scenario, line, where, exc) from exc


def _report_events(
    conn: psycopg.Connection, scenario: Scenario, start: dt.datetime
) -> None:
    for i, event in enumerate(scenario.events):
        if event.check:
            _detect(conn, scenario, event.line, f"events[{i}].check")
            continue
        for n, moment in enumerate(event.times(start), start=1):
            args = {k: _number(v, n) for k, v in event.fields.items()}
            if "metadata" in args:
                args["metadata"] = json.dumps(args["metadata"])
            names = [k for k in args if k != "event_type"]
            query = sql.SQL(
                "SELECT warden.log_event(%(event_type)s{}, "
                "created_at => %(created_at)s)"
            ).format(
                sql.SQL("").join(
                    sql.SQL(", {} => {}").format(sql.Identifier(k), sql.Placeholder(k))
                    for k in names
                )
            )
            args["created_at"] = moment
            try:
                conn.execute(query, args)
            except psycopg.Error as exc:
                raise _fail(scenario, event.line, f"events[{i}]", exc) from exc


def _judge(
    conn: psycopg.Connection, scenario: Scenario, result: ScenarioResult
) -> None:
    alerts = result.alerts
    for match in scenario.alerts:
        hits = [a for a in alerts if _matches(a, match.columns)]
        if not match.count.accepts(len(hits)):
            actual = (
                ", ".join(describe_alert(a, result.start) for a in hits)
                if hits
                else "no such alert"
            )
            result.failures.append(
                Finding(
                    match.line,
                    f"{match.count} alert {match.describe()}",
                    f"{len(hits)}: {actual}" if hits else actual,
                )
            )
    for match in scenario.no_alerts:
        for alert in alerts:
            if _matches(alert, match.columns):
                result.failures.append(
                    Finding(
                        match.line,
                        f"no alert {match.describe()}",
                        describe_alert(alert, result.start),
                    )
                )
    for i, check in enumerate(scenario.states):
        function = (
            "warden.is_account_locked"
            if check.kind == "account"
            else "warden.is_ip_blocked"
        )
        try:
            state = conn.execute(
                sql.SQL("SELECT {}(%s) AS state").format(sql.SQL(function)),
                (check.value,),
            ).fetchone()["state"]
        except psycopg.Error as exc:
            raise _fail(scenario, check.line, f"expect.state[{i}]", exc) from exc
        if bool(state) != check.expected:
            word = "locked" if check.kind == "account" else "blocked"
            result.failures.append(
                Finding(
                    check.line,
                    f"{check.kind} {check.value} {'' if check.expected else 'not '}"
                    f"{word}",
                    f"{function}({check.value!r}) returned {state}",
                )
            )
    if scenario.incidents:
        try:
            incidents = conn.execute(
                "SELECT * FROM warden.incidents ORDER BY id"
            ).fetchall()
        except psycopg.Error as exc:
            raise _fail(
                scenario, scenario.incidents[0].line, "expect.state.incidents", exc
            ) from exc
        for match in scenario.incidents:
            hits = [r for r in incidents if _matches(r, match.columns)]
            if not match.count.accepts(len(hits)):
                found = (
                    "; ".join(
                        f"{r.get('reference')} {r.get('rule')} {r.get('severity')}"
                        f" {r.get('status')} user_id={r.get('user_id')}"
                        for r in incidents
                    )
                    or "no incidents at all"
                )
                result.failures.append(
                    Finding(
                        match.line,
                        f"{match.count} incident {match.describe()}",
                        f"{len(hits)} matching; incidents: {found}",
                    )
                )


def run_scenario(conn: psycopg.Connection, scenario: Scenario) -> ScenarioResult:
    """Run one scenario in a database of its own and judge its expectations.

    ``conn`` must be in autocommit mode, on a database with pgwarden
    installed where nothing has happened yet: each event is reported in a
    transaction of its own, as an application would, so that real-time
    rules see them one by one. Problems with the scenario itself (an
    unknown rule, an event the database refuses) end up in
    ``result.error``; unmet expectations in ``result.failures``.
    """
    result = ScenarioResult(scenario)
    row_factory = conn.row_factory
    conn.row_factory = dict_row  # type: ignore[assignment]
    try:
        _check_rule_ids(conn, scenario)
        _prepare(conn, scenario)
        # Taken after the setup, so that events at +0s come after any lock
        # or block the setup made.
        now = conn.execute("SELECT now() AS now").fetchone()["now"]
        start = scenario.start if scenario.start is not None else now
        result.start = start + scenario.start_offset
        _report_events(conn, scenario, result.start)
        _detect(conn, scenario, scenario.line, "detection")
        try:
            result.alerts = conn.execute(
                "SELECT * FROM warden.alerts ORDER BY id"
            ).fetchall()
        except psycopg.Error as exc:
            raise _fail(scenario, scenario.line, "alerts", exc) from exc
        _judge(conn, scenario, result)
    except PgwardenError as exc:
        result.error = exc
    finally:
        conn.row_factory = row_factory
    return result


class ThrowawayDatabases:
    """Fresh pgwarden databases on a server, one per scenario.

    pgwarden is installed once into a template database; each
    :meth:`database` is a clone of it (``CREATE DATABASE ... TEMPLATE``),
    dropped afterwards. Every database is named ``pgwarden_scenario_*``.
    The role of ``server_dsn`` needs CREATEDB.

    ``template`` names an existing database with pgwarden installed to
    clone instead (no other session may be connected to it); it is neither
    changed nor dropped.
    """

    def __init__(self, server_dsn: str, *, template: str | None = None) -> None:
        self.server_dsn = server_dsn
        self.template: str | None = template
        self._own_template = template is None
        #: Databases kept for inspection instead of dropped.
        self.kept: set[str] = set()

    def _admin(self) -> str:
        params = conninfo_to_dict(self.server_dsn)
        params.setdefault("dbname", "postgres")
        return make_conninfo(**params)

    def dsn_of(self, dbname: str) -> str:
        """The connection string of one database of the server."""
        params = conninfo_to_dict(self.server_dsn)
        params["dbname"] = dbname
        return make_conninfo(**params)

    def _create(self, name: str, template: str | None = None) -> None:
        query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            query += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        with psycopg.connect(self._admin(), autocommit=True) as conn:
            try:
                conn.execute(query)
            except psycopg.errors.InsufficientPrivilege as exc:
                raise ConfigurationError(
                    "the role may not create the throwaway databases of scenario runs",
                    sqlstate=exc.diag.sqlstate,
                    hint="connect as a role with CREATEDB (ALTER ROLE ... "
                    "CREATEDB), or give no --dsn to use an embedded server",
                ) from exc

    def _drop(self, name: str) -> None:
        with psycopg.connect(self._admin(), autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(name)
                )
            )

    def open(self) -> None:
        """Create the template and install pgwarden into it."""
        if self.template is not None:
            return
        name = f"{DATABASE_PREFIX}{secrets.token_hex(6)}_template"
        self._create(name)
        self.template = name
        self._own_template = True
        log.debug("installing pgwarden into template %s", name)
        install.apply(self.dsn_of(name))

    def close(self) -> None:
        """Drop the template, if this object created it."""
        if self.template is not None and self._own_template:
            self._drop(self.template)
            self.template = None

    def __enter__(self) -> ThrowawayDatabases:
        try:
            self.open()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def database(self) -> Iterator[str]:
        """Yield the DSN of a fresh pgwarden database; drop it afterwards."""
        self.open()
        name = f"{DATABASE_PREFIX}{secrets.token_hex(6)}"
        self._create(name, self.template)
        try:
            yield self.dsn_of(name)
        finally:
            if name not in self.kept:
                self._drop(name)

    def run(self, scenario: Scenario, *, keep_failed: bool = False) -> ScenarioResult:
        """Run one scenario in a database of its own.

        With ``keep_failed``, the database of a scenario that does not pass
        is kept for inspection; its name is in ``result.database``.
        """
        with self.database() as dsn:
            with psycopg.connect(
                dsn, autocommit=True, application_name="pgwarden test-rules"
            ) as conn:
                result = run_scenario(conn, scenario)
            result.database = conninfo_to_dict(dsn)["dbname"]
            if keep_failed and not result.passed:
                self.kept.add(str(result.database))
            return result
