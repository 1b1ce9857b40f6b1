"""pgwarden under concurrent load.

Eight writers store events as fast as they can for a bounded time while
``warden.check_customer_data_access_alerts`` runs every 100 ms from two
sessions. Afterwards every event must be stored exactly once, no writer may
have seen a deadlock, serialization failure or lock timeout, and the alerts
must equal those that a single-threaded replay of the same events produces
in a fresh database. The same holds when the events come from heavy DML on a
watched customer table.

The automatic responses (locks, blocks, suspensions) are switched off in
both databases: with them on, what a later event meets depends on when the
lock landed, which is timing, not detection. Containment under load is
covered by the hostile and fault tests.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import psycopg
import pytest
from psycopg import sql
from psycopg.types.json import Jsonb

from pgwarden.delivery import Message, Router, deliver_outbox

WRITERS = 8
WRITE_SECONDS = 3.0
CHECK_EVERY = 0.1

#: Errors no writer may ever see: the database resolving contention by
#: failing someone's statement.
CONTENTION = {
    "40001": "serialization_failure",
    "40P01": "deadlock_detected",
    "55P03": "lock_not_available",
    "57014": "query_canceled (lock or statement timeout)",
}

NO_RESPONSES = "UPDATE warden.detection_rules SET response = 'none'"

LOG_COLUMNS = sql.SQL(", ").join(
    map(
        sql.Identifier,
        (
            "user_id",
            "event_type",
            "metadata",
            "risk_score",
            "created_at",
            "ip_address",
            "table_name",
            "record_count",
            "db_role",
            "session_id",
            "source",
        ),
    )
)


@pytest.fixture
def fresh_database(postgresql_noproc, server_dsn) -> Iterator[Callable[[], str]]:
    """Clone new pgwarden databases from the test template; drop them after."""
    admin = server_dsn("postgres")
    created: list[str] = []

    def _create() -> str:
        name = f"pgw_replay_{len(created)}"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(name)
                )
            )
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(name),
                    sql.Identifier(postgresql_noproc.template_dbname),
                )
            )
        created.append(name)
        return server_dsn(name)

    yield _create
    with psycopg.connect(admin, autocommit=True) as conn:
        for name in created:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(name)
                )
            )


def event_call(writer: int, i: int) -> tuple[str, dict]:
    """The i-th event of one writer: a mix that makes most rules fire."""
    tag = f"w{writer}-{i}"
    kind = i % 10
    args: dict = {"tag": tag, "user": None, "ip": None, "count": None, "table": None}
    if kind <= 3:
        args.update(user=f"user{(i // 10) % 4}", ip=f"198.51.100.{writer}")
        return "login_failed", args
    if kind == 4:
        args.update(ip="203.0.113.50", attempted=f"victim{i % 7}")
        return "login_failed", args
    if kind in (5, 9):
        args.update(
            user=f"reader{writer % 3}",
            ip=f"10.{writer}.{i % 4}.1",
            table="public.customers",
            count=1,
        )
        return "customer_data_access", args
    if kind == 6:
        args.update(
            user=f"exporter{writer}",
            table="public.customers",
            count=80 if i % 50 == 6 else 10,
        )
        return "customer_data_bulk_export", args
    if kind == 7:
        args.update(user=f"esc{writer % 2}")
        return "privilege_escalation_attempt", args
    args.update(user=f"user{writer}", ip=f"10.{writer}.{i % 3}.1")
    return "login_success", args


LOG_EVENT = (
    "SELECT warden.log_event(%(type)s, user_id => %(user)s, "
    "ip_address => %(ip)s, metadata => %(meta)s, record_count => %(count)s, "
    "table_name => %(table)s)"
)


class Outcome:
    """What the threads of one run did, collected under a lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.errors: list[tuple[str, str | None, str]] = []
        self.stored: dict[str, int] = {}
        self.statements: dict[str, list[int]] = {}
        self.checks = 0

    def error(self, who: str, exc: psycopg.Error) -> None:
        """Record an error a thread met."""
        with self.lock:
            self.errors.append((who, exc.diag.sqlstate, str(exc)[:300]))


