"""Account locks, address blocks, session revocation and their expiry."""

from __future__ import annotations

import psycopg
import pytest


def events(db: psycopg.Connection, event_type: str) -> list[tuple]:
    """Return (user_id, ip_address, metadata, source) of events of a type."""
    return db.execute(
        "SELECT user_id, host(ip_address), metadata, source"
        " FROM warden.security_audit_log WHERE event_type = %s ORDER BY id",
        (event_type,),
    ).fetchall()


def scalar(db: psycopg.Connection, query: str, params: tuple = ()) -> object:
    """Return the single value of a query."""
    return db.execute(query, params).fetchone()[0]


def test_lock_account_locks_and_records_event(db):
    """Check that lock_account makes the account locked and logs it."""
    lock_id = scalar(
        db, "SELECT warden.lock_account('u-1', '30 minutes', 'brute force')"
    )
    assert scalar(db, "SELECT warden.is_account_locked('u-1')") is True
    assert scalar(db, "SELECT warden.is_account_locked('u-2')") is False
    [(user, _ip, meta, source)] = events(db, "account_locked")
    assert user == "u-1"
    assert meta["lock_id"] == lock_id
    assert meta["reason"] == "brute force"
    assert source == "pgwarden"
    expires = scalar(
        db,
        "SELECT expires_at - locked_at FROM warden.account_locks WHERE id = %s",
        (lock_id,),
    )
    assert expires.total_seconds() == 1800


def test_lock_without_duration_lasts_until_lifted(db):
    """Check that a NULL duration gives a lock without expiry."""
    lock_id = scalar(db, "SELECT warden.lock_account('u-1', NULL, 'manual')")
    assert (
        scalar(
            db, "SELECT expires_at FROM warden.account_locks WHERE id = %s", (lock_id,)
        )
        is None
    )
    assert scalar(db, "SELECT warden.is_account_locked('u-1')") is True


def test_lock_for_same_alert_is_not_repeated(db):
    """Check that locking twice for one alert keeps one lock and one event."""
    first = scalar(db, "SELECT warden.lock_account('u-1', '10 minutes', 'r', 7)")
    second = scalar(db, "SELECT warden.lock_account('u-1', '1 hour', 'r', 7)")
    assert first == second
    assert len(events(db, "account_locked")) == 1
    left = scalar(
        db,
        "SELECT expires_at - now() FROM warden.account_locks WHERE id = %s",
        (first,),
    )
    assert left.total_seconds() > 3000
    assert (
        scalar(db, "SELECT locked_by FROM warden.account_locks WHERE id = %s", (first,))
        == "pgwarden"
    )


def test_suspend_kind_is_stored(db):
    """Check that lock_account with kind 'suspend' records a suspension."""
    lock_id = scalar(
        db,
        "SELECT warden.lock_account('u-1', '60 minutes', 'rate', kind => 'suspend')",
    )
    assert (
        scalar(db, "SELECT kind FROM warden.account_locks WHERE id = %s", (lock_id,))
        == "suspend"
    )


@pytest.mark.parametrize(
    ("call", "sqlstate"),
    [
        ("SELECT warden.lock_account('', '1 hour', 'r')", "22023"),
        ("SELECT warden.lock_account('u', '-1 hour', 'r')", "22023"),
        ("SELECT warden.lock_account('u', '1 hour', 'r', kind => 'x')", "22023"),
        ("SELECT warden.block_ip('not-an-ip', '1 hour', 'r')", "22P02"),
        ("SELECT warden.block_ip('10.0.0.1', '0 seconds', 'r')", "22023"),
        ("SELECT warden.unblock_ip('nonsense', 'r')", "22P02"),
        ("SELECT warden.revoke_sessions(' ', 'r')", "22023"),
    ],
)
def test_bad_arguments_are_refused(db, call, sqlstate):
    """Check that invalid containment arguments raise the documented code."""
    with pytest.raises(psycopg.Error) as exc:
        db.execute(call)
    assert exc.value.diag.sqlstate == sqlstate


def test_expired_lock_lifts_itself(db):
    """Check that a lock whose expiry has passed no longer counts."""
    db.execute(
        "INSERT INTO warden.account_locks"
        " (user_id, reason, locked_by, locked_at, expires_at)"
        " VALUES ('u-old', 'r', 'test', now() - interval '2 hours',"
        " now() - interval '1 hour')"
    )
    assert scalar(db, "SELECT warden.is_account_locked('u-old')") is False


