"""Enforcement: the current actor, access_allowed and refused writes."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

# The row-level-security example of README.md (checked against it below).
RLS_EXAMPLE = """
CREATE TABLE public.customers (
    id bigint PRIMARY KEY,
    name text NOT NULL
);
ALTER TABLE public.customers ENABLE ROW LEVEL SECURITY;
CREATE POLICY customers_not_contained ON public.customers
    USING ((SELECT warden.access_allowed()));
"""

APP_ROLE = "app_rw"
README = Path(__file__).resolve().parents[1] / "README.md"


def test_rls_example_is_the_one_in_the_readme():
    """Check that the RLS example tested here is the README's, word for word."""
    blocks = re.findall(r"```sql\n(.*?)```", README.read_text(), flags=re.S)
    (block,) = [b for b in blocks if "CREATE POLICY customers_not_contained" in b]
    statements = block.split("\n\n", 1)[1]  # after the GRANT to the app login
    assert " ".join(statements.split()) == " ".join(RLS_EXAMPLE.split())


@pytest.fixture
def app(db: psycopg.Connection, connect_as) -> Iterator[psycopg.Connection]:
    """A connection as an application role, member of warden_app."""
    db.execute(RLS_EXAMPLE)
    db.execute("INSERT INTO public.customers VALUES (1, 'Ada'), (2, 'Bob')")
    db.execute(f"CREATE ROLE {APP_ROLE}")
    db.execute(f"GRANT warden_app TO {APP_ROLE}")
    db.execute(f"GRANT SELECT, INSERT, UPDATE ON public.customers TO {APP_ROLE}")
    db.execute("SELECT warden.watch_table('public.customers', 'sensitive')")
    yield connect_as(APP_ROLE)
    db.execute(f"DROP OWNED BY {APP_ROLE}")
    db.execute(f"DROP ROLE {APP_ROLE}")


def actor(conn: psycopg.Connection) -> str:
    """Return warden.current_actor() on a connection."""
    return conn.execute("SELECT warden.current_actor()").fetchone()[0]


def test_actor_is_app_user_id_when_set(db):
    """Check that app.user_id names the actor."""
    db.execute("SET app.user_id = 'u-1'")
    assert actor(db) == "u-1"


def test_empty_app_user_id_falls_through(db):
    """Check that an empty or blank app.user_id is ignored."""
    db.execute("SET app.user_id = '  '")
    db.execute(
        "SELECT set_config('request.jwt.claims', %s, false)",
        (json.dumps({"sub": "jwt-user", "role": "authenticated"}),),
    )
    assert actor(db) == "jwt-user"


def test_actor_from_jwt_sub_claim(db):
    """Check that the sub claim of request.jwt.claims names the actor."""
    db.execute(
        "SELECT set_config('request.jwt.claims', %s, false)",
        (json.dumps({"sub": "0b7e-42", "iat": 1}),),
    )
    assert actor(db) == "0b7e-42"


def test_actor_from_old_postgrest_claim(db):
    """Check that request.jwt.claim.sub of older PostgREST names the actor."""
    db.execute("SET request.jwt.claim.sub = 'old-sub'")
    assert actor(db) == "old-sub"


def test_malformed_claims_fall_back_to_role(db, connect_as):
    """Check that malformed JWT claims fall back to the database role."""
    conn = connect_as("warden_app")
    conn.execute("SET request.jwt.claims = 'not json'")
    assert actor(conn) == "warden_app"


def test_actor_is_role_then_session_user(db, connect_as):
    """Check that without app settings the role, else session_user, acts."""
    assert actor(connect_as("warden_analyst")) == "warden_analyst"
    assert actor(db) == db.execute("SELECT session_user").fetchone()[0]


def test_access_allowed_follows_locks(db, connect_as):
    """Check that access_allowed turns false for a locked actor."""
    conn = connect_as("warden_app")
    conn.execute("SET app.user_id = 'u-5'")
    assert conn.execute("SELECT warden.access_allowed()").fetchone()[0] is True
    db.execute("SELECT warden.lock_account('u-5', '1 hour', 'r')")
    assert conn.execute("SELECT warden.access_allowed()").fetchone()[0] is False
    with pytest.raises(psycopg.Error) as exc:
        conn.execute("SELECT warden.assert_access_allowed()")
    assert exc.value.diag.sqlstate == "42501"
    assert "lock" in exc.value.diag.message_hint


def test_rls_example_hides_rows_from_locked_user(app, db):
    """Check that the documented RLS policy hides rows from a locked user."""
    app.execute("SET app.user_id = 'u-locked'")
    assert app.execute("SELECT count(*) FROM customers").fetchone()[0] == 2
    db.execute("SELECT warden.lock_account('u-locked', '1 hour', 'theft')")
    assert app.execute("SELECT count(*) FROM customers").fetchone()[0] == 0
    app.execute("SET app.user_id = 'u-other'")
    assert app.execute("SELECT count(*) FROM customers").fetchone()[0] == 2


