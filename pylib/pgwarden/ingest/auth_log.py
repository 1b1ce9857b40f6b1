"""Linux ``auth.log`` and sshd syslog lines.

What becomes an event:

- ``Accepted <method> for USER from ADDR``: ``login_success``.
- ``Failed <method> for [invalid user] USER from ADDR`` (password,
  keyboard-interactive, none, hostbased, publickey for an invalid user),
  PAM ``Authentication failure for USER from HOST``: ``login_failed`` with
  the attempted name as user_id and in ``metadata.attempted_user``.
  ``message repeated N times: [ ... ]`` gives N events.
- ``Failed publickey`` for a valid user is a client trying its keys in
  turn: it becomes a failed login only when the connection then gives up
  (``Too many authentication failures``), never when a key is accepted.
- sshd refusals (``Invalid user``, ``User X not allowed``, ``ROOT LOGIN
  REFUSED``, ``refused connect``): ``permission_denied`` with the reason.
  They are not failed logins: sshd logs the failed attempt of the same
  connection on its own line, which is counted once.
- Summaries that end a connection (too many failures, maximum attempts
  exceeded, ``Auth fail``): a failed login when the connection logged no
  failure of its own, else ``permission_denied``. A refusal that names no
  address takes it from the next line of the same connection.
- sudo and su: a refused privilege (not in sudoers, command not allowed,
  ``FAILED SU``) is ``privilege_escalation_attempt``; wrong sudo passwords
  are ``permission_denied``; a successful sudo or su is ``role_change``
  (the user acted as another user), with the target and the command.

Everything else is reported as skipped with its reason.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pgwarden.ingest.common import (
    Event,
    ParseOptions,
    Skipped,
    event,
    iso_time,
    numbered,
    syslog_time,
)

SYSLOG = re.compile(
    r"^(?:(?P<mon>[A-Za-z]{3})\s+(?P<day>\d{1,2})\s+"
    r"(?P<clock>\d{1,2}:\d{2}:\d{2})"
    r"|(?P<iso>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?"
    r"(?:Z|[+-]\d{2}:?\d{2})?))"
    r"\s+(?:(?P<host>[^\s\[]+)\s+)?"
    r"(?P<prog>\[[^\]]+\]|[^\s\[:]+)(?:\[(?P<pid>\d+)\])?:?\s+(?P<msg>.*)$"
)
RFC5424 = re.compile(
    r"^<\d{1,3}>\d (?P<iso>\S+) (?P<host>\S+) (?P<prog>\S+) (?P<pid>\S+) \S+ "
    r"(?P<sd>-|(?:\[(?:[^\]\"]|\"(?:[^\"\\]|\\.)*\")*\])+) ?(?P<msg>.*)$"
)
SOLARIS_ID = re.compile(r"^\[ID \d+ [\w.]+\]\s+")
REPEATED = re.compile(r"^message repeated (?P<n>\d+) times: \[\s*(?P<msg>.*?)\s*\]$")

_PORT = r"(?: port (?P<port>\d+))?"
FAILED = re.compile(
    r"^Failed (?P<method>\S+) for (?P<invalid>invalid user )?"
    r"(?P<user>[^:]*) from (?P<addr>\S+)" + _PORT + r"(?: ssh\d*)?(?P<rest>:.*)?$"
)
ACCEPTED = re.compile(
    r"^Accepted (?P<method>\S+) for (?P<user>[^:]*) from (?P<addr>\S+)"
    + _PORT
    + r"(?: ssh\d*)?(?P<rest>:.*)?$"
)
PAM_FAILURE = re.compile(
    r"^(?:error: )?PAM: (?:authentication (?:failure|error)|"
    r"user not known to the underlying authentication module) for "
    r"(?:illegal user )?(?P<user>.*?) from (?P<addr>\S+)"
    r"(?: via \S+)?\s*$",
    re.IGNORECASE,
)
INVALID_USER = re.compile(
    r"^Invalid user (?P<user>.*?) from (?P<addr>\S+)" + _PORT + r"\s*$"
)
NOT_ALLOWED = re.compile(
    r"^User (?P<user>\S+) from (?P<addr>\S+) not allowed because (?P<why>.*)$"
)
NOT_ALLOWED_NOADDR = re.compile(r"^User (?P<user>\S+) not allowed because (?P<why>.*)$")
ROOT_REFUSED = re.compile(r"^ROOT LOGIN REFUSED FROM (?P<addr>\S+)")
REFUSED_CONNECT = re.compile(
    r"^refused connect from (?:\S+ )?\(?(?P<addr>[^\s()]+)\)?\s*$"
)
CONNECTION_FROM = re.compile(r"^Connection from (?P<addr>\S+)(?: port \d+|$)")
TOO_MANY = re.compile(
    r"^(?:error: )?Disconnecting(?::| (?:invalid|authenticating) user "
    r"(?P<duser>\S*) (?P<daddr>\S+) port \d+:) Too many authentication "
    r"failures(?: for (?:invalid user )?(?P<user>\S+))?"
)
MAX_ATTEMPTS = re.compile(
    r"^(?:error: )?maximum authentication attempts exceeded for "
    r"(?P<invalid>invalid user )?(?P<user>\S*) from (?P<addr>\S+)" + _PORT
)
DISCONNECT = re.compile(
    r"^(?:error: )?Received disconnect from (?P<addr>[^\s:]+|[0-9a-fA-F:]+?)"
    r"(?: port \d+)?:\s*(?P<code>\d+): (?P<text>.*)$"
)
CHANGE_OF_USER = re.compile(
    r"^Disconnecting (?:invalid |authenticating )?user (?P<user>\S*) "
    r"(?P<addr>\S+) port \d+: Change of username or service not allowed"
)
CLOSED = re.compile(
    r"^(?:Connection (?:closed|reset) by|Disconnected from)"
    r"(?: (?:invalid|authenticating) user \S*)? (?P<addr>[0-9a-fA-F.:]+)"
    r"(?: port \d+)?"
)
PAM_UNIX_SSHD = re.compile(
    r"^pam_unix\(sshd:auth\): authentication failure;.*?"
    r"ruser=(?P<ruser>\S*) rhost=(?P<rhost>\S*)(?:\s+user=(?P<user>\S+))?"
)
SUDO_COMMAND = re.compile(
    r"^\s*(?P<user>\S+) : (?:(?P<problem>[^;]*?) ; )?TTY=(?P<tty>[^;]*?) ; "
    r"PWD=(?P<pwd>[^;]*?) ; USER=(?P<target>[^;]*?)"
    r"(?: ; GROUP=[^;]*?)?(?: ; ENV=[^;]*?)? ; COMMAND=(?P<command>.*)$"
)
SU_OK = re.compile(
    r"^(?:\(to (?P<target>\S+)\) (?P<user>\S+) on (?P<tty>\S+)"
    r"|Successful su for (?P<target2>\S+) by (?P<user2>\S+))\s*$"
)
SU_FAILED = re.compile(
    r"^(?:FAILED SU \(to (?P<target>\S+)\) (?P<user>\S+) on (?P<tty>\S+)"
    r"|FAILED su for (?P<target2>\S+) by (?P<user2>\S+))\s*$"
)
INCORRECT_PASSWORDS = re.compile(r"^(?P<n>\d+) incorrect password attempts?$")

#: Most events one ``message repeated N times`` line may stand for.
MAX_REPEAT = 10000
#: sshd reasons that end a connection in failure (code 3 "Auth fail").
AUTH_FAIL = re.compile(r"Auth fail", re.IGNORECASE)


@dataclass
class _Session:
    """What one sshd connection (host and process) has logged so far."""

    address: str | None = None
    failures: int = 0
    summarised: bool = False
    probing: list[int] = field(default_factory=list)
    pending: dict[str, Any] | None = None
    users: list[str] = field(default_factory=list)

    def reset(self) -> None:
        """Forget everything: the process serves a new connection."""
        self.address = None
        self.failures = 0
        self.summarised = False
        self.probing = []
        self.pending = None
        self.users = []


class _Parser:
    """State across lines: sshd connections by host and process id."""

    def __init__(self, options: ParseOptions) -> None:
        self.options = options
        self.sessions: dict[tuple[str, str, str], _Session] = {}

    def session(self, host: str, prog: str, pid: str | None) -> _Session:
        key = (host, prog, pid or "")
        if pid is None:
            return _Session()
        return self.sessions.setdefault(key, _Session())

    def parse(self, lines: Iterable[str]) -> Iterator[Event | Skipped]:
        for number, line in numbered(lines):
            if not line.strip():
                continue
            yield from self.parse_line(number, line)
        for session in self.sessions.values():
            yield from self.forget(session)

    def parse_line(self, number: int, line: str) -> Iterator[Event | Skipped]:
        match = SYSLOG.match(line) or RFC5424.match(line)
        if match is None:
            yield Skipped(number, "not a syslog line")
            return
        try:
            if match["iso"] and match["iso"] != "-":
                created, quality = iso_time(match["iso"], self.options)
            else:
                created, quality = syslog_time(
                    match["mon"], int(match["day"]), match["clock"], self.options
                )
        except ValueError as exc:
            yield Skipped(number, f"bad time: {exc}")
            return
        host = match["host"] or ""
        pid = match["pid"] if match["pid"] not in (None, "-") else None
        prog = match["prog"].strip("[]")
        msg = SOLARIS_ID.sub("", match["msg"]).strip()
        base = {"host": host, "program": prog}
        if pid and pid.isdigit():
            base["pid"] = int(pid)
        ctx = _Line(number, line, created, quality, base)
        if prog.startswith("sshd"):
            session = self.session(host, prog, pid)
            yield from self.sshd(ctx, msg, session)
        elif prog == "sudo":
            yield from self.sudo(ctx, msg)
        elif prog == "su":
            yield from self.su(ctx, msg)
        else:
            yield Skipped(number, f"not a security event ({prog})")

    # sshd ------------------------------------------------------------
    def sshd(
        self, ctx: _Line, msg: str, session: _Session
    ) -> Iterator[Event | Skipped]:
        repeat = REPEATED.match(msg)
        times = 1
        if repeat:
            times = int(repeat["n"])
            msg = repeat["msg"]
            if times > MAX_REPEAT:
                # A forged count must not make one line a million events.
                yield Skipped(
                    ctx.number,
                    f"message repeated {times} times (more than {MAX_REPEAT})",
                )
                return
        found = False
        for index in range(times):
            for item in self.sshd_message(ctx, msg, session):
                line = item["line"] if isinstance(item, dict) else item.line
                found = found or line == ctx.number
                if isinstance(item, dict) and times > 1:
                    item["metadata"]["repeat"] = index + 1
                    item["metadata"]["repeated"] = times
                    item["part"] = index
                yield item
            if not found:
                break
        if not found:
            yield Skipped(ctx.number, "not a security event (sshd)")

    def sshd_message(
        self, ctx: _Line, msg: str, session: _Session
    ) -> Iterator[Event | Skipped]:
        m = FAILED.match(msg)
        if m:
            yield from self.failed(ctx, m, session)
            return
        m = ACCEPTED.match(msg)
        if m:
            session.address = m["addr"]
            meta = ctx.meta(method=m["method"], port=m["port"])
            if session.probing:
                meta["keys_refused_before"] = len(session.probing)
            if session.failures:
                meta["failures_before"] = session.failures
            for line_no in session.probing:
                yield Skipped(
                    line_no,
                    "publickey offer refused, then a key was accepted "
                    "(key probing, not a failed login)",
                )
            if len(set(session.users)) > 1:
                meta["users_tried"] = sorted(set(session.users))
            session.probing = []
            yield ctx.event(
                "login_success",
                user_id=m["user"],
                ip_address=m["addr"],
                metadata=meta,
            )
            return
        m = PAM_FAILURE.match(msg)
        if m:
            session.failures += 1
            yield ctx.event(
                "login_failed",
                user_id=m["user"] or None,
                ip_address=m["addr"],
                metadata=ctx.meta(method="pam", attempted_user=m["user"]),
            )
            return
        m = INVALID_USER.match(msg)
        if m:
            session.address = m["addr"]
            yield ctx.refusal("invalid_user", m["user"], m["addr"], m["port"])
            return
        m = NOT_ALLOWED.match(msg)
        if m:
            session.address = m["addr"]
            yield ctx.refusal("not_allowed", m["user"], m["addr"], None, why=m["why"])
            return
        m = NOT_ALLOWED_NOADDR.match(msg)
        if m:
            session.pending = ctx.refusal(
                "not_allowed", m["user"], None, None, why=m["why"]
            )
            yield from self.resolve(session)
            return
        m = ROOT_REFUSED.match(msg)
        if m:
            yield ctx.refusal("root_login_refused", "root", m["addr"], None)
            return
        m = REFUSED_CONNECT.match(msg)
        if m:
            yield ctx.refusal("connection_refused", None, m["addr"], None)
            return
        m = CHANGE_OF_USER.match(msg)
        if m:
            yield ctx.refusal(
                "change_of_username_not_allowed", m["user"], m["addr"], None
            )
            return
        m = MAX_ATTEMPTS.match(msg)
        if m:
            session.address = m["addr"]
            yield from self.summary(
                ctx, session, "maximum_attempts_exceeded", m["user"]
            )
            return
        m = TOO_MANY.match(msg)
        if m:
            if m["daddr"]:
                session.address = m["daddr"]
            yield from self.summary(
                ctx,
                session,
                "too_many_authentication_failures",
                m["user"] or m["duser"],
            )
            return
        m = DISCONNECT.match(msg)
        if m:
            session.address = m["addr"]
            if session.pending is None and AUTH_FAIL.search(m["text"]):
                yield from self.summary(ctx, session, "client_auth_fail", None)
            else:
                yield from self.resolve(session, ctx)
            # The client left: the next line of this process is another
            # connection's.
            yield from self.forget(session)
            return
        m = CONNECTION_FROM.match(msg)
        if m:
            # A new connection: whatever this process logged before was
            # another connection's.
            yield from self.forget(session)
            session.address = m["addr"]
            return
        m = CLOSED.match(msg)
        if m:
            session.address = m["addr"]
            yield from self.resolve(session, ctx)
            yield from self.forget(session)
            return
        m = PAM_UNIX_SSHD.match(msg)
        if m:
            user = m["user"] or m["ruser"]
            if user:
                if session.users and user not in session.users:
                    session.users.append(user)
                    yield ctx.refusal(
                        "user_changed_in_session",
                        user,
                        m["rhost"] or session.address,
                        None,
                        users=list(dict.fromkeys(session.users)),
                    )
                    return
                session.users.append(user)

    def failed(
        self, ctx: _Line, m: re.Match[str], session: _Session
    ) -> Iterator[Event]:
        session.address = m["addr"]
        user = m["user"]
        invalid = bool(m["invalid"]) or user == "<invalid username>"
        if user == "<invalid username>":
            user = None
        if m["method"] == "publickey" and not invalid:
            # A client offers its keys one after the other; a refused key
            # is a failure only if no key is finally accepted.
            session.probing.append(ctx.number)
            return
        session.failures += 1
        meta = ctx.meta(method=m["method"], port=m["port"])
        if invalid:
            meta["invalid_user"] = True
        if user is not None:
            meta["attempted_user"] = user
        yield ctx.event(
            "login_failed",
            user_id=user,
            ip_address=m["addr"],
            metadata=meta,
        )

    def summary(
        self, ctx: _Line, session: _Session, reason: str, user: str | None
    ) -> Iterator[Event | Skipped]:
        if session.summarised:
            return
        session.summarised = True
        if session.failures and not session.probing:
            kind = "permission_denied"
        else:
            kind = "login_failed"
        meta = ctx.meta(reason=reason)
        if user:
            meta["attempted_user"] = user
        if session.probing:
            meta["keys_refused"] = len(session.probing)
            meta["key_lines"] = session.probing
            session.probing = []
        pending = ctx.event(
            kind,
            user_id=user or None,
            ip_address=session.address,
            metadata=meta,
        )
        if kind == "login_failed":
            session.failures += 1
        session.pending = pending
        yield from self.resolve(session)

    def resolve(self, session: _Session, ctx: _Line | None = None) -> Iterator[Event]:
        """Emit a held event once its connection's address is known."""
        pending = session.pending
        if pending is None or session.address is None:
            return
        session.pending = None
        if pending["ip_address"] is None:
            pending["ip_address"] = session.address
            if ctx is not None:
                # The event is told at the line that gave the address.
                pending["metadata"]["refused_at_line"] = pending["line"]
                pending["line"] = ctx.number
                pending["record"] = ctx.record
                pending["created_at"] = ctx.created
        yield pending

    def forget(self, session: _Session) -> Iterator[Skipped]:
        """Reset a connection's state, reporting what it leaves behind."""
        for line_no in session.probing:
            yield Skipped(
                line_no,
                "publickey offer refused and no failure followed "
                "(key probing, not a failed login)",
            )
        if session.pending is not None:
            yield Skipped(session.pending["line"], "refusal without a client address")
        session.reset()

    # sudo and su ------------------------------------------------------
    def sudo(self, ctx: _Line, msg: str) -> Iterator[Event | Skipped]:
        m = SUDO_COMMAND.match(msg)
        if m is None:
            yield Skipped(ctx.number, "not a security event (sudo)")
            return
        meta = ctx.meta(
            mechanism="sudo",
            target_user=m["target"],
            command=m["command"][:1000],
            tty=m["tty"],
        )
        problem = (m["problem"] or "").strip()
        if not problem:
            yield ctx.event("role_change", user_id=m["user"], metadata=meta)
            return
        meta["problem"] = problem
        wrong = INCORRECT_PASSWORDS.match(problem)
        if wrong:
            meta["attempts"] = int(wrong["n"])
            yield ctx.event("permission_denied", user_id=m["user"], metadata=meta)
            return
        yield ctx.event(
            "privilege_escalation_attempt", user_id=m["user"], metadata=meta
        )

    def su(self, ctx: _Line, msg: str) -> Iterator[Event | Skipped]:
        m = SU_FAILED.match(msg)
        kind = "privilege_escalation_attempt"
        if m is None:
            m = SU_OK.match(msg)
            kind = "role_change"
        if m is None:
            yield Skipped(ctx.number, "not a security event (su)")
            return
        user = m["user"] or m["user2"]
        target = m["target"] or m["target2"]
        meta = ctx.meta(mechanism="su", target_user=target)
        if m.groupdict().get("tty"):
            meta["tty"] = m["tty"]
        yield ctx.event(kind, user_id=user, metadata=meta)


