"""Containment and capture across installing, rolling back and re-applying."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql

from catalog import differences, snapshot
from pgwarden import install

HOST_SCHEMA = """
CREATE TABLE public.customers (
    id bigint NOT NULL,
    region text NOT NULL,
    PRIMARY KEY (id, region)
) PARTITION BY LIST (region);
CREATE TABLE public.customers_eu PARTITION OF public.customers
    FOR VALUES IN ('eu');
"""

CONTAINMENT_TABLES = (
    "account_locks",
    "ip_blocks",
    "user_db_roles",
    "session_revocations",
    "watched_tables",
    "audit_log_seals",
    "audit_log_seal_marks",
)


def pgwarden_triggers(dsn: str) -> list[tuple]:
    """Return the pgwarden triggers on tables outside the warden schema."""
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            "SELECT tgrelid::regclass::text, tgname FROM pg_trigger AS t"
            " JOIN pg_class AS c ON c.oid = t.tgrelid"
            " WHERE c.relnamespace <> 'warden'::regnamespace"
            " AND t.tgname LIKE 'warden\\_%'"
        ).fetchall()


@pytest.fixture
def host_db(scratch_database, server_dsn) -> str:
    """An application database with a partitioned customers table."""
    dsn = server_dsn(scratch_database("pgw_containment_host"))
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(HOST_SCHEMA)
    return dsn


def test_rolling_back_containment_removes_its_triggers(host_db):
    """Check that rolling back containment drops tables and table triggers."""
    install.apply(host_db)
    complete = snapshot(host_db)
    with psycopg.connect(host_db, autocommit=True) as conn:
        conn.execute("SELECT warden.watch_table('public.customers')")
    assert len(pgwarden_triggers(host_db)) == 10
    applied = [m.id for m in install.status(host_db) if m.applied]
    rolled = install.rollback(
        host_db,
        steps=len(applied) - applied.index("0003_containment"),
        discard_data=True,
    )
    assert rolled[-1] == "0003_containment"
    assert pgwarden_triggers(host_db) == []
    with psycopg.connect(host_db, autocommit=True) as conn:
        for table in CONTAINMENT_TABLES:
            assert (
                conn.execute("SELECT to_regclass(%s)", (f"warden.{table}",)).fetchone()[
                    0
                ]
                is None
            )
        conn.execute("INSERT INTO public.customers VALUES (1, 'eu')")
    assert sorted(install.apply(host_db)) == sorted(rolled)
    assert differences(complete, snapshot(host_db)) == {}


def test_non_superuser_owner_watches_and_contains(scratch_database, server_dsn):
    """Check that an owner without superuser watches its table and locks."""
    superuser_dsn = server_dsn("postgres")
    with psycopg.connect(superuser_dsn, autocommit=True) as conn:
        if not conn.execute(
            "SELECT 1 FROM pg_roles WHERE rolname = 'pgw_owner2'"
        ).fetchone():
            conn.execute("CREATE ROLE pgw_owner2 LOGIN")
    name = scratch_database("pgw_owned_containment", owner="pgw_owner2")
    owner_dsn = server_dsn(name, user="pgw_owner2")
    install.apply(owner_dsn)
    with psycopg.connect(owner_dsn, autocommit=True) as conn:
        conn.execute(HOST_SCHEMA)
        conn.execute("SELECT warden.watch_table('public.customers')")
        conn.execute("INSERT INTO public.customers VALUES (1, 'eu')")
        assert (
            conn.execute(
                "SELECT record_count FROM warden.security_audit_log"
                " WHERE event_type = 'customer_data_modify'"
            ).fetchone()[0]
            == 1
        )
        conn.execute("SELECT warden.lock_account('pgw_owner2', '1 hour', 'r')")
        with pytest.raises(psycopg.Error) as exc:
            conn.execute("INSERT INTO public.customers VALUES (2, 'eu')")
        assert exc.value.diag.sqlstate == "42501"
        conn.execute("SELECT warden.unlock_account('pgw_owner2', 'ok')")
        conn.execute("SELECT warden.seal_audit_log(interval '0')")
        conn.execute("SELECT warden.seal_audit_log(interval '0')")
        assert (
            conn.execute("SELECT count(*) FROM warden.verify_audit_log()").fetchone()[0]
            == 0
        )
    with psycopg.connect(superuser_dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name))
        )