def test_locked_actor_write_is_refused(app, db):
    """Check that a locked actor's write to a watched table gets 42501."""
    db.execute("SELECT warden.lock_account('u-9', '1 hour', 'theft', 55)")
    app.execute("SET app.user_id = 'u-9'")
    with pytest.raises(psycopg.Error) as exc:
        app.execute("INSERT INTO customers VALUES (3, 'Eve')")
    assert exc.value.diag.sqlstate == "42501"
    assert "alert 55" in exc.value.diag.message_hint
    app.execute("SET app.user_id = 'u-10'")
    app.execute("INSERT INTO customers VALUES (3, 'Eve')")
    assert db.execute("SELECT count(*) FROM customers").fetchone()[0] == 3


def test_expired_lock_no_longer_refuses(app, db):
    """Check that a lock whose expiry passed no longer refuses writes."""
    db.execute(
        "INSERT INTO warden.account_locks"
        " (user_id, reason, locked_by, locked_at, expires_at)"
        " VALUES ('u-9', 'r', 'test', now() - interval '2 hours',"
        " now() - interval '1 hour')"
    )
    app.execute("SET app.user_id = 'u-9'")
    app.execute("INSERT INTO customers VALUES (4, 'Fay')")
    assert app.execute("SELECT warden.access_allowed()").fetchone()[0] is True


def test_lock_on_mapped_user_covers_its_db_role(app, db):
    """Check that locking a user refuses its db role whatever app.user_id."""
    db.execute("INSERT INTO warden.user_db_roles VALUES ('u-m', %s)", (APP_ROLE,))
    db.execute("SELECT warden.lock_account('u-m', NULL, 'r')")
    app.execute("SET app.user_id = 'someone-else'")
    with pytest.raises(psycopg.Error) as exc:
        app.execute("UPDATE customers SET name = 'x'")
    assert exc.value.diag.sqlstate == "42501"


def test_blocked_address_write_is_refused(app, db):
    """Check that a write from a blocked address (app.client_ip) is refused."""
    db.execute("SELECT warden.block_ip('198.51.100.0/24', '1 hour', 'r')")
    app.execute("SET app.client_ip = '198.51.100.20'")
    with pytest.raises(psycopg.Error) as exc:
        app.execute("INSERT INTO customers VALUES (5, 'Gus')")
    assert exc.value.diag.sqlstate == "42501"
    assert "block" in exc.value.diag.message_hint


def test_refusal_holds_in_replica_mode(db):
    """Check that replica mode does not bypass the refusal trigger."""
    db.execute("CREATE TABLE public.accounts (id int PRIMARY KEY)")
    db.execute("SELECT warden.watch_table('public.accounts')")
    db.execute("SELECT warden.lock_account('u-r', '1 hour', 'r')")
    db.execute("SET app.user_id = 'u-r'")
    db.execute("SET session_replication_role = replica")
    with pytest.raises(psycopg.Error) as exc:
        db.execute("TRUNCATE public.accounts")
    assert exc.value.diag.sqlstate == "42501"


def test_token_issued_before_revocation_is_refused(db, connect_as):
    """Check that a JWT issued before revoke_sessions is no longer allowed."""
    db.execute("SELECT warden.revoke_sessions('jwt-u', 'stolen token')")
    conn = connect_as("warden_app")
    conn.execute(
        "SELECT set_config('request.jwt.claims', %s, false)",
        (json.dumps({"sub": "jwt-u", "iat": 1_000_000}),),
    )
    assert conn.execute("SELECT warden.access_allowed()").fetchone()[0] is False
    conn.execute(
        "SELECT set_config('request.jwt.claims', %s, false)",
        (json.dumps({"sub": "jwt-u", "iat": 4_000_000_000}),),
    )
    assert conn.execute("SELECT warden.access_allowed()").fetchone()[0] is True


def test_reporting_an_event_is_never_refused(db, connect_as):
    """Check that a locked actor can still report events (evidence)."""
    db.execute("SELECT warden.lock_account('u-l', '1 hour', 'r')")
    conn = connect_as("warden_app")
    conn.execute("SET app.user_id = 'u-l'")
    conn.execute("SELECT warden.log_event('login_failed', user_id => 'u-l')")
    assert (
        db.execute(
            "SELECT count(*) FROM warden.security_audit_log"
            " WHERE event_type = 'login_failed'"
        ).fetchone()[0]
        == 1
    )


def test_realtime_lock_refuses_write_naming_incident(app, db):
    """Check that a lock from the real-time rules refuses writes, hint naming it."""
    db.execute(
        "SELECT warden.log_event('login_failed', user_id => 'u-brute',"
        " ip_address => '192.0.2.' || g) FROM generate_series(1, 6) g"
    )
    assert db.execute("SELECT warden.is_account_locked('u-brute')").fetchone()[0]
    reference = db.execute(
        "SELECT i.reference FROM warden.account_locks AS l"
        " JOIN warden.alerts AS a ON a.id = l.alert_id"
        " LEFT JOIN warden.incidents AS i ON i.id = a.incident_id"
        " WHERE l.user_id = 'u-brute'"
    ).fetchone()[0]
    app.execute("SET app.user_id = 'u-brute'")
    with pytest.raises(psycopg.Error) as exc:
        app.execute("UPDATE customers SET name = 'pwned'")
    assert exc.value.diag.sqlstate == "42501"
    assert reference is not None
    assert reference in exc.value.diag.message_hint