@dataclass
class _Line:
    """One parsed syslog line: number, text, time and common metadata."""

    number: int
    record: str
    created: dt.datetime
    quality: list[str]
    base: dict[str, Any]

    def meta(self, **extra: Any) -> dict[str, Any]:
        values = dict(self.base)
        values.update({k: v for k, v in extra.items() if v is not None})
        if "port" in values:
            values["port"] = int(values["port"])
        return values

    def event(self, event_type: str, **kwargs: Any) -> Event:
        address = kwargs.pop("ip_address", None)
        meta = kwargs.pop("metadata", None) or self.meta()
        if address is not None and not _is_numeric(address):
            meta["remote_host"] = address
            address = None
        return event(
            self.number,
            self.record,
            event_type,
            created_at=self.created,
            ip_address=address,
            metadata=meta,
            quality=self.quality,
            **kwargs,
        )

    def refusal(
        self,
        reason: str,
        user: str | None,
        address: str | None,
        port: str | None,
        **extra: Any,
    ) -> Event:
        meta = self.meta(reason=reason, port=port, **extra)
        if user is not None:
            meta["attempted_user"] = user
        return self.event(
            "permission_denied",
            user_id=user or None,
            ip_address=address,
            metadata=meta,
        )


_NUMERIC = re.compile(r"^[0-9A-Fa-f:.]+(/\d+)?$")


def _is_numeric(address: str) -> bool:
    """True for an address written in digits (v4 or v6), not a host name."""
    return bool(_NUMERIC.match(address)) and any(c.isdigit() for c in address)


def parse(lines: Iterable[str], options: ParseOptions) -> Iterator[Event | Skipped]:
    """Read auth.log / sshd syslog lines into events and skips."""
    return _Parser(options).parse(lines)
