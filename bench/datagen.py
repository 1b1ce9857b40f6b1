"""Realistic security events for the pgwarden benchmark.

Background users keep daily rhythms: each signs in from one network of
their own at the start of a working day in their time zone, reads
customer records through the day, exports a few records now and then,
mistypes a password now and then (about 5% of all events are failed
logins, half of them internet noise against unknown account names from
addresses seen once), and signs out. Nothing they do should raise an
alert.

Attackers are injected into the last 24 hours, one per rule id of the
specification, each with the user or address that rule must flag, so that
recall is found / injected and every alert about anyone else is a false
positive.

Events come out as lines of PostgreSQL's COPY text format for the columns
``COPY_COLUMNS``, sorted by event time.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import datetime, timezone

COPY_COLUMNS = (
    "user_id",
    "event_type",
    "metadata",
    "risk_score",
    "created_at",
    "ip_address",
    "table_name",
    "record_count",
    "source",
)

#: Default risk score of the built-in event types (warden.event_types).
RISK = {
    "login_success": 1,
    "login_failed": 2,
    "logout": 1,
    "customer_data_access": 2,
    "customer_data_bulk_export": 3,
    "customer_data_modify": 2,
    "privilege_escalation_attempt": 4,
}

#: Logical customer tables the application reports on, with sensitivity.
TABLES = {
    "public.customers": "normal",
    "public.orders": "normal",
    "public.customer_notes": "sensitive",
    "public.payment_cards": "high_value",
}

#: Application roles: name -> (high-value clearance, {table: actions}).
APP_ROLES = {
    "support": (
        False,
        {
            "public.customers": ["read", "export", "update"],
            "public.orders": ["read"],
        },
    ),
    "manager": (True, {"*": ["*"]}),
    "viewer": (False, {"public.customers": ["read"]}),
}

HIGH_VALUE_CUSTOMERS = ("c-vip-1", "c-vip-2", "c-vip-3")

USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Firefox/121.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0",
)


@dataclass(frozen=True)
class Expected:
    """One injected attack: the rule and the subject it must flag."""

    rule: str
    user_id: str | None = None
    ip_address: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        """The attack as JSON."""
        return {"rule": self.rule, "user_id": self.user_id, "ip": self.ip_address}


@dataclass
class Dataset:
    """Events of one load step and who they are about."""

    lines: list[tuple[float, str]] = field(default_factory=list)
    background_users: list[str] = field(default_factory=list)
    user_roles: dict[str, str] = field(default_factory=dict)
    expected: list[Expected] = field(default_factory=list)
    attacker_users: set[str] = field(default_factory=set)
    attacker_addresses: set[str] = field(default_factory=set)

    def sorted_lines(self) -> list[str]:
        """The COPY lines in event-time order."""
        self.lines.sort(key=lambda item: item[0])
        return [line for _, line in self.lines]


def _escape(text: str) -> str:
    """Escape a value for COPY text format."""
    return (
        text.replace("\\", "\\\\")
        .replace("\t", "\\t")
        .replace("\n", "\\n")
        .replace("\r", "\\r")
    )


class _Writer:
    """Appends events to a dataset as COPY lines."""

    def __init__(self, data: Dataset) -> None:
        self.data = data

    def event(
        self,
        ts: float,
        event_type: str,
        *,
        user: str | None,
        ip: str | None,
        metadata: dict | None = None,
        table: str | None = None,
        records: int | None = None,
    ) -> None:
        """Add one event at epoch time ``ts``."""
        stamp = datetime.fromtimestamp(ts, timezone.utc).isoformat()
        fields = (
            _escape(user) if user is not None else "\\N",
            event_type,
            _escape(json.dumps(metadata or {}, separators=(",", ":"))),
            str(RISK[event_type]),
            stamp,
            ip if ip is not None else "\\N",
            table if table is not None else "\\N",
            str(records) if records is not None else "\\N",
            "importer",
        )
        self.data.lines.append((ts, "\t".join(fields) + "\n"))


@dataclass(frozen=True)
class _Profile:
    """The habits of one background user."""

    user: str
    role: str
    start_hour: int
    hours: int
    network: str
    ipv6: bool
    weekend: bool


def _address(profile: _Profile, rng: random.Random) -> str:
    """An address inside the user's own network."""
    if profile.ipv6:
        return f"{profile.network}{rng.randrange(1, 0xFFFF):x}"
    return f"{profile.network}{rng.randrange(2, 250)}"