def test_expire_containment_records_end_of_expired_locks(db):
    """Check that the sweep marks expired locks and blocks and logs them."""
    db.execute(
        "INSERT INTO warden.account_locks"
        " (user_id, reason, locked_by, locked_at, expires_at)"
        " VALUES ('u-old', 'r', 'test', now() - interval '2 hours',"
        " now() - interval '1 hour'),"
        " ('u-new', 'r', 'test', now(), now() + interval '1 hour')"
    )
    db.execute(
        "INSERT INTO warden.ip_blocks"
        " (network, reason, blocked_by, blocked_at, expires_at)"
        " VALUES ('198.51.100.9', 'r', 'test', now() - interval '2 hours',"
        " now() - interval '1 hour')"
    )
    assert scalar(db, "SELECT warden.expire_containment()") == 2
    assert scalar(db, "SELECT warden.expire_containment()") == 0
    [(user, _ip, meta, _src)] = events(db, "account_unlocked")
    assert user == "u-old"
    assert meta["reason"] == "expired"
    [(_user, ip, _meta, _src)] = events(db, "ip_unblocked")
    assert ip == "198.51.100.9"
    assert scalar(db, "SELECT warden.is_account_locked('u-new')") is True


def test_unlock_account_lifts_all_active_locks(db):
    """Check that unlock_account lifts every lock, records who and why."""
    db.execute("SELECT warden.lock_account('u-1', '1 hour', 'a')")
    db.execute("SELECT warden.lock_account('u-1', NULL, 'b')")
    db.execute("SET app.user_id = 'manager-1'")
    assert scalar(db, "SELECT warden.unlock_account('u-1', 'verified')") == 2
    assert scalar(db, "SELECT warden.is_account_locked('u-1')") is False
    assert scalar(db, "SELECT warden.unlock_account('u-1', 'again')") == 0
    [(user, _ip, meta, _src)] = events(db, "account_unlocked")
    assert user == "u-1"
    assert meta["lifted_by"] == "manager-1"
    assert len(meta["lock_ids"]) == 2


def test_block_ip_covers_network(db):
    """Check that a blocked network covers its addresses and mapped IPv6."""
    db.execute("SELECT warden.block_ip('203.0.113.0/24', '1 hour', 'stuffing')")
    assert scalar(db, "SELECT warden.is_ip_blocked('203.0.113.77')") is True
    assert scalar(db, "SELECT warden.is_ip_blocked('::ffff:203.0.113.5')")
    assert scalar(db, "SELECT warden.is_ip_blocked('203.0.114.1')") is False
    assert scalar(db, "SELECT warden.is_ip_blocked('garbage')") is False
    [(_user, ip, meta, _src)] = events(db, "ip_blocked")
    assert ip == "203.0.113.0"
    assert meta["network"] == "203.0.113.0/24"


def test_unblock_ip_lifts_covering_blocks(db):
    """Check that unblocking an address lifts the blocks that cover it."""
    db.execute("SELECT warden.block_ip('203.0.113.0/24', '1 hour', 'r')")
    db.execute("SELECT warden.block_ip('203.0.113.7', NULL, 'r')")
    assert scalar(db, "SELECT warden.unblock_ip('203.0.113.7', 'ok')") == 2
    assert scalar(db, "SELECT warden.is_ip_blocked('203.0.113.7')") is False
    assert len(events(db, "ip_unblocked")) == 1


def test_lift_alert_containment_lifts_only_that_alert(db):
    """Check that lifting an alert's containment spares other locks."""
    db.execute("SELECT warden.lock_account('u-1', '1 hour', 'r', 41)")
    db.execute("SELECT warden.block_ip('192.0.2.1', '1 hour', 'r', 41)")
    db.execute("SELECT warden.lock_account('u-2', '1 hour', 'r', 42)")
    assert scalar(db, "SELECT warden.lift_alert_containment(41, 'false positive')") == 2
    assert scalar(db, "SELECT warden.is_account_locked('u-1')") is False
    assert scalar(db, "SELECT warden.is_ip_blocked('192.0.2.1')") is False
    assert scalar(db, "SELECT warden.is_account_locked('u-2')") is True
    [(_u, _i, meta, _s)] = events(db, "account_unlocked")
    assert meta["alert_id"] == 41