def write_events(dsn: str, writer: int, stop: float, out: Outcome) -> None:
    """Store events as warden_app until ``stop``; record each returned id."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET ROLE warden_app")
        conn.execute("SET lock_timeout = '5s'")
        i = 0
        while time.monotonic() < stop:
            event_type, args = event_call(writer, i)
            meta = {"tag": args["tag"]}
            if "attempted" in args:
                meta["attempted_user"] = args["attempted"]
            params = {"type": event_type, "meta": Jsonb(meta), **args}
            try:
                event_id = conn.execute(LOG_EVENT, params).fetchone()[0]
            except psycopg.Error as exc:
                out.error(f"writer {writer}", exc)
            else:
                with out.lock:
                    out.stored[args["tag"]] = event_id
            i += 1


def run_checks(dsn: str, name: str, done: threading.Event, out: Outcome) -> None:
    """Run the scheduled detection every CHECK_EVERY seconds until done."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET ROLE warden_admin")
        while not done.is_set():
            try:
                conn.execute(
                    "SELECT count(*) FROM warden.check_customer_data_access_alerts()"
                )
            except psycopg.Error as exc:
                out.error(name, exc)
            else:
                with out.lock:
                    out.checks += 1
            done.wait(CHECK_EVERY)


def run_load(dsn: str, writer: Callable[[int, float, Outcome], None]) -> Outcome:
    """Run WRITERS writer threads and two detection threads; return outcome."""
    out = Outcome()
    done = threading.Event()
    stop = time.monotonic() + WRITE_SECONDS
    checkers = [
        threading.Thread(target=run_checks, args=(dsn, f"checker {n}", done, out))
        for n in (1, 2)
    ]
    writers = [
        threading.Thread(target=writer, args=(w, stop, out)) for w in range(WRITERS)
    ]
    for thread in checkers + writers:
        thread.start()
    for thread in writers:
        thread.join(timeout=WRITE_SECONDS + 60)
    done.set()
    for thread in checkers:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in checkers + writers), "a thread hung"
    return out


def alerts_by_tag(conn: psycopg.Connection) -> list[tuple]:
    """The alerts, with evidence named by event tags instead of ids."""
    rows = conn.execute(
        """
        SELECT a.rule, a.subject, a.user_id, host(a.ip_address), a.severity,
            a.status, a.first_seen, a.last_seen, a.event_count,
            a.record_count,
            (SELECT array_agg(coalesce(l.metadata ->> 'tag',
                    md5(concat_ws('|', l.user_id, l.created_at,
                        l.record_count, l.metadata::text))))
             FROM warden.security_audit_log AS l
             WHERE l.id = ANY (a.evidence)) AS evidence
        FROM warden.alerts AS a
        ORDER BY 1, 2, 7
        """
    ).fetchall()
    return [(*row[:-1], sorted(row[-1] or [])) for row in rows]


