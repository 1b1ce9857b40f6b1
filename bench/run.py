"""Benchmark pgwarden against plain PostgreSQL on the same server, in one run.

    python bench/run.py --scale small|medium|large [--json PATH] [--dsn DSN]

Builds realistic events (see ``datagen``) in a throwaway database: on an
embedded PostgreSQL 16 that it starts and removes itself, or, with
``--dsn``, in a database it creates on that server and drops afterwards.
Every figure is a ratio against a baseline measured in the same run, each
timing the median of several repetitions, because the machines that run
it are shared and noisy. A figure whose SQL is not installed, or that
failed, is reported as null with a note: never estimated.

Scales: small (about 15k events; a smoke test, no timing judged), medium
(1M events), large (1M, then 5M, so that the growth from 1M to 5M is
measured in one run).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import ipaddress
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

sys.path.insert(0, str(Path(__file__).resolve().parent))

import baselines
import datagen
from measure import (
    Figure,
    describe_error,
    interleaved,
    median,
    run_query,
    timed,
)

ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")

THEFT = "warden.detect_customer_data_theft_attempts(timestamptz,timestamptz)"
UNAUTHORIZED = "warden.monitor_unauthorized_customer_access(timestamptz,timestamptz)"
CHECK = "warden.check_customer_data_access_alerts()"
RUN_CHECK = "SELECT * FROM warden.check_customer_data_access_alerts()"
LOG_EVENT = "warden.log_event(text,text,text,jsonb,integer,text,integer,timestamptz)"
SETTINGS = (
    "server_version",
    "work_mem",
    "jit",
    "synchronous_commit",
    "shared_buffers",
    "maintenance_work_mem",
    "effective_cache_size",
    "max_parallel_workers_per_gather",
    "fsync",
    "random_page_cost",
)


@dataclass(frozen=True)
class Point:
    """A log size at which detection is measured."""

    label: str
    events: int
    users: int


@dataclass(frozen=True)
class Scale:
    """Sizes and repetitions of one scale."""

    days: int
    points: tuple[Point, ...]
    chunks: int
    increment: int
    increments: int
    reps: int
    pairs: int
    update_rows: int


SCALES = {
    "small": Scale(
        days=10,
        points=(Point("1m", 15_000, 60),),
        chunks=4,
        increment=500,
        increments=3,
        reps=3,
        pairs=100,
        update_rows=10_000,
    ),
    "medium": Scale(
        days=30,
        points=(Point("1m", 1_000_000, 300),),
        chunks=10,
        increment=10_000,
        increments=3,
        reps=3,
        pairs=500,
        update_rows=100_000,
    ),
    "large": Scale(
        days=30,
        points=(Point("1m", 1_000_000, 300), Point("5m", 5_000_000, 1500)),
        chunks=10,
        increment=10_000,
        increments=3,
        reps=3,
        pairs=500,
        update_rows=100_000,
    ),
}


def log(message: str) -> None:
    """Progress on stderr, with the time."""
    stamp = datetime.now(timezone.utc).strftime("%H:%M:%S")
    print(f"[{stamp}] {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def throwaway_database(dsn: str | None, *, keep: bool) -> Iterator[str]:
    """A fresh database on the given server, or on an embedded one."""
    if dsn is None:
        from pgwarden.embedded import embedded_server

        with embedded_server() as uri, throwaway_database(uri, keep=keep) as inner:
            yield inner
        return
    name = f"pgwarden_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_conninfo(dsn, dbname=name)
    finally:
        if keep:
            log(f"kept database {name}")
        else:
            with psycopg.connect(dsn, autocommit=True) as admin:
                admin.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(name)
                    )
                )


def exists(conn: psycopg.Connection, signature: str) -> bool:
    """Whether a function is installed."""
    return baselines.function_exists(conn, signature)


def set_timeout(conn: psycopg.Connection, seconds: float) -> None:
    """Cancel statements of this connection after ``seconds``."""
    conn.execute(f"SET statement_timeout = {int(seconds * 1000)}")


class Bench:
    """One benchmark run in one database."""

    def __init__(self, dsn: str, scale: Scale, args: argparse.Namespace) -> None:
        self.dsn = dsn
        self.scale = scale
        self.args = args
        self.conn = psycopg.connect(dsn, autocommit=True)
        self.phases: dict[str, float] = {}
        self.notes: list[str] = []
        self.points: list[dict[str, Any]] = []
        self.figures: dict[str, Figure] = {}
        self.expected: list[datagen.Expected] = []
        self.attacker_users: set[str] = set()
        self.attacker_addresses: set[str] = set()
        self.ingest: list[tuple[int, float, float]] = []
        self.end = 0.0
        self.caught_up = True
        self.started = time.perf_counter()
        self.measured: list[Figure] = []
        self.profile: dict[str, list[dict[str, Any]]] = {}

    def function_counters(self) -> dict[str, tuple[int, float, float]]:
        """Calls, total and self milliseconds of every function so far."""
        # Backends report their function statistics when idle, at most
        # once a second.
        time.sleep(1.5)
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT schemaname || '.' || funcname || '(' || funcid || ')', "
                "calls, total_time, self_time FROM pg_stat_user_functions"
            ).fetchall()
        return {name: (calls, total, own) for name, calls, total, own in rows}

    def profiled(self, phase: str, func: Callable[[], T]) -> T:
        """Run one phase; with --profile, keep its busiest functions."""
        if not self.args.profile:
            return func()
        before = self.function_counters()
        result = func()
        after = self.function_counters()
        rows = []
        for name, (calls, total, own) in after.items():
            was = before.get(name, (0, 0.0, 0.0))
            if calls > was[0]:
                rows.append(
                    {
                        "function": name.rsplit("(", 1)[0],
                        "calls": calls - was[0],
                        "total_ms": round(total - was[1], 1),
                        "self_ms": round(own - was[2], 1),
                    }
                )
        rows.sort(key=lambda r: r["total_ms"], reverse=True)
        self.profile[phase] = rows[:15]
        return result

    def failure(self, exc: psycopg.Error, limit: float) -> str:
        """A note for a failed measurement; timeouts say how long they had."""
        if isinstance(exc, psycopg.errors.QueryCanceled):
            return f"did not finish within {limit:.0f} s (statement cancelled)"
        return describe_error(exc)

    def remaining(self) -> float:
        """Seconds left of --budget (infinite without one)."""
        if not self.args.budget:
            return float("inf")
        return self.args.budget - (time.perf_counter() - self.started)

    def limit(self, seconds: float) -> float:
        """A statement timeout: ``seconds``, or less when the budget is short."""
        return max(1.0, min(seconds, self.remaining() - 20))

    def out_of_time(self) -> str | None:
        """A note when the budget is spent, else None."""
        if self.remaining() < 30:
            return f"skipped: the --budget of {self.args.budget:g} s ran out"
        return None

    # -- set-up ----------------------------------------------------------

    def phase(self, name: str, seconds: float) -> None:
        """Record how long a phase took."""
        self.phases[name] = round(self.phases.get(name, 0.0) + seconds, 3)

    def install(self) -> None:
        """Install pgwarden from this checkout, and the baselines."""
        from pgwarden import install

        log("installing pgwarden")
        self.phase("install", timed(lambda: install.apply(self.dsn)))
        if self.args.profile:
            name = self.conn.info.dbname
            self.conn.execute(
                sql.SQL("ALTER DATABASE {} SET track_functions = 'all'").format(
                    sql.Identifier(name)
                )
            )
            self.conn.execute("SET track_functions = 'all'")
        baselines.create_plain_log(self.conn)
        log(f"creating customers tables ({self.scale.update_rows} rows each)")
        note = baselines.create_customers(self.conn, self.scale.update_rows)
        if note:
            self.notes.append(note)
        self.notes.extend(baselines.data_model(self.conn, {}))

    def settings(self) -> dict[str, Any]:
        """The server's version and the settings that matter here."""
        found = {}
        for name in SETTINGS:
            row = self.conn.execute(
                "SELECT current_setting(%s, true)", (name,)
            ).fetchone()
            found[name] = row[0] if row else None
        found["version"] = self.conn.execute("SELECT version()").fetchone()[0]
        found["cpus"] = os.cpu_count()
        found["python"] = platform.python_version()
        return found

    # -- loading -----------------------------------------------------------

    def copy(self, table: str, payload: bytes) -> float:
        """Seconds to COPY ``payload`` into ``table`` (one transaction)."""
        columns = sql.SQL(", ").join(map(sql.Identifier, datagen.COPY_COLUMNS))
        query = sql.SQL("COPY {} ({}) FROM STDIN").format(sql.SQL(table), columns)

        def _copy() -> None:
            with self.conn.cursor() as cur, cur.copy(query) as copy:
                view = memoryview(payload)
                for start in range(0, len(view), 1 << 20):
                    copy.write(view[start : start + (1 << 20)])

        return timed(_copy)

    def load(self, lines: list[str], chunks: int, *, sample: bool) -> None:
        """COPY lines into the log and into the plain table, chunk by chunk.

        The two tables receive the same bytes, alternately first, so that
        each chunk gives one paired sample of both rates.
        """
        size = max(1, -(-len(lines) // chunks))
        for number, start in enumerate(range(0, len(lines), size)):
            part = lines[start : start + size]
            payload = "".join(part).encode()
            order = ["warden.security_audit_log", "bench.plain_log"]
            if number % 2:
                order.reverse()
            took = {table: self.copy(table, payload) for table in order}
            log_s = took["warden.security_audit_log"]
            plain_s = took["bench.plain_log"]
            self.phase("load_log", log_s)
            self.phase("load_plain", plain_s)
            log(
                f"  chunk {number + 1}: {len(part)} events, log {log_s:.2f}s, "
                f"plain {plain_s:.2f}s"
            )
            if sample:
                self.ingest.append((len(part), log_s, plain_s))

    def generate(self, point: Point, previous: Point | None) -> datagen.Dataset:
        """Events for one point: new background users (and the attackers)."""
        first_user = previous.users if previous else 0
        events = point.events - (previous.events if previous else 0)
        attack = None
        if previous is None:
            attack = datagen.attackers(
                end=self.end, days=self.scale.days, seed=self.args.seed
            )
            events -= len(attack.lines)
        data = datagen.background(
            first_user=first_user,
            users=point.users - first_user,
            events=events,
            days=self.scale.days,
            end=self.end,
            seed=self.args.seed + first_user,
        )
        if attack is not None:
            data.lines.extend(attack.lines)
            data.user_roles.update(attack.user_roles)
            data.expected = attack.expected
            self.expected = attack.expected
            self.attacker_users = attack.attacker_users
            self.attacker_addresses = attack.attacker_addresses
        return data

    # -- the steps at each log size ---------------------------------------

    def run_point(self, point: Point, previous: Point | None) -> None:
        """Load up to ``point.events`` and measure detection there."""
        scale = self.scale
        log(f"generating events up to {point.events} ({point.users} users)")
        start = time.perf_counter()
        data = self.generate(point, previous)
        lines = data.sorted_lines()
        self.phase("generate", time.perf_counter() - start)
        baselines.add_user_roles(self.conn, data.user_roles)
        hold = scale.increment * scale.increments
        main, held = lines[:-hold], lines[-hold:]
        log(f"loading {len(main)} events ({scale.chunks} chunks)")
        self.profiled(
            f"load_{point.label}",
            lambda: self.load(main, scale.chunks, sample=previous is None),
        )
        self.phase("analyze", timed(lambda: self.conn.execute("ANALYZE")))
        if previous is None:
            # Cheap and independent of the rules' state: measured first, on
            # the loaded log. Their events come from harness users (named
            # bench-...), which recall leaves out of the false positives.
            log("log_event latency")
            latency = self.profiled("log_event", self.log_event_latency)
            log("bulk updates")
            overhead, versus = self.profiled("bulk_update", self.bulk_updates)
            log("single-row updates")
            single = self.profiled("single_update", self.single_update)
            self.measured = [latency, overhead, versus, single]
        result: dict[str, Any] = {"label": point.label, "users": point.users}
        result["catch_up"] = self.profiled(f"catch_up_{point.label}", self.catch_up)
        result["incremental"] = self.profiled(
            f"incremental_{point.label}", lambda: self.incremental(held)
        )
        result["events"] = self.conn.execute(
            "SELECT count(*) FROM warden.security_audit_log"
        ).fetchone()[0]
        result["events_last_24h"] = self.conn.execute(
            "SELECT count(*) FROM warden.security_audit_log "
            "WHERE created_at > %s AND created_at <= %s",
            self.window(),
        ).fetchone()[0]
        result["detect"] = self.profiled(f"detect_{point.label}", self.detect)
        self.points.append(result)

    def window(self) -> tuple[datetime, datetime]:
        """The last 24 hours of the data."""
        until = datetime.fromtimestamp(self.end, timezone.utc)
        return until - timedelta(hours=24), until

    def catch_up(self) -> dict[str, Any]:
        """Judge everything loaded so far, as the first scheduled run would.

        The scheduled run re-judges the previous run's events once more
        (ids become visible at commit, not in id order), so the run after
        a catch-up would judge the whole load again. Nothing is writing
        here, so the horizon is moved as that second run would move it,
        saving a second full pass; if the state table differs from the one
        this was written for, the second run is made instead.
        """
        if not exists(self.conn, CHECK):
            return {"note": "check_customer_data_access_alerts is not installed"}
        out: dict[str, Any] = {}
        skipped = self.out_of_time()
        limit = self.limit(self.args.timeout * 2)
        set_timeout(self.conn, limit)
        try:
            if skipped:
                raise psycopg.errors.QueryCanceled(skipped)
            log("catching up: check_customer_data_access_alerts over the load")
            out["first_run_s"] = round(run_query(self.conn, RUN_CHECK), 3)
            log(f"  {out['first_run_s']}s")
            try:
                self.conn.execute(
                    "UPDATE warden.detection_state "
                    "SET rescan_from_id = scanned_to_id "
                    "WHERE scanned_to_id IS NOT NULL"
                )
                out["horizon"] = "moved to the end of the load"
            except psycopg.Error:
                out["second_run_s"] = round(run_query(self.conn, RUN_CHECK), 3)
                log(f"  second run {out['second_run_s']}s")
        except psycopg.Error as exc:
            out["note"] = skipped or self.failure(exc, limit)
            log(f"  failed: {out['note']}")
            self.caught_up = False
            # So that the incremental runs still judge only new events.
            with contextlib.suppress(psycopg.Error):
                self.conn.execute(
                    "UPDATE warden.detection_state SET rescan_from_id = m, "
                    "scanned_to_id = m, scanned_xmax = NULL FROM (SELECT "
                    "coalesce(max(id), 0) AS m FROM warden.security_audit_log) "
                    "AS l"
                )
                out["horizon"] = "moved to the end of the load without judging it"
        finally:
            set_timeout(self.conn, 0)
        return out

    def incremental(self, held: list[str]) -> dict[str, Any]:
        """Add ``increment`` new events at a time and time the check."""
        size = self.scale.increment
        samples: list[float] = []
        note = None
        can_check = exists(self.conn, CHECK)
        for rep in range(self.scale.increments):
            part = held[rep * size : (rep + 1) * size]
            self.copy("warden.security_audit_log", "".join(part).encode())
            self.copy("bench.plain_log", "".join(part).encode())
            if not can_check or note:
                continue
            note = self.out_of_time()
            if note:
                continue
            limit = self.limit(self.args.timeout)
            set_timeout(self.conn, limit)
            try:
                samples.append(run_query(self.conn, RUN_CHECK))
            except psycopg.Error as exc:
                note = self.failure(exc, limit)
            finally:
                set_timeout(self.conn, 0)
        out: dict[str, Any] = {"new_events": size, "samples_s": samples}
        if not can_check:
            out["note"] = "check_customer_data_access_alerts is not installed"
        elif note:
            out["note"] = note
        else:
            out["median_s"] = median(samples)
            log(f"incremental check with {size} new events: {out['median_s']:.3f}s")
        return out

    def detect_once(self, conn: psycopg.Connection) -> tuple[float, dict]:
        """Both monitoring functions over the last 24 hours: time, findings."""
        since, until = self.window()
        rows: list[tuple[str, int]] = []

        def _run() -> None:
            rows.extend(
                conn.execute(
                    "SELECT rule, count(*) FROM ("
                    "SELECT rule FROM "
                    "warden.detect_customer_data_theft_attempts(%(s)s, %(u)s) "
                    "UNION ALL SELECT rule FROM "
                    "warden.monitor_unauthorized_customer_access(%(s)s, %(u)s)"
                    ") AS f GROUP BY rule ORDER BY rule",
                    {"s": since, "u": until},
                ).fetchall()
            )

        return timed(_run), dict(rows)

    def detect(self) -> dict[str, Any]:
        """Median time of both monitoring functions over the last 24 hours.

        The first repetition runs in a session of its own, closed before
        the statistics are read, so that the temporary-file bytes it wrote
        have reached pg_stat_database.
        """
        if not (exists(self.conn, THEFT) and exists(self.conn, UNAUTHORIZED)):
            return {"note": "a monitoring function is not installed"}
        out: dict[str, Any] = {}
        samples: list[float] = []
        skipped = self.out_of_time()
        if skipped:
            return {"note": skipped}
        limit = self.limit(self.args.timeout)
        try:
            before = self.temp_counters()
            with psycopg.connect(self.dsn, autocommit=True) as conn:
                set_timeout(conn, limit)
                took, out["findings"] = self.detect_once(conn)
                samples.append(took)
            time.sleep(1.0)
            after = self.temp_counters()
            out["temp_bytes"] = after[0] - before[0]
            out["temp_files"] = after[1] - before[1]
            for _ in range(self.scale.reps - 1):
                if self.out_of_time():
                    break
                limit = self.limit(self.args.timeout)
                set_timeout(self.conn, limit)
                samples.append(self.detect_once(self.conn)[0])
            out["samples_s"] = samples
            out["median_s"] = median(samples)
            log(f"detection over 24 hours: {out['median_s']:.3f}s")
        except psycopg.Error as exc:
            out["note"] = self.failure(exc, limit)
            log(f"detection failed: {out['note']}")
        finally:
            set_timeout(self.conn, 0)
        return out

    def temp_counters(self) -> tuple[int, int]:
        """Temporary-file bytes and files of this database so far."""
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute("SELECT pg_stat_clear_snapshot()")
            row = conn.execute(
                "SELECT temp_bytes, temp_files FROM pg_stat_database "
                "WHERE datname = current_database()"
            ).fetchone()
            return int(row[0]), int(row[1])

    # -- recall ----------------------------------------------------------------

    def recall(self) -> dict[str, Any]:
        """Injected attacks found, and alerts about anyone else."""
        if (
            self.caught_up
            and exists(self.conn, CHECK)
            and baselines.table_exists(self.conn, "warden.alerts")
        ):
            source = "warden.alerts after check_customer_data_access_alerts"
            rows = self.conn.execute(
                "SELECT rule, user_id, ip_address::text FROM warden.alerts"
            ).fetchall()
        elif exists(self.conn, THEFT) and exists(self.conn, UNAUTHORIZED):
            # Every attack lies in the last 24 hours; background users are
            # then judged over those 24 hours only.
            source = "findings of both monitoring functions over the last 24 h"
            since, until = self.window()
            rows = self.conn.execute(
                "SELECT rule, user_id, ip_address::text FROM "
                "warden.detect_customer_data_theft_attempts(%(s)s, %(u)s) "
                "UNION ALL SELECT rule, user_id, ip_address::text FROM "
                "warden.monitor_unauthorized_customer_access(%(s)s, %(u)s)",
                {"s": since, "u": until},
            ).fetchall()
        else:
            return {"note": "neither the alerts nor the monitoring functions exist"}
        found, missed = [], []
        for attack in self.expected:
            hit = any(
                rule == attack.rule and matches(attack, user, ip)
                for rule, user, ip in rows
            )
            (found if hit else missed).append(attack.as_dict())
        false_positives = [
            {"rule": rule, "user_id": user, "ip": ip}
            for rule, user, ip in rows
            if not self.about_attacker(user, ip)
            and not (user or "").startswith("bench-")
        ]
        harness = [
            {"rule": rule, "user_id": user}
            for rule, user, _ in rows
            if (user or "").startswith("bench-")
        ]
        by_rule: dict[str, int] = {}
        for rule, _, _ in rows:
            by_rule[rule] = by_rule.get(rule, 0) + 1
        return {
            "source": source,
            "injected": len(self.expected),
            "found": len(found),
            "missed": missed,
            "false_positives": len(false_positives),
            "false_positive_examples": false_positives[:20],
            "harness_alerts": harness,
            "alerts_by_rule": dict(sorted(by_rule.items())),
        }

    def about_attacker(self, user: str | None, ip: str | None) -> bool:
        """Whether an alert's subject is one of the injected attackers."""
        if user is not None:
            return user in self.attacker_users
        if ip is None:
            return False
        network = ipaddress.ip_network(ip, strict=False)
        return any(ipaddress.ip_address(a) in network for a in self.attacker_addresses)

    # -- latency and updates ---------------------------------------------------

    def log_event_latency(self) -> Figure:
        """log_event, one event per transaction, against a plain INSERT."""
        figure = Figure(
            "log_event_latency",
            "pgwarden/baseline <= 1.5 (median latency)",
            "ms",
        )
        if not exists(self.conn, LOG_EVENT):
            return figure.fail("warden.log_event is not installed")
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            rng = random.Random(self.args.seed)
            users = [f"bench-latency-{i}" for i in range(50)]

            def pgwarden(i: int) -> None:
                conn.execute(
                    "SELECT warden.log_event('customer_data_access', "
                    "user_id => %s, ip_address => %s, metadata => %s::jsonb, "
                    "record_count => 1, table_name => 'public.customers')",
                    (
                        users[i % 50],
                        f"10.200.0.{i % 200 + 1}",
                        json.dumps(
                            {"customer_id": f"c-{rng.randrange(200000)}", "app": "crm"}
                        ),
                    ),
                    prepare=True,
                )

            def plain(i: int) -> None:
                conn.execute(
                    "INSERT INTO bench.plain_log (user_id, event_type, "
                    "metadata, risk_score, created_at, ip_address, "
                    "table_name, record_count, source) VALUES (%s, "
                    "'customer_data_access', %s::jsonb, 2, now(), %s::inet, "
                    "'public.customers', 1, 'application')",
                    (
                        users[i % 50],
                        json.dumps(
                            {"customer_id": f"c-{rng.randrange(200000)}", "app": "crm"}
                        ),
                        f"10.200.0.{i % 200 + 1}",
                    ),
                    prepare=True,
                )

            try:
                a, b = interleaved(self.scale.pairs, pgwarden, plain)
            except psycopg.Error as exc:
                return figure.fail(describe_error(exc))
        figure.pgwarden = round(median(a) * 1000, 4)
        figure.baseline = round(median(b) * 1000, 4)
        figure.ratio = round(median(a) / median(b), 3)
        figure.met = figure.ratio <= 1.5
        figure.detail = {"pairs": self.scale.pairs}
        return figure

    def bulk_updates(self) -> tuple[Figure, Figure]:
        """The whole customers table updated, watched, plain and audited."""
        rows = self.scale.update_rows
        overhead = Figure(
            "bulk_update_overhead",
            "pgwarden/baseline <= 1.25",
            "s",
            detail={"rows": rows},
        )
        versus = Figure(
            "bulk_update_vs_row_trigger",
            "row trigger's added time / pgwarden's added time >= 10",
            "s added",
            detail={"rows": rows},
        )
        if not exists(self.conn, "warden.watch_table(regclass,text)"):
            why = "warden.watch_table is not installed"
            return overhead.fail(why), versus.fail(why)
        tables = list(baselines.CUSTOMER_TABLES)
        times: dict[str, list[float]] = {t: [] for t in tables}
        # The actor of the captured changes: an application user of its own.
        self.conn.execute("SET app.user_id = 'bench-dba'")
        try:
            for rep in range(self.scale.reps):
                for table in tables:
                    self.conn.execute(
                        sql.SQL("VACUUM public.{}").format(sql.Identifier(table))
                    )
                with contextlib.suppress(psycopg.Error):
                    self.conn.execute("CHECKPOINT")
                order = tables[rep % 3 :] + tables[: rep % 3]
                for table in order:
                    times[table].append(
                        run_query(
                            self.conn,
                            sql.SQL(
                                "UPDATE public.{} "
                                "SET balance = balance + 1, updated_at = now()"
                            ).format(sql.Identifier(table)),
                        )
                    )
        except psycopg.Error as exc:
            why = describe_error(exc)
            return overhead.fail(why), versus.fail(why)
        plain, watched, audited = (times[t] for t in tables)
        overhead.pgwarden = round(median(watched), 4)
        overhead.baseline = round(median(plain), 4)
        overhead.ratio = round(median(watched) / median(plain), 3)
        overhead.met = overhead.ratio <= 1.25
        overhead.detail["samples_s"] = {t: times[t] for t in tables}
        added = [w - p for w, p in zip(watched, plain, strict=True)]
        classic = [a - p for a, p in zip(audited, plain, strict=True)]
        versus.pgwarden = round(median(added), 4)
        versus.baseline = round(median(classic), 4)
        if versus.pgwarden > 0:
            versus.ratio = round(versus.baseline / versus.pgwarden, 2)
            versus.met = versus.ratio >= 10
        else:
            versus.met = versus.baseline > 0
            versus.note = (
                "pgwarden's added time is below this run's noise (median "
                f"difference {versus.pgwarden * 1000:.1f} ms): no ratio"
            )
        return overhead, versus

    def single_update(self) -> Figure:
        """One-row UPDATE by key on the watched table against the plain one."""
        figure = Figure(
            "single_update_added_ms",
            "pgwarden - baseline <= 0.1 ms (median latency)",
            "ms",
        )
        if not exists(self.conn, "warden.watch_table(regclass,text)"):
            return figure.fail("warden.watch_table is not installed")
        rng = random.Random(self.args.seed)
        ids = [rng.randrange(1, self.scale.update_rows + 1) for _ in range(10000)]
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute("SET app.user_id = 'bench-dba'")

            def update(table: str):
                def _run(i: int) -> None:
                    conn.execute(
                        sql.SQL(
                            "UPDATE public.{} SET balance = balance + 1 WHERE id = %s"
                        ).format(sql.Identifier(table)),
                        (ids[i % len(ids)],),
                        prepare=True,
                    )

                return _run

            try:
                a, b = interleaved(
                    self.scale.pairs,
                    update("customers_watched"),
                    update("customers_plain"),
                )
            except psycopg.Error as exc:
                return figure.fail(describe_error(exc))
        figure.pgwarden = round(median(a) * 1000, 4)
        figure.baseline = round(median(b) * 1000, 4)
        figure.ratio = round(median(a) / median(b), 3)
        added = figure.pgwarden - figure.baseline
        figure.detail = {"added_ms": round(added, 4), "pairs": self.scale.pairs}
        figure.met = added <= 0.1
        return figure

    # -- the whole run -----------------------------------------------------------

    def run(self) -> dict[str, Any]:
        """Install, then load and measure at each size, then judge recall."""
        started = datetime.now(timezone.utc)
        self.install()
        settings = self.settings()
        self.end = float(int(time.time()) // 60 * 60)
        previous = None
        for point in self.scale.points:
            self.run_point(point, previous)
            previous = point
        recall = self.recall()
        figures = assemble(self.scale, self.points, self.ingest, recall, self.measured)
        self.conn.close()
        return {
            "figures": [f.as_dict() for f in figures],
            "settings": settings,
            "scale": self.args.scale,
            "points": self.points,
            "recall": recall,
            "phases_s": self.phases,
            "notes": self.notes,
            "profile": self.profile,
            "started_at": started.isoformat(timespec="seconds"),
            "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }


def matches(attack: datagen.Expected, user: str | None, ip: str | None) -> bool:
    """Whether an alert's subject is the one the attack must be flagged as."""
    if attack.user_id is not None:
        return user == attack.user_id
    if ip is None or attack.ip_address is None:
        return False
    network = ipaddress.ip_network(ip, strict=False)
    return ipaddress.ip_address(attack.ip_address) in network


def assemble(
    scale: Scale,
    points: list[dict[str, Any]],
    ingest: list[tuple[int, float, float]],
    recall: dict[str, Any],
    measured: list[Figure],
) -> list[Figure]:
    """The figures of the result table, in the order of the table."""
    first = points[0]
    small = first["events"] < 900_000
    size_note = (
        f"measured at {first['events']} events (this scale), not at 1M; "
        "the target is not judged here"
        if small
        else ""
    )
    out = [ingest_figure(ingest)]
    out.extend(measured)
    out.append(detect_figure("detect_1m", first, None, size_note))
    out.append(
        detect_figure("detect_5m", points[1] if len(points) > 1 else None, first, "")
    )
    out.append(incremental_figure("incremental_1m", first, None, size_note))
    out.append(
        incremental_figure(
            "incremental_5m", points[1] if len(points) > 1 else None, first, ""
        )
    )
    out.append(temp_figure(first, size_note))
    out.append(recall_figure(recall))
    if small:
        for figure in out:
            if figure.name in ("detect_1m", "incremental_1m", "detect_temp_bytes"):
                figure.met = None
    return out


def ingest_figure(ingest: list[tuple[int, float, float]]) -> Figure:
    """COPY rate into the log against the plain table."""
    figure = Figure(
        "ingest_copy",
        "pgwarden/baseline >= 0.5 (rows/s)",
        "rows/s",
    )
    if not ingest:
        return figure.fail("no chunk was loaded")
    log_rates = [n / s for n, s, _ in ingest]
    plain_rates = [n / p for n, _, p in ingest]
    figure.pgwarden = round(median(log_rates))
    figure.baseline = round(median(plain_rates))
    figure.ratio = round(median(log_rates) / median(plain_rates), 3)
    figure.met = figure.ratio >= 0.5
    figure.detail = {
        "chunks": len(ingest),
        "chunk_events": [n for n, _, _ in ingest],
        "log_s": [round(s, 3) for _, s, _ in ingest],
        "plain_s": [round(p, 3) for _, _, p in ingest],
    }
    return figure


def detect_figure(
    name: str, point: dict[str, Any] | None, base: dict[str, Any] | None, note: str
) -> Figure:
    """Both monitoring functions over 24 hours at one log size."""
    if base is None:
        figure = Figure(name, "<= 1 s", "s", note=note)
    else:
        figure = Figure(
            name,
            "5M/1M time ratio <= 5M/1M event ratio",
            "s",
            note=note,
        )
    if point is None:
        return figure.fail("needs --scale large (a 5M-event log)")
    detect = point["detect"]
    figure.detail = {
        "events": point["events"],
        "events_last_24h": point["events_last_24h"],
        "findings": detect.get("findings"),
    }
    if "median_s" not in detect:
        return figure.fail(detect.get("note", "not measured"))
    figure.pgwarden = round(detect["median_s"], 4)
    if base is None:
        figure.met = figure.pgwarden <= 1.0
        return figure
    if "median_s" not in base["detect"]:
        return figure.fail("the 1M figure is missing")
    figure.baseline = round(base["detect"]["median_s"], 4)
    figure.ratio = round(figure.pgwarden / figure.baseline, 3)
    allowed = point["events"] / base["events"]
    figure.detail["event_ratio"] = round(allowed, 3)
    figure.met = figure.ratio <= allowed
    return figure


def incremental_figure(
    name: str, point: dict[str, Any] | None, base: dict[str, Any] | None, note: str
) -> Figure:
    """The scheduled check with a fixed number of new events."""
    target = "<= 0.1 s" if base is None else "<= 0.1 s and 5M/1M ratio <= 1.5"
    figure = Figure(name, target, "s", note=note)
    if point is None:
        return figure.fail("needs --scale large (a 5M-event log)")
    inc = point["incremental"]
    figure.detail = {
        "events": point["events"],
        "new_events": inc.get("new_events"),
        "samples_s": inc.get("samples_s"),
        "catch_up": point.get("catch_up"),
    }
    if "median_s" not in inc:
        return figure.fail(inc.get("note", "not measured"))
    figure.pgwarden = round(inc["median_s"], 4)
    figure.met = figure.pgwarden <= 0.1
    if base is None:
        return figure
    if "median_s" not in base["incremental"]:
        return figure.fail("the 1M figure is missing")
    figure.baseline = round(base["incremental"]["median_s"], 4)
    figure.ratio = round(figure.pgwarden / figure.baseline, 3)
    figure.met = figure.met and figure.ratio <= 1.5
    return figure


def temp_figure(point: dict[str, Any], note: str) -> Figure:
    """Temporary-file bytes of one detection run."""
    figure = Figure(
        "detect_temp_bytes", "0 with the default work_mem", "bytes", note=note
    )
    detect = point["detect"]
    if "temp_bytes" not in detect:
        return figure.fail(detect.get("note", "not measured"))
    figure.pgwarden = detect["temp_bytes"]
    figure.detail = {"temp_files": detect["temp_files"], "events": point["events"]}
    figure.met = detect["temp_bytes"] == 0
    return figure


def recall_figure(recall: dict[str, Any]) -> Figure:
    """Injected attackers found, with the alerts about anyone else."""
    figure = Figure("recall", "1.0, with no background user flagged", "found/injected")
    if "injected" not in recall:
        return figure.fail(recall.get("note", "not measured"))
    figure.pgwarden = round(recall["found"] / recall["injected"], 4)
    figure.detail = {
        k: recall[k]
        for k in ("injected", "found", "missed", "false_positives", "source")
    }
    figure.met = figure.pgwarden == 1.0 and recall["false_positives"] == 0
    if recall["false_positives"]:
        figure.note = f"{recall['false_positives']} alerts about background users"
    return figure


def fmt(value: Any, unit: str) -> str:
    """A value for the printed table."""
    if value is None:
        return "-"
    if unit == "rows/s":
        return f"{value:,.0f}"
    if unit == "bytes":
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def table(figures: list[dict[str, Any]]) -> str:
    """The result as a Markdown table."""
    lines = [
        "| name | pgwarden | baseline | ratio | unit | target | met |",
        "|---|---|---|---|---|---|---|",
    ]
    for f in figures:
        ratio = fmt(f["ratio"], "")
        if f["name"] == "single_update_added_ms" and f["detail"].get("added_ms"):
            ratio = f"{ratio} (+{f['detail']['added_ms']:.3f} ms)"
        met = {True: "yes", False: "**no**", None: "-"}[f["met"]]
        lines.append(
            f"| `{f['name']}` | {fmt(f['pgwarden'], f['unit'])} | "
            f"{fmt(f['baseline'], f['unit'])} | {ratio} | {f['unit']} | "
            f"{f['target']} | {met} |"
        )
    notes = [f"- `{f['name']}`: {f['note']}" for f in figures if f["note"]]
    if notes:
        lines.append("")
        lines.extend(notes)
    return "\n".join(lines)


def checkout() -> dict[str, Any]:
    """The commit measured, and whether the tree had changes."""
    git = shutil.which("git")
    if git is None:
        return {}
    try:
        head = subprocess.run(
            [git, "-C", str(ROOT), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            [git, "-C", str(ROOT), "status", "--porcelain", "sql", "migrations"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return {}
    return {"commit": head, "sql_changed_since_commit": bool(dirty)}


def command(args: argparse.Namespace) -> str:
    """The command line of this run, without the server's address."""
    words = ["python bench/run.py", f"--scale {args.scale}"]
    if args.json:
        words.append(f"--json {args.json}")
    if args.dsn:
        words.append("--dsn <server>")
    if args.events:
        words.append(f"--events {args.events}")
    if args.profile:
        words.append("--profile")
    if args.budget:
        words.append(f"--budget {args.budget:g}")
    if args.timeout != 120.0:
        words.append(f"--timeout {args.timeout:g}")
    if args.seed != 7:
        words.append(f"--seed {args.seed}")
    return " ".join(words)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        description="Benchmark pgwarden against plain PostgreSQL in one run."
    )
    parser.add_argument("--scale", choices=sorted(SCALES), default="small")
    parser.add_argument("--json", type=Path, help="write the result here")
    parser.add_argument(
        "--dsn",
        help="server to create the throwaway database on (default: embedded)",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--events",
        type=int,
        help="load this many events instead of the scale's first size "
        "(users in proportion), to explore; figures say the size they had",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        help="seconds before a measured statement is cancelled "
        "(the first, catch-up detection run gets twice as long)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the database afterwards"
    )
    parser.add_argument(
        "--budget",
        type=float,
        help="seconds for the whole run: later detection steps are skipped "
        "(null, with a note) and statements cut short when it runs out",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="record the busiest plpgsql functions of each phase (track_functions"
        " = all; adds a little overhead to pgwarden's timings)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the table; write the JSON."""
    args = parse_args(argv)
    scale = SCALES[args.scale]
    if args.events:
        first = scale.points[0]
        users = max(20, round(first.users * args.events / first.events))
        scale = dataclasses.replace(
            scale, points=(Point(first.label, args.events, users),)
        )
    started = time.perf_counter()
    with throwaway_database(args.dsn, keep=args.keep) as dsn:
        bench = Bench(dsn, scale, args)
        result = bench.run()
    result["settings"]["checkout"] = checkout()
    result["duration_s"] = round(time.perf_counter() - started, 1)
    result["command"] = command(args)
    print(table(result["figures"]))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str) + "\n")
        log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