def _profile(index: int, rng: random.Random) -> _Profile:
    """Habits for background user number ``index``."""
    ipv6 = index % 10 == 7
    network = (
        f"2001:db8:{index // 65536:x}:{index % 65536:x}::"
        if ipv6
        else f"10.{index // 256 % 256}.{index % 256}."
    )
    return _Profile(
        user=f"u-{index:05d}",
        role="manager" if index % 5 == 0 else "support",
        start_hour=rng.choice((6, 7, 7, 8, 8, 8, 9, 9, 13, 14)),
        hours=8,
        network=network,
        ipv6=ipv6,
        weekend=index % 12 == 0,
    )


def _active_days(profile: _Profile, day_starts: list[float]) -> list[float]:
    """Midnights (UTC) of the days on which the user works."""
    days = []
    for midnight in day_starts:
        weekday = datetime.fromtimestamp(midnight, timezone.utc).weekday()
        if weekday < 5 or profile.weekend:
            days.append(midnight)
    return days


def _background_user(
    out: _Writer,
    profile: _Profile,
    day_starts: list[float],
    per_day: float,
    end: float,
    rng: random.Random,
) -> None:
    """Write one background user's working days."""
    agent = rng.choice(USER_AGENTS)
    for midnight in _active_days(profile, day_starts):
        begin = midnight + profile.start_hour * 3600
        finish = begin + profile.hours * 3600
        if begin + 600 > end:
            continue
        finish = min(finish, end)
        span = finish - begin
        # A day cut short by the end of the data gets its share of the
        # day's activity, not all of it squeezed into the part that fits:
        # that would read like a rate attack at some hours of the day.
        share = span / (profile.hours * 3600)
        ip = _address(profile, rng)
        login = begin + rng.uniform(0, 300)
        out.event(
            login,
            "login_success",
            user=profile.user,
            ip=ip,
            metadata={"user_agent": agent, "method": "password"},
        )
        # Mistyped passwords: each failure is followed by a success.
        for _ in range(_poisson(rng, per_day * 0.025 * share)):
            when = begin + rng.uniform(600, max(span - 600, 601))
            out.event(
                when,
                "login_failed",
                user=profile.user,
                ip=ip,
                metadata={"reason": "bad_password", "user_agent": agent},
            )
            out.event(
                when + rng.uniform(5, 60),
                "login_success",
                user=profile.user,
                ip=ip,
                metadata={"user_agent": agent, "method": "password"},
            )
        operations = max(1, _poisson(rng, per_day * 0.9 * share))
        for _ in range(operations):
            when = login + 30 + rng.uniform(0, span - 400)
            roll = rng.random()
            if roll < 0.06:
                out.event(
                    when,
                    "customer_data_modify",
                    user=profile.user,
                    ip=ip,
                    metadata={
                        "operation": "update",
                        "customer_id": f"c-{rng.randrange(1, 200000)}",
                    },
                    table="public.customers",
                    records=1,
                )
                continue
            table = "public.customers" if roll < 0.75 else "public.orders"
            if profile.role == "manager" and roll > 0.98:
                table = "public.payment_cards"
            out.event(
                when,
                "customer_data_access",
                user=profile.user,
                ip=ip,
                metadata={
                    "customer_id": f"c-{rng.randrange(1, 200000)}",
                    "app": "crm",
                },
                table=table,
                records=rng.choice((1, 1, 1, 2, 5)),
            )
        # At most one small export a day: no 24-hour window exceeds 50.
        if rng.random() < 0.3 * share:
            out.event(
                login + 60 + rng.uniform(0, span - 600),
                "customer_data_bulk_export",
                user=profile.user,
                ip=ip,
                metadata={"format": "csv", "app": "crm"},
                table="public.customers",
                records=rng.randrange(1, 21),
            )
        out.event(
            finish - rng.uniform(5, 120),
            "logout",
            user=profile.user,
            ip=ip,
        )


def _poisson(rng: random.Random, mean: float) -> int:
    """A Poisson-distributed count (normal approximation for large means)."""
    if mean > 30:
        return max(0, round(rng.gauss(mean, mean**0.5)))
    threshold = pow(2.718281828459045, -mean)
    count, product = 0, rng.random()
    while product > threshold:
        count += 1
        product *= rng.random()
    return count