def replay(source: psycopg.Connection, target_dsn: str) -> list[tuple]:
    """Insert the rule-feeding events of ``source`` one at a time, in id order,
    into a fresh database; run detection once; return its alerts."""
    rows = source.execute(
        sql.SQL(
            "SELECT {} FROM warden.security_audit_log "
            "WHERE source <> 'pgwarden' ORDER BY id"
        ).format(LOG_COLUMNS)
    ).fetchall()
    with psycopg.connect(target_dsn, autocommit=True) as conn:
        conn.execute(NO_RESPONSES)
        insert = sql.SQL(
            "INSERT INTO warden.security_audit_log ({}) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        ).format(LOG_COLUMNS)
        with conn.pipeline():
            for row in rows:
                values = list(row)
                values[2] = Jsonb(values[2])
                conn.execute(insert, values)
        conn.execute("SELECT count(*) FROM warden.check_customer_data_access_alerts()")
        return alerts_by_tag(conn)


ALERT_FIELDS = (
    "rule",
    "subject",
    "user_id",
    "ip",
    "severity",
    "status",
    "first_seen",
    "last_seen",
    "event_count",
    "record_count",
    "evidence",
)


def alert_differences(got: list[tuple], want: list[tuple]) -> list[str]:
    """Readable differences between two alert lists (empty when equal)."""
    problems: list[str] = []
    if len(got) != len(want):
        problems.append(f"{len(got)} alerts under load, {len(want)} in the replay")
    by_key = {(a[0], a[1]): a for a in want}
    for alert in got:
        other = by_key.pop((alert[0], alert[1]), None)
        if other is None:
            problems.append(f"only under load: {alert[:2]}")
            continue
        for name, mine, theirs in zip(ALERT_FIELDS, alert, other, strict=True):
            if mine == theirs:
                continue
            if name == "evidence":
                extra = sorted(set(mine) - set(theirs))[:5]
                missing = sorted(set(theirs) - set(mine))[:5]
                problems.append(
                    f"{alert[:2]} evidence: {len(mine)} vs {len(theirs)}, "
                    f"only under load {extra}, only in replay {missing}"
                )
            else:
                problems.append(f"{alert[:2]} {name}: {mine} vs {theirs}")
    problems.extend(f"only in the replay: {key}" for key in by_key)
    return problems


def assert_no_contention(out: Outcome) -> None:
    """No thread met an error, least of all one caused by contention."""
    contention = [e for e in out.errors if e[1] in CONTENTION]
    assert contention == [], contention[:5]
    assert out.errors == [], out.errors[:5]


def test_writers_and_detection_in_parallel(db, dsn, fresh_database):
    """Check that 8 writers beside detection lose nothing and alert as a replay."""
    db.execute(NO_RESPONSES)
    out = run_load(dsn, lambda w, stop, o: write_events(dsn, w, stop, o))
    assert_no_contention(out)
    assert out.checks >= 4, out.checks
    assert len(out.stored) > WRITERS * 20

    # Every event whose id came back is stored exactly once, and nothing else.
    stored = db.execute(
        "SELECT metadata ->> 'tag', id FROM warden.security_audit_log "
        "WHERE source = 'application'"
    ).fetchall()
    assert len(stored) == len(out.stored)
    assert dict(stored) == out.stored

    db.execute("SELECT count(*) FROM warden.check_customer_data_access_alerts()")
    alerts = alerts_by_tag(db)
    assert {a[0] for a in alerts} >= {
        "bulk_export",
        "failed_login_burst_user",
        "failed_login_burst_ip",
        "credential_stuffing",
        "privilege_escalation_burst",
    }
    problems = alert_differences(alerts, replay(db, fresh_database()))
    assert not problems, "\n".join(problems)


CUSTOMERS = """
CREATE TABLE public.customers (
    id bigint PRIMARY KEY,
    email text NOT NULL,
    balance numeric NOT NULL DEFAULT 0
);
INSERT INTO public.customers (id, email)
SELECT i, 'c' || i || '@example.com' FROM generate_series(1, 4000) AS i;
GRANT SELECT, INSERT, UPDATE, DELETE ON public.customers TO warden_app;
SELECT warden.watch_table('public.customers', 'sensitive');
"""


def write_rows(dsn: str, writer: int, stop: float, out: Outcome) -> None:
    """Insert, update and delete customer rows until ``stop``."""
    name = f"dml-{writer}"
    with psycopg.connect(dsn, autocommit=True, application_name=name) as conn:
        conn.execute("SET ROLE warden_app")
        conn.execute("SET lock_timeout = '5s'")
        conn.execute(
            "SELECT set_config('app.user_id', %s, false)", (f"clerk{writer % 2}",)
        )
        counts: list[int] = []
        base = 100_000 * (writer + 1)
        i = 0
        while time.monotonic() < stop:
            step = i % 4
            if step == 0:
                query = (
                    "INSERT INTO public.customers (id, email) "
                    "SELECT g, 'n' || g FROM generate_series(%s, %s) AS g"
                )
                params = (base + i * 10, base + i * 10 + 4)
            elif step == 1:
                # One row shared by every writer: real row-lock contention,
                # but no lock-order deadlock of the workload's own making.
                query = (
                    "UPDATE public.customers SET balance = balance + 1 WHERE id = %s"
                )
                params = (1 + (i * 7) % 50,)
            elif step == 2:
                query = "UPDATE public.customers SET email = email WHERE id = %s"
                params = (base + (i - 2) * 10,)
            else:
                query = "DELETE FROM public.customers WHERE id BETWEEN %s AND %s"
                params = (base + (i - 3) * 10, base + (i - 3) * 10 + 1)
            try:
                counts.append(conn.execute(query, params).rowcount)
            except psycopg.Error as exc:
                out.error(name, exc)
            i += 1
        with out.lock:
            out.statements[name] = counts


def test_dml_on_a_watched_table_beside_detection(db, dsn, fresh_database):
    """Check that heavy DML on a watched table loses no event, alerts as replay."""
    db.execute(CUSTOMERS)
    db.execute(NO_RESPONSES)
    out = run_load(dsn, lambda w, stop, o: write_rows(dsn, w, stop, o))
    assert_no_contention(out)
    assert out.checks >= 4, out.checks

    # One event per statement that changed rows, with that statement's count.
    captured = {
        name: (n, total)
        for name, n, total in db.execute(
            "SELECT metadata ->> 'application_name', count(*), "
            "sum(record_count) FROM warden.security_audit_log "
            "WHERE event_type = 'customer_data_modify' GROUP BY 1"
        )
    }
    expected = {
        name: (sum(1 for c in counts if c > 0), sum(counts))
        for name, counts in out.statements.items()
    }
    assert captured == expected

    db.execute("SELECT count(*) FROM warden.check_customer_data_access_alerts()")
    alerts = alerts_by_tag(db)
    assert "rate_limit" in {a[0] for a in alerts}
    problems = alert_differences(alerts, replay(db, fresh_database()))
    assert not problems, "\n".join(problems)


def store_accesses(conn: psycopg.Connection, user: str, first: int, n: int) -> None:
    """Store n customer-data reads by one user, a second apart."""
    conn.execute(
        "SELECT warden.log_event('customer_data_access', user_id => %s, "
        "table_name => 'public.customers', record_count => 1, "
        "created_at => '2026-12-01 09:00:00+00'::timestamptz "
        "+ make_interval(secs => i)) "
        "FROM generate_series(%s::int, %s::int) AS i",
        (user, first, first + n - 1),
    )


def rate_rules(conn: psycopg.Connection) -> list[str]:
    """The rate rules that have raised an alert, sorted."""
    return [
        r[0]
        for r in conn.execute(
            "SELECT DISTINCT rule FROM warden.alerts "
            "WHERE rule IN ('moderate_rate', 'rate_limit') ORDER BY 1"
        )
    ]


def test_rate_alerts_do_not_depend_on_when_detection_ran(db, fresh_database):
    """Check that the same events give the same rate alerts, however scheduled."""
    db.execute(NO_RESPONSES)
    store_accesses(db, "clerk", 0, 70)
    db.execute("SELECT count(*) FROM warden.check_customer_data_access_alerts()")
    store_accesses(db, "clerk", 70, 40)
    db.execute("SELECT count(*) FROM warden.check_customer_data_access_alerts()")
    with psycopg.connect(fresh_database(), autocommit=True) as other:
        other.execute(NO_RESPONSES)
        store_accesses(other, "clerk", 0, 110)
        other.execute("SELECT count(*) FROM warden.check_customer_data_access_alerts()")
        assert rate_rules(db) == rate_rules(other)


def test_writers_meet_no_error_while_responses_lock_and_block(db, dsn):
    """Check that real-time locks and blocks under load fail no writer's report."""
    out = run_load(dsn, lambda w, stop, o: write_events(dsn, w, stop, o))
    assert_no_contention(out)
    stored = db.execute(
        "SELECT metadata ->> 'tag', id FROM warden.security_audit_log "
        "WHERE source = 'application'"
    ).fetchall()
    assert dict(stored) == out.stored
    # The responses did happen meanwhile: accounts locked, addresses blocked.
    locks, blocks = db.execute(
        "SELECT (SELECT count(*) FROM warden.account_locks), "
        "(SELECT count(*) FROM warden.ip_blocks)"
    ).fetchone()
    assert locks > 0
    assert blocks > 0


def write_far_ahead(dsn: str, writer: int, stop: float, out: Outcome) -> None:
    """Store events dated up to two years ahead (most land in the default
    partition) until ``stop``."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET ROLE warden_app")
        conn.execute("SET lock_timeout = '5s'")
        i = 0
        while time.monotonic() < stop:
            tag = f"f{writer}-{i}"
            try:
                event_id = conn.execute(
                    "SELECT warden.log_event('logout', user_id => %s, "
                    "metadata => %s, created_at => now() "
                    "+ make_interval(days => %s))",
                    (f"u{writer}", Jsonb({"tag": tag}), (i * 37 + writer) % 730),
                ).fetchone()[0]
            except psycopg.Error as exc:
                out.error(f"writer {writer}", exc)
            else:
                with out.lock:
                    out.stored[tag] = event_id
            i += 1


def test_partition_maintenance_beside_writers(db, dsn):
    """Check that creating partitions and moving rows under load loses nothing."""
    out = Outcome()
    stop = time.monotonic() + WRITE_SECONDS
    writers = [
        threading.Thread(target=write_far_ahead, args=(dsn, w, stop, out))
        for w in range(4)
    ]
    for thread in writers:
        thread.start()
    created = 0
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute("SET ROLE warden_admin")
        admin.execute("SET lock_timeout = '5s'")
        ahead = 3
        while time.monotonic() < stop:
            ahead = min(ahead + 2, 26)
            try:
                created += len(
                    admin.execute(
                        "SELECT * FROM warden.maintain_log_partitions(3, %s)",
                        (ahead,),
                    ).fetchall()
                )
            except psycopg.Error as exc:
                out.error("maintainer", exc)
            time.sleep(0.2)
    for thread in writers:
        thread.join(timeout=60)
    assert_no_contention(out)
    assert created > 0
    stored = db.execute(
        "SELECT metadata ->> 'tag', id FROM warden.security_audit_log "
        "WHERE event_type = 'logout'"
    ).fetchall()
    assert len(stored) == len(out.stored)
    assert dict(stored) == out.stored
    # Every row sits in the partition of its month once that month has one.
    misplaced = db.execute(
        "SELECT count(*) FROM warden.security_audit_log_default AS d "
        "WHERE EXISTS (SELECT 1 FROM pg_inherits AS i "
        "JOIN pg_class AS c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'warden.security_audit_log'::regclass "
        "AND c.relname = 'security_audit_log_p' "
        "|| to_char(d.created_at AT TIME ZONE 'UTC', 'YYYYMM'))"
    ).fetchone()[0]
    assert misplaced == 0


class RecordingTransport:
    """Records the id of every message it is asked to deliver."""

    name = "recording"

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sent: list[int] = []

    def send(self, message: Message) -> None:
        """Record the message; a short pause widens the race window."""
        time.sleep(0.001)
        with self.lock:
            self.sent.append(message.id)


def test_concurrent_deliverers_send_each_message_once(db, dsn):
    """Check that four deliverers at once send every queued message exactly once."""
    db.execute(
        "INSERT INTO warden.notification_outbox (channel, recipient, subject, "
        "body) SELECT 'stdout', 'console', 'm' || i, 'body' "
        "FROM generate_series(1, 300) AS i"
    )
    transport = RecordingTransport()
    errors: list[Exception] = []

    def deliver() -> None:
        try:
            with psycopg.connect(dsn, autocommit=True) as conn:
                deliver_outbox(conn, Router(stdout=transport), limit=7)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert len(transport.sent) == 300
    assert len(set(transport.sent)) == 300
    assert db.execute(
        "SELECT status, count(*) FROM warden.notification_outbox GROUP BY 1"
    ).fetchall() == [("sent", 300)]
