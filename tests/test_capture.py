"""Capture: watched customer tables write customer_data_modify events."""

from __future__ import annotations

import psycopg
import pytest

CUSTOMERS = """
CREATE TABLE public.customers (
    id bigint NOT NULL,
    region text NOT NULL,
    email text,
    PRIMARY KEY (id, region)
) PARTITION BY LIST (region);
CREATE TABLE public.customers_eu PARTITION OF public.customers
    FOR VALUES IN ('eu');
CREATE TABLE public.customers_us PARTITION OF public.customers
    FOR VALUES IN ('us');
CREATE TABLE public.orders (id integer PRIMARY KEY, note text);
CREATE TABLE public.notes (body text);
"""


def modify_events(db: psycopg.Connection) -> list[dict]:
    """Return the customer_data_modify events, oldest first."""
    cur = db.execute(
        "SELECT user_id, table_name, record_count, metadata, db_role,"
        " source, host(ip_address) AS ip"
        " FROM warden.security_audit_log"
        " WHERE event_type = 'customer_data_modify' ORDER BY id"
    )
    names = [c.name for c in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


@pytest.fixture
def watched(db: psycopg.Connection) -> psycopg.Connection:
    """A database with a partitioned customers table and orders, watched."""
    db.execute(CUSTOMERS)
    db.execute("SELECT warden.watch_table('public.customers', 'high_value')")
    db.execute("SELECT warden.watch_table('public.orders')")
    return db


def test_insert_writes_one_event_per_statement(watched):
    """Check that a multi-row INSERT writes one event with count and keys."""
    watched.execute(
        "INSERT INTO customers VALUES (1, 'eu', 'a'), (2, 'us', 'b'), (3, 'eu', 'c')"
    )
    [event] = modify_events(watched)
    assert event["table_name"] == "public.customers"
    assert event["record_count"] == 3
    assert event["source"] == "trigger"
    meta = event["metadata"]
    assert meta["operation"] == "INSERT"
    assert meta["key_columns"] == ["id", "region"]
    assert sorted(meta["keys"]) == [[1, "eu"], [2, "us"], [3, "eu"]]
    assert meta["key_count"] == 3
    assert meta["keys_truncated"] is False
    assert "relation" not in meta


def test_update_and_delete_are_captured(watched):
    """Check that UPDATE and DELETE each write an event with their keys."""
    watched.execute("INSERT INTO orders SELECT g, 'x' FROM generate_series(1, 5) g")
    watched.execute("UPDATE orders SET note = 'y' WHERE id <= 2")
    watched.execute("DELETE FROM orders WHERE id = 5")
    events = modify_events(watched)
    assert [e["metadata"]["operation"] for e in events] == [
        "INSERT",
        "UPDATE",
        "DELETE",
    ]
    assert [e["record_count"] for e in events] == [5, 2, 1]
    assert sorted(events[1]["metadata"]["keys"]) == [1, 2]
    assert events[2]["metadata"]["keys"] == [5]


def test_key_list_is_bounded_with_true_count(watched):
    """Check that the key list is cut at capture_max_keys, the count kept."""
    watched.execute(
        "UPDATE warden.settings SET value = '10' WHERE name = 'capture_max_keys'"
    )
    watched.execute("INSERT INTO orders SELECT g, 'x' FROM generate_series(1, 250) g")
    [event] = modify_events(watched)
    assert event["record_count"] == 250
    assert len(event["metadata"]["keys"]) == 10
    assert event["metadata"]["key_count"] == 250
    assert event["metadata"]["keys_truncated"] is True


def test_zero_row_statements_write_nothing(watched):
    """Check that statements touching no row leave no event."""
    watched.execute("UPDATE customers SET email = 'x' WHERE id = -1")
    watched.execute("DELETE FROM orders WHERE id = -1")
    watched.execute("INSERT INTO orders SELECT 1, 'x' WHERE false")
    watched.execute("TRUNCATE orders")
    assert modify_events(watched) == []


def test_write_to_partition_reports_parent(watched):
    """Check that writing straight into a partition names the parent."""
    watched.execute("INSERT INTO customers_eu VALUES (7, 'eu', 'z')")
    [event] = modify_events(watched)
    assert event["table_name"] == "public.customers"
    assert event["metadata"]["relation"] == "public.customers_eu"
    assert event["metadata"]["keys"] == [[7, "eu"]]


def test_copy_into_watched_table_is_one_event(watched):
    """Check that COPY of many rows writes one event with the full count."""
    cur = watched.cursor()
    with cur.copy("COPY customers (id, region, email) FROM STDIN") as copy:
        for i in range(1, 1001):
            copy.write_row((i, "eu" if i % 2 else "us", f"c{i}@x"))
    [event] = modify_events(watched)
    assert event["record_count"] == 1000
    assert event["metadata"]["key_count"] == 1000
    assert event["metadata"]["operation"] == "INSERT"


def test_truncate_is_captured_once_for_partitioned_table(watched):
    """Check that TRUNCATE of the parent writes one event counting all rows."""
    watched.execute(
        "INSERT INTO customers SELECT g, CASE WHEN g % 2 = 0 THEN 'eu'"
        " ELSE 'us' END, NULL FROM generate_series(1, 40) g"
    )
    watched.execute("TRUNCATE customers")
    events = modify_events(watched)
    assert len(events) == 2
    truncate = events[1]
    assert truncate["metadata"]["operation"] == "TRUNCATE"
    assert truncate["record_count"] == 40
    assert truncate["table_name"] == "public.customers"


def test_truncate_of_partition_counts_that_partition(watched):
    """Check that TRUNCATE of one partition counts only its rows."""
    watched.execute(
        "INSERT INTO customers VALUES (1, 'eu', NULL), (2, 'eu', NULL), (3, 'us', NULL)"
    )
    watched.execute("TRUNCATE customers_eu")
    truncate = modify_events(watched)[-1]
    assert truncate["record_count"] == 2
    assert truncate["metadata"]["relation"] == "public.customers_eu"


def test_capture_fires_in_replica_mode(watched):
    """Check that session_replication_role = replica does not stop capture."""
    watched.execute("SET session_replication_role = replica")
    watched.execute("INSERT INTO orders VALUES (1, 'x')")
    watched.execute("TRUNCATE orders")
    watched.execute("RESET session_replication_role")
    assert [e["metadata"]["operation"] for e in modify_events(watched)] == [
        "INSERT",
        "TRUNCATE",
    ]


def test_table_without_primary_key_is_counted(db):
    """Check that a table without a primary key is watched with counts only."""
    db.execute(CUSTOMERS)
    notices: list[str] = []
    db.add_notice_handler(lambda d: notices.append(d.severity_nonlocalized))
    db.execute("SELECT warden.watch_table('public.notes')")
    assert "NOTICE" in notices
    db.execute("INSERT INTO notes VALUES ('a'), ('b')")
    [event] = modify_events(db)
    assert event["record_count"] == 2
    assert event["metadata"]["keys_recorded"] is False
    assert "keys" not in event["metadata"]


def test_event_names_actor_role_and_application(watched, connect_as):
    """Check that the event carries actor, database role and application."""
    watched.execute("GRANT INSERT ON public.orders TO warden_app")
    app = connect_as("warden_app")
    app.execute("SET application_name = 'billing'")
    app.execute("SET app.user_id = 'u-77'")
    app.execute("INSERT INTO public.orders VALUES (1, 'x')")
    [event] = modify_events(watched)
    assert event["user_id"] == "u-77"
    assert event["db_role"] == "warden_app"
    assert event["metadata"]["application_name"] == "billing"


def test_writer_needs_no_access_to_the_log(watched, connect_as):
    """Check that a role without log access still gets its writes captured."""
    watched.execute("CREATE ROLE plain_writer")
    try:
        watched.execute("GRANT INSERT ON public.orders TO plain_writer")
        conn = connect_as("plain_writer")
        conn.execute("INSERT INTO public.orders VALUES (9, 'x')")
        with pytest.raises(psycopg.Error) as exc:
            conn.execute("SELECT count(*) FROM warden.security_audit_log")
        assert exc.value.diag.sqlstate == "42501"
        [event] = modify_events(watched)
        assert event["user_id"] == "plain_writer"
    finally:
        watched.execute("DROP OWNED BY plain_writer")
        watched.execute("DROP ROLE plain_writer")


def test_watch_table_is_idempotent(watched):
    """Check that watching twice keeps one set of triggers and one event."""
    again = watched.execute(
        "SELECT warden.watch_table('public.customers_eu', 'high_value')"
    ).fetchone()[0]
    assert again == "public.customers"
    triggers = watched.execute(
        "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'customers'::regclass"
        " AND tgname LIKE 'warden\\_%'"
    ).fetchone()[0]
    assert triggers == 5
    watched.execute("INSERT INTO customers VALUES (1, 'eu', NULL)")
    assert len(modify_events(watched)) == 1
    changes = watched.execute(
        "SELECT count(*) FROM warden.security_audit_log"
        " WHERE event_type = 'capture_changed'"
        " AND metadata ->> 'table' = 'public.customers'"
    ).fetchone()[0]
    assert changes == 1


def test_watch_table_records_sensitivity(watched):
    """Check that watch_table writes the sensitivity under the logical name."""
    rows = watched.execute(
        "SELECT table_name, sensitivity FROM warden.table_sensitivity"
        " ORDER BY table_name"
    ).fetchall()
    assert ("public.customers", "high_value") in rows
    assert ("public.orders", "normal") in rows


def test_unwatch_table_removes_triggers_and_is_idempotent(watched):
    """Check that unwatch drops the triggers everywhere, twice safely."""
    assert (
        watched.execute("SELECT warden.unwatch_table('public.customers')").fetchone()[0]
        is True
    )
    assert (
        watched.execute("SELECT warden.unwatch_table('public.customers')").fetchone()[0]
        is False
    )
    left = watched.execute(
        "SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'warden\\_%'"
        " AND tgrelid IN ('customers'::regclass, 'customers_eu'::regclass,"
        " 'customers_us'::regclass)"
    ).fetchone()[0]
    assert left == 0
    watched.execute("INSERT INTO customers VALUES (1, 'eu', NULL)")
    assert modify_events(watched) == []


@pytest.mark.parametrize(
    ("target", "sqlstate"),
    [
        ("warden.security_audit_log", "22023"),
        ("warden.account_locks", "22023"),
    ],
)
def test_pgwarden_tables_cannot_be_watched(db, target, sqlstate):
    """Check that watching pgwarden's own tables is refused."""
    with pytest.raises(psycopg.Error) as exc:
        db.execute("SELECT warden.watch_table(%s)", (target,))
    assert exc.value.diag.sqlstate == sqlstate


def test_views_and_bad_sensitivity_are_refused(db):
    """Check that a view or an unknown sensitivity is refused."""
    db.execute(CUSTOMERS)
    db.execute("CREATE VIEW public.v AS SELECT 1 AS x")
    with pytest.raises(psycopg.Error) as exc:
        db.execute("SELECT warden.watch_table('public.v')")
    assert exc.value.diag.sqlstate == "42809"
    with pytest.raises(psycopg.Error) as exc:
        db.execute("SELECT warden.watch_table('public.orders', 'secret')")
    assert exc.value.diag.sqlstate == "22023"


@pytest.mark.parametrize("role", ["warden_app", "warden_analyst"])
def test_package_roles_cannot_unwatch_or_disable(watched, connect_as, role):
    """Check that app and analyst can neither unwatch nor disable triggers."""
    watched.execute(f"GRANT INSERT, UPDATE ON public.orders TO {role}")
    conn = connect_as(role)
    with pytest.raises(psycopg.Error) as exc:
        conn.execute("SELECT warden.unwatch_table('public.orders')")
    assert exc.value.diag.sqlstate == "42501"
    with pytest.raises(psycopg.Error) as exc:
        conn.execute("ALTER TABLE public.orders DISABLE TRIGGER ALL")
    assert exc.value.diag.sqlstate == "42501"
    with pytest.raises(psycopg.Error) as exc:
        conn.execute("SET session_replication_role = replica")
    assert exc.value.diag.sqlstate == "42501"


def test_new_partition_is_reported_until_watched_again(watched):
    """Check that a partition added later is reported, then covered again."""
    watched.execute(
        "CREATE TABLE public.customers_apac PARTITION OF public.customers"
        " FOR VALUES IN ('apac')"
    )
    found = watched.execute(
        "SELECT DISTINCT kind, object FROM warden.verify_audit_log()"
    ).fetchall()
    assert found == [("capture_trigger_missing", "public.customers_apac")]
    watched.execute("SELECT warden.watch_table('public.customers', 'high_value')")
    assert (
        watched.execute("SELECT count(*) FROM warden.verify_audit_log()").fetchone()[0]
        == 0
    )
    watched.execute("INSERT INTO customers_apac VALUES (1, 'apac', NULL)")
    [event] = modify_events(watched)
    assert event["table_name"] == "public.customers"


def test_admin_may_watch_and_unwatch(db, connect_as):
    """Check that warden_admin watches and unwatches the installer's tables."""
    db.execute(CUSTOMERS)
    admin = connect_as("warden_admin")
    name = admin.execute("SELECT warden.watch_table('public.orders')").fetchone()[0]
    assert name == "public.orders"
    assert admin.execute("SELECT warden.unwatch_table('public.orders')").fetchone()[0]
    actions = db.execute(
        "SELECT metadata ->> 'action', risk_score FROM warden.security_audit_log"
        " WHERE event_type = 'capture_changed' ORDER BY id"
    ).fetchall()
    assert actions == [("watch", 2), ("unwatch", 4)]


def test_capture_ignores_a_hostile_search_path(watched):
    """Check that objects shadowing pg_catalog names do not hijack capture."""
    watched.execute(
        "CREATE FUNCTION public.count(anyelement) RETURNS bigint"
        " LANGUAGE sql AS 'SELECT 0::bigint'"
    )
    watched.execute("CREATE TABLE public.new_rows (x int)")
    watched.execute("SET search_path = public, pg_catalog")
    watched.execute("INSERT INTO orders VALUES (1, 'x'), (2, 'y')")
    [event] = modify_events(watched)
    assert event["record_count"] == 2


def test_end_user_address_from_application(watched):
    """Check that app.client_ip gives the event's address when set."""
    watched.execute("SET app.client_ip = '::ffff:203.0.113.9'")
    watched.execute("INSERT INTO orders VALUES (1, 'x')")
    [event] = modify_events(watched)
    assert event["ip"] == "203.0.113.9"


def test_triggers_explain_themselves(watched):
    """Check that every trigger watch_table adds carries a comment."""
    missing = watched.execute(
        "SELECT tgrelid::regclass::text, tgname FROM pg_trigger"
        " WHERE tgname LIKE 'warden\\_%'"
        " AND obj_description(oid, 'pg_trigger') IS NULL"
    ).fetchall()
    assert missing == []
