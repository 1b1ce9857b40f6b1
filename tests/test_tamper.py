"""Tamper evidence: seals of the event log and warden.verify_audit_log."""

from __future__ import annotations

import itertools

import psycopg
import pytest


def problems(db: psycopg.Connection) -> list[tuple]:
    """Return (kind, first_id, last_id, object) of verify_audit_log."""
    return db.execute(
        "SELECT kind, first_id, last_id, object FROM warden.verify_audit_log()"
    ).fetchall()


def kinds(db: psycopg.Connection) -> set[str]:
    """Return the kinds of problem verify_audit_log reports."""
    return {row[0] for row in problems(db)}


def seal_now(db: psycopg.Connection) -> int:
    """Seal everything stored so far (the first call only takes a mark)."""
    query = "SELECT warden.seal_audit_log(interval '0')"
    return db.execute(query).fetchone()[0] + db.execute(query).fetchone()[0]


@pytest.fixture
def sealed(db: psycopg.Connection) -> psycopg.Connection:
    """A log of 30 events, all sealed."""
    db.execute(
        "SELECT warden.log_event('login_failed', user_id => 'u' || g,"
        " ip_address => '192.0.2.' || g) FROM generate_series(1, 30) g"
    )
    assert seal_now(db) >= 1
    return db


LOG_TRIGGERS = """
SELECT format('%s', t.tgrelid::regclass), quote_ident(t.tgname)
FROM pg_trigger AS t
WHERE NOT t.tgisinternal
    AND (t.tgrelid = 'warden.security_audit_log'::regclass
        OR t.tgrelid IN (SELECT inhrelid FROM pg_inherits
            WHERE inhparent = 'warden.security_audit_log'::regclass))
"""


def break_in(db: psycopg.Connection, statement: str, params: tuple = ()) -> None:
    """Run a statement as a superuser who first disabled the log triggers."""
    triggers = db.execute(LOG_TRIGGERS).fetchall()
    for rel in sorted({rel for rel, _name in triggers}):
        db.execute(f"ALTER TABLE {rel} DISABLE TRIGGER ALL")
    db.execute(statement, params)
    for rel, name in triggers:
        db.execute(f"ALTER TABLE {rel} ENABLE ALWAYS TRIGGER {name}")


def alerts(db: psycopg.Connection, rule: str) -> list[tuple]:
    """Return (subject, event_count) of the open alerts of a rule."""
    return db.execute(
        "SELECT subject, event_count FROM warden.alerts"
        " WHERE rule = %s AND status = 'open'",
        (rule,),
    ).fetchall()


def test_intact_log_has_no_problems(sealed):
    """Check that an untouched, sealed log verifies with no rows."""
    sealed.execute("SELECT warden.log_event('logout', user_id => 'u1')")
    assert problems(sealed) == []


def test_seals_chain_and_cover_every_id(sealed):
    """Check that seals follow each other without gaps and chain digests."""
    sealed.execute(
        "UPDATE warden.settings SET value = '7' WHERE name = 'seal_max_rows'"
    )
    sealed.execute(
        "SELECT warden.log_event('logout', user_id => 'v' || g)"
        " FROM generate_series(1, 20) g"
    )
    assert seal_now(sealed) == 3
    rows = sealed.execute(
        "SELECT first_id, last_id, previous_digest IS NULL"
        " FROM warden.audit_log_seals ORDER BY id"
    ).fetchall()
    assert rows[0][0] == 1
    assert rows[0][2] is True
    for before, after in itertools.pairwise(rows):
        assert after[0] == before[1] + 1
        assert after[2] is False
    assert problems(sealed) == []


def test_recent_ids_wait_for_the_grace_period(db):
    """Check that ids handed out within the grace period are not sealed."""
    db.execute("SELECT warden.log_event('logout', user_id => 'u1')")
    db.execute("SELECT warden.seal_audit_log(interval '1 hour')")
    assert (
        db.execute("SELECT warden.seal_audit_log(interval '1 hour')").fetchone()[0] == 0
    )


def test_open_transaction_holds_back_the_horizon(db, dsn):
    """Check that ids of a still-open transaction are not sealed under it."""
    writer = psycopg.connect(dsn)
    try:
        writer.execute("SELECT warden.log_event('logout', user_id => 'late')")
        db.execute("SELECT warden.log_event('logout', user_id => 'u1')")
        db.execute("SELECT warden.seal_audit_log(interval '0')")
        assert (
            db.execute("SELECT warden.seal_audit_log(interval '0')").fetchone()[0] == 0
        )
        writer.commit()
        assert seal_now(db) >= 1
        assert problems(db) == []
    finally:
        writer.close()