@pytest.mark.parametrize("role", ["warden_app", "warden_analyst"])
@pytest.mark.parametrize(
    "call",
    [
        "SELECT warden.unlock_account('u-1', 'mine')",
        "SELECT warden.unblock_ip('192.0.2.1', 'mine')",
        "SELECT warden.lift_alert_containment(1, 'mine')",
        "SELECT warden.lock_account('u-2', '1 hour', 'r')",
        "UPDATE warden.account_locks SET lifted_at = now(), lifted_by = 'x'",
        "DELETE FROM warden.account_locks",
    ],
)
def test_package_roles_cannot_lift_locks(db, connect_as, role, call):
    """Check that warden_app and warden_analyst cannot lift or place locks."""
    db.execute("SELECT warden.lock_account('u-1', '1 hour', 'r', 1)")
    db.execute("SELECT warden.block_ip('192.0.2.1', '1 hour', 'r', 1)")
    conn = connect_as(role)
    with pytest.raises(psycopg.Error) as exc:
        conn.execute(call)
    assert exc.value.diag.sqlstate == "42501"
    assert scalar(db, "SELECT warden.is_account_locked('u-1')") is True


def test_app_may_ask_about_locks(db, connect_as):
    """Check that warden_app may ask whether an account or address is held."""
    db.execute("SELECT warden.lock_account('u-1', '1 hour', 'r')")
    conn = connect_as("warden_app")
    assert scalar(conn, "SELECT warden.is_account_locked('u-1')") is True
    assert scalar(conn, "SELECT warden.is_ip_blocked('192.0.2.1')") is False


def test_admin_locks_and_unlocks(db, connect_as):
    """Check that warden_admin may lock and unlock through the functions."""
    admin = connect_as("warden_admin")
    admin.execute("SELECT warden.lock_account('u-9', '1 hour', 'r')")
    assert scalar(admin, "SELECT warden.unlock_account('u-9', 'ok')") == 1
    lifted_by = scalar(
        db, "SELECT lifted_by FROM warden.account_locks WHERE user_id = 'u-9'"
    )
    assert lifted_by == "warden_admin"


def test_revoke_sessions_records_notifies_and_ends(db, dsn):
    """Check that revoke_sessions logs, notifies and ends mapped sessions."""
    db.execute("CREATE ROLE app_login_u1 LOGIN")
    db.execute("INSERT INTO warden.user_db_roles VALUES ('u-1', 'app_login_u1')")
    victim = psycopg.connect(dsn, user="app_login_u1", autocommit=True)
    listener = psycopg.connect(dsn, autocommit=True)
    listener.execute("LISTEN warden_sessions")
    try:
        rev_id = scalar(db, "SELECT warden.revoke_sessions('u-1', 'stolen')")
        notes = list(listener.notifies(timeout=2, stop_after=1))
        assert len(notes) == 1
        assert f'"revocation_id": {rev_id}' in notes[0].payload
        with pytest.raises(psycopg.OperationalError):
            victim.execute("SELECT 1")
        [(user, _ip, meta, _src)] = events(db, "session_revoked")
        assert user == "u-1"
        assert meta["sessions_ended"] == 1
        assert meta["db_roles"] == ["app_login_u1"]
    finally:
        victim.close()
        listener.close()
        db.execute("DROP ROLE app_login_u1")


def test_revoke_sessions_says_when_it_may_not_end_them(db, dsn):
    """Check that sessions the installer may not end are counted, not lost."""
    db.execute("CREATE ROLE app_login_u2 LOGIN")
    db.execute("CREATE ROLE weak_installer")
    db.execute("INSERT INTO warden.user_db_roles VALUES ('u-2', 'app_login_u2')")
    # Reassign the function to a role without the right to signal backends.
    db.execute("GRANT USAGE ON SCHEMA warden TO weak_installer")
    db.execute("GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA warden TO weak_installer")
    db.execute("GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA warden TO weak_installer")
    db.execute(
        "ALTER FUNCTION warden.revoke_sessions(text, text, bigint)"
        " OWNER TO weak_installer"
    )
    victim = psycopg.connect(dsn, user="app_login_u2", autocommit=True)
    notices: list[str] = []
    db.add_notice_handler(lambda d: notices.append(d.severity_nonlocalized))
    try:
        db.execute("SELECT warden.revoke_sessions('u-2', 'stolen')")
        assert victim.execute("SELECT 1").fetchone()[0] == 1
        row = db.execute(
            "SELECT sessions_ended, sessions_not_ended"
            " FROM warden.session_revocations WHERE user_id = 'u-2'"
        ).fetchone()
        assert row == (0, 1)
        assert "NOTICE" in notices
    finally:
        victim.close()
        db.execute(
            "ALTER FUNCTION warden.revoke_sessions(text, text, bigint)"
            " OWNER TO CURRENT_USER"
        )
        db.execute("DROP OWNED BY weak_installer")
        db.execute("DROP ROLE weak_installer")
        db.execute("DROP ROLE app_login_u2")