def _noise(
    out: _Writer, count: int, start: float, end: float, rng: random.Random
) -> None:
    """Failed logins against unknown names from addresses seen once."""
    for _ in range(count):
        a, b, c = rng.randrange(64, 128), rng.randrange(256), rng.randrange(256)
        out.event(
            rng.uniform(start, end),
            "login_failed",
            user=None,
            ip=f"100.{a}.{b}.{c}",
            metadata={
                "attempted_user": f"guess-{rng.randrange(100000)}",
                "reason": "unknown_user",
                "user_agent": "python-requests/2.31",
            },
        )


def background(
    *,
    first_user: int,
    users: int,
    events: int,
    days: int,
    end: float,
    seed: int,
) -> Dataset:
    """Background users ``first_user`` .. ``first_user + users - 1``.

    ``events`` is the number of events to aim for over ``days`` days
    ending at ``end`` (epoch seconds).
    """
    rng = random.Random(seed)
    data = Dataset()
    out = _Writer(data)
    first_midnight = (end // 86400 - days) * 86400
    day_starts = [first_midnight + 86400 * d for d in range(days + 1)]
    profiles = [_profile(first_user + i, rng) for i in range(users)]
    active = sum(len(_active_days(p, day_starts)) for p in profiles)
    # Per active day: ~0.9 operations, 2.5% mistyped passwords (each with
    # a second login), one login, one logout, 0.3 exports, per unit.
    noise = round(events * 0.025)
    per_day = max(4.0, (events - noise - active * 2.3) / max(active, 1) / 0.95)
    for profile in profiles:
        data.background_users.append(profile.user)
        data.user_roles[profile.user] = profile.role
        _background_user(out, profile, day_starts, per_day, end, rng)
    _noise(out, noise, day_starts[0], end, rng)
    return data


def _history(
    out: _Writer,
    user: str,
    network: str,
    *,
    start_hour: int,
    days: int,
    end: float,
    rng: random.Random,
) -> None:
    """Every day of ``days`` before the last: login and reads at fixed hours."""
    last_midnight = (end // 86400 - 1) * 86400
    for d in range(days, 0, -1):
        begin = last_midnight - 86400 * d + start_hour * 3600
        ip = f"{network}{rng.randrange(2, 250)}"
        out.event(begin, "login_success", user=user, ip=ip)
        for _ in range(12):
            out.event(
                begin + rng.uniform(60, 6 * 3600),
                "customer_data_access",
                user=user,
                ip=ip,
                table="public.customers",
                records=1,
                metadata={"customer_id": f"c-{rng.randrange(1, 200000)}"},
            )


def attackers(*, end: float, days: int, seed: int) -> Dataset:
    """One attack per rule id, all within the 24 hours before ``end``."""
    rng = random.Random(seed)
    data = Dataset()
    out = _Writer(data)
    minute = 60.0

    def expect(rule: str, user: str | None = None, ip: str | None = None) -> None:
        data.expected.append(Expected(rule, user, ip))

    def at(hours_before: float) -> float:
        return end - hours_before * 3600

    read = "customer_data_access"
    export = "customer_data_bulk_export"
    cust = "public.customers"

    t = at(20)
    out.event(t, export, user="atk-bulk", ip="198.51.100.50", table=cust, records=500)
    expect("bulk_export", user="atk-bulk")

    t = at(19.5)
    out.event(
        t,
        export,
        user="atk-sens",
        ip="198.51.100.51",
        table="public.customer_notes",
        records=10,
    )
    expect("sensitive_export", user="atk-sens")

    t = at(19)
    for i in range(4):
        out.event(
            t + i * 30 * minute,
            export,
            user="atk-cum",
            ip="198.51.100.52",
            table=cust,
            records=20,
        )
    expect("cumulative_export", user="atk-cum")

    t = at(17)
    for i in range(3):
        out.event(
            t + i * 90,
            "privilege_escalation_attempt",
            user="atk-priv",
            ip="198.51.100.30",
            metadata={"attempted_role": "admin"},
        )
    expect("privilege_escalation_burst", user="atk-priv")

    t = at(16.5)
    out.event(
        t,
        "privilege_escalation_attempt",
        user="atk-priv1",
        ip="198.51.100.31",
        metadata={"attempted_role": "admin"},
    )
    expect("privilege_escalation_attempt", user="atk-priv1")

    # Compromise: a failed-login burst on the account, a success from the
    # same address, then customer data read.
    t = at(15)
    for i in range(7):
        out.event(
            t + i * 40,
            "login_failed",
            user="atk-comp",
            ip="192.0.2.10",
            metadata={"reason": "bad_password"},
        )
    out.event(t + 8 * minute, "login_success", user="atk-comp", ip="192.0.2.10")
    for i in range(3):
        out.event(
            t + (12 + 4 * i) * minute,
            read,
            user="atk-comp",
            ip="192.0.2.10",
            table=cust,
            records=1,
        )
    expect("compromise_with_data_access", user="atk-comp")

    t = at(14)
    out.event(
        t,
        read,
        user="atk-hv",
        ip="198.51.100.60",
        table="public.payment_cards",
        records=1,
    )
    data.user_roles["atk-hv"] = "support"
    expect("unauthorized_high_value_access", user="atk-hv")

    t = at(13.5)
    out.event(t, export, user="atk-role", ip="198.51.100.61", table=cust, records=5)
    data.user_roles["atk-role"] = "viewer"
    expect("role_violation", user="atk-role")

    t = at(12)
    for i in range(150):
        out.event(
            t + i * 18,
            read,
            user="atk-rate",
            ip="198.51.100.40",
            table=cust,
            records=1,
        )
    expect("rate_limit", user="atk-rate")

    t = at(11)
    for i in range(80):
        out.event(
            t + i * 37,
            read,
            user="atk-mod",
            ip="198.51.100.41",
            table=cust,
            records=1,
        )
    expect("moderate_rate", user="atk-mod")

    t = at(10)
    for i, ip in enumerate(("198.51.100.5", "203.0.113.5", "192.0.2.5")):
        out.event(
            t + i * 4 * minute, read, user="atk-susp", ip=ip, table=cust, records=1
        )
    expect("suspicious_activity", user="atk-susp")

    t = at(9)
    for i in range(8):
        out.event(
            t + i * 60,
            "login_failed",
            user="atk-flu",
            ip=f"192.0.2.{20 + i}",
            metadata={"reason": "bad_password"},
        )
    expect("failed_login_burst_user", user="atk-flu")

    t = at(8)
    for i in range(8):
        out.event(
            t + i * 50,
            "login_failed",
            user=None,
            ip="203.0.113.77",
            metadata={"attempted_user": ("svc-backup", "svc-report")[i % 2]},
        )
    expect("failed_login_burst_ip", ip="203.0.113.77")

    t = at(7)
    for i in range(6):
        out.event(
            t + i * 80,
            "login_failed",
            user=None,
            ip="203.0.113.88",
            metadata={"attempted_user": f"stuff-{i}"},
        )
    expect("credential_stuffing", ip="203.0.113.88")

    # Unusual hour: a user who always works from 09:00 UTC reads at 03:00.
    history_days = max(8, min(days - 1, 20))
    _history(
        out,
        "atk-night",
        "10.250.1.",
        start_hour=9,
        days=history_days,
        end=end,
        rng=rng,
    )
    # The latest hour from 01:00 to 05:00 UTC that lies wholly inside the
    # last 23 hours.
    night = end - end % 3600 - 2 * 3600
    while datetime.fromtimestamp(night, timezone.utc).hour not in range(1, 6):
        night -= 3600
    for i in range(25):
        out.event(
            night + i * 90,
            read,
            user="atk-night",
            ip="10.250.1.7",
            table=cust,
            records=1,
        )
    expect("unusual_access_pattern", user="atk-night")

    _history(
        out,
        "atk-travel",
        "10.250.2.",
        start_hour=10,
        days=history_days,
        end=end,
        rng=rng,
    )
    out.event(at(2), "login_success", user="atk-travel", ip="203.0.113.99")
    expect("new_location_login", user="atk-travel")

    for _, line in data.lines:
        user, _, rest = line.partition("\t")
        if user != "\\N":
            data.attacker_users.add(user)
        ip = rest.split("\t")[4]
        if ip != "\\N":
            data.attacker_addresses.add(ip)
    data.attacker_users.update(
        {"svc-backup", "svc-report"} | {f"stuff-{i}" for i in range(6)}
    )
    return data