def test_updated_row_is_reported(sealed):
    """Check that a row changed out of band is reported as rows_changed."""
    break_in(
        sealed,
        "UPDATE warden.security_audit_log SET risk_score = 1,"
        " user_id = 'someone' WHERE id = 5",
    )
    found = problems(sealed)
    assert [p[0] for p in found] == ["rows_changed"]
    assert found[0][1] <= 5 <= found[0][2]


def test_deleted_row_is_reported(sealed):
    """Check that a row deleted out of band is reported as rows_deleted."""
    break_in(sealed, "DELETE FROM warden.security_audit_log WHERE id = 7")
    assert kinds(sealed) == {"rows_deleted"}


def test_row_with_id_beyond_sequence_is_reported(sealed):
    """Check that a row given an id never handed out is rows_inserted."""
    break_in(
        sealed,
        "INSERT INTO warden.security_audit_log (id, event_type, risk_score)"
        " OVERRIDING SYSTEM VALUE VALUES (1000000, 'logout', 1)",
    )
    found = problems(sealed)
    assert [p[0] for p in found] == ["rows_inserted"]
    assert found[0][2] == 1000000


def test_row_added_to_sealed_gap_is_reported(db):
    """Check that an event given an unused sealed id is rows_inserted."""
    db.execute("SELECT warden.log_event('logout', user_id => 'a')")
    db.execute("BEGIN")
    db.execute("SELECT warden.log_event('logout', user_id => 'rolled back')")
    db.execute("ROLLBACK")
    db.execute("SELECT warden.log_event('logout', user_id => 'b')")
    seal_now(db)
    gap = db.execute(
        "SELECT g FROM generate_series(1, (SELECT max(id) FROM"
        " warden.security_audit_log)) g WHERE g NOT IN"
        " (SELECT id FROM warden.security_audit_log) LIMIT 1"
    ).fetchone()[0]
    break_in(
        db,
        "INSERT INTO warden.security_audit_log (id, event_type, risk_score,"
        " user_id) OVERRIDING SYSTEM VALUE VALUES (%s, 'logout', 1,"
        " 'forged')",
        (gap,),
    )
    assert kinds(db) == {"rows_inserted"}


def test_changed_seal_is_reported(sealed):
    """Check that editing or removing a seal breaks the chain visibly."""
    sealed.execute(
        "SELECT warden.log_event('logout', user_id => 'v' || g)"
        " FROM generate_series(1, 5) g"
    )
    seal_now(sealed)
    sealed.execute(
        "UPDATE warden.audit_log_seals SET row_count = row_count - 1"
        " WHERE id = (SELECT min(id) FROM warden.audit_log_seals)"
    )
    assert "seal_altered" in kinds(sealed)
    sealed.execute(
        "DELETE FROM warden.audit_log_seals"
        " WHERE id = (SELECT min(id) FROM warden.audit_log_seals)"
    )
    assert "seal_missing" in kinds(sealed)


def test_disabled_log_trigger_is_reported(sealed):
    """Check that a disabled append-only trigger of the log is reported."""
    sealed.execute(
        "ALTER TABLE warden.security_audit_log"
        " DISABLE TRIGGER security_audit_log_10_record_tamper"
    )
    found = problems(sealed)
    assert [p[0] for p in found] == ["log_trigger_disabled"]
    assert found[0][3] == "warden.security_audit_log"


def test_retention_is_not_tampering(db):
    """Check that dropping old partitions for retention verifies cleanly."""
    db.execute(
        "SELECT warden.log_event('logout', user_id => 'old',"
        " created_at => now() - interval '3 years')"
    )
    db.execute("SELECT warden.maintain_log_partitions()")
    db.execute("SELECT warden.log_event('logout', user_id => 'new')")
    seal_now(db)
    dropped = db.execute(
        "SELECT count(*) FROM warden.drop_log_partitions(interval '2 years')"
    ).fetchone()[0]
    assert dropped >= 1
    assert problems(db) == []


@pytest.fixture
def watched(db: psycopg.Connection) -> psycopg.Connection:
    """A database with a watched, partitioned customers table."""
    db.execute(
        "CREATE TABLE public.customers (id int, region text,"
        " PRIMARY KEY (id, region)) PARTITION BY LIST (region);"
        " CREATE TABLE public.customers_eu PARTITION OF public.customers"
        " FOR VALUES IN ('eu')"
    )
    db.execute("SELECT warden.watch_table('public.customers')")
    assert problems(db) == []
    return db


def test_disabled_capture_trigger_is_reported_and_alerted(watched):
    """Check that disabling capture on a watched table is reported, alerted."""
    watched.execute(
        "ALTER TABLE public.customers_eu DISABLE TRIGGER warden_20_capture_insert"
    )
    found = problems(watched)
    assert [(p[0], p[3]) for p in found] == [
        ("capture_trigger_disabled", "public.customers_eu")
    ]
    assert alerts(watched, "capture_disabled") == [("public.customers", 1)]
    problems(watched)
    assert alerts(watched, "capture_disabled") == [("public.customers", 2)]
    events = watched.execute(
        "SELECT count(*) FROM warden.security_audit_log"
        " WHERE event_type = 'security_alert'"
        " AND metadata ->> 'rule' = 'capture_disabled'"
    ).fetchone()[0]
    assert events == 1


def test_origin_only_trigger_is_reported(watched):
    """Check that a trigger switched to origin-only (replica gap) is caught."""
    watched.execute(
        "ALTER TABLE public.customers ENABLE TRIGGER warden_20_capture_delete"
    )
    assert kinds(watched) == {"capture_trigger_disabled"}


def test_dropped_capture_trigger_and_table_are_reported(watched):
    """Check that a dropped trigger and a dropped table are both reported."""
    watched.execute("DROP TRIGGER warden_10_enforce ON public.customers")
    assert kinds(watched) == {"capture_trigger_missing"}
    watched.execute("DROP TABLE public.customers")
    assert kinds(watched) == {"watched_table_missing"}


def test_tampering_raises_log_alert(sealed):
    """Check that tampering with the log raises an audit_log_tampering alert."""
    break_in(sealed, "DELETE FROM warden.security_audit_log WHERE id = 3")
    problems(sealed)
    assert alerts(sealed, "audit_log_tampering") == [("warden.security_audit_log", 1)]


@pytest.mark.parametrize("role", ["warden_app", "warden_analyst", "warden_admin"])
def test_package_roles_cannot_disable_log_triggers(db, connect_as, role):
    """Check that no package role can disable the log's triggers or seals."""
    conn = connect_as(role)
    with pytest.raises(psycopg.Error) as exc:
        conn.execute("ALTER TABLE warden.security_audit_log DISABLE TRIGGER ALL")
    assert exc.value.diag.sqlstate == "42501"
    with pytest.raises(psycopg.Error) as exc:
        conn.execute("DELETE FROM warden.audit_log_seals")
    assert exc.value.diag.sqlstate == "42501"


def test_analyst_can_verify(sealed, connect_as):
    """Check that warden_analyst may run verify_audit_log."""
    conn = connect_as("warden_analyst")
    assert (
        conn.execute("SELECT count(*) FROM warden.verify_audit_log()").fetchone()[0]
        == 0
    )


def test_concurrent_sealers_make_one_chain(sealed, dsn):
    """Check that two sealers at once wait for each other and never overlap."""
    sealed.execute(
        "SELECT warden.log_event('logout', user_id => 'v' || g)"
        " FROM generate_series(1, 10) g"
    )
    sealed.execute("SELECT warden.seal_audit_log(interval '0')")
    first = psycopg.connect(dsn)
    second = psycopg.connect(dsn, autocommit=True)
    try:
        first.execute("SELECT warden.seal_audit_log(interval '0')")
        second.execute("SET lock_timeout = '200ms'")
        with pytest.raises(psycopg.errors.LockNotAvailable):
            second.execute("SELECT warden.seal_audit_log(interval '0')")
        first.commit()
        second.execute("SELECT warden.seal_audit_log(interval '0')")
    finally:
        first.close()
        second.close()
    overlaps = sealed.execute(
        "SELECT count(*) FROM warden.audit_log_seals AS a"
        " JOIN warden.audit_log_seals AS b ON a.id < b.id"
        " AND a.last_id >= b.first_id"
    ).fetchone()[0]
    assert overlaps == 0
    assert problems(sealed) == []


def test_writers_do_not_wait_for_a_sealer(sealed, dsn):
    """Check that events are stored while a sealing transaction is open."""
    sealer = psycopg.connect(dsn)
    writer = psycopg.connect(dsn, autocommit=True)
    try:
        sealer.execute("SELECT warden.seal_audit_log(interval '0')")
        writer.execute("SET lock_timeout = '200ms'")
        writer.execute("SELECT warden.log_event('logout', user_id => 'busy')")
        sealer.commit()
    finally:
        sealer.close()
        writer.close()
    assert problems(sealed) == []


def test_any_disabled_log_trigger_is_reported(sealed):
    """Check that disabling a log trigger outside the fixed list is reported."""
    name = sealed.execute(
        "SELECT tgname FROM pg_trigger"
        " WHERE tgrelid = 'warden.security_audit_log'::regclass"
        " AND NOT tgisinternal AND tgname NOT IN ("
        "'security_audit_log_10_check_types',"
        " 'security_audit_log_10_record_tamper',"
        " 'security_audit_log_10_refuse_truncate',"
        " 'security_audit_log_20_refuse_change') LIMIT 1"
    ).fetchone()
    assert name is not None, "the real-time rules trigger the log"
    sealed.execute(f'ALTER TABLE warden.security_audit_log DISABLE TRIGGER "{name[0]}"')
    assert kinds(sealed) == {"log_trigger_disabled"}
