"""The event log is append-only, and attempts to change it are recorded."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql

PACKAGE_ROLES = ["warden_admin", "warden_analyst", "warden_app"]


@pytest.fixture
def one_event(db) -> int:
    """Store one event and return its id."""
    return db.execute(
        "SELECT warden.log_event('login_failed', user_id => 'u1', "
        "ip_address => '192.0.2.1')"
    ).fetchone()[0]


@pytest.mark.parametrize("role", PACKAGE_ROLES)
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE warden.security_audit_log SET risk_score = 1",
        "DELETE FROM warden.security_audit_log",
        "TRUNCATE warden.security_audit_log",
        "INSERT INTO warden.security_audit_log (event_type, risk_score) "
        "VALUES ('login_failed', 1)",
    ],
    ids=["update", "delete", "truncate", "insert"],
)
def test_package_roles_cannot_change_the_log(
    db, connect_as, one_event, role, statement
):
    """Check that no package role may change the log directly (42501)."""
    conn = connect_as(role)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(statement)
    assert db.execute(
        "SELECT count(*), min(risk_score) FROM warden.security_audit_log "
        "WHERE event_type = 'login_failed'"
    ).fetchone() == (1, 2)


@pytest.mark.parametrize("role", PACKAGE_ROLES)
def test_package_roles_cannot_disable_the_triggers(connect_as, role):
    """Check that no package role may disable the append-only triggers."""
    conn = connect_as(role)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("ALTER TABLE warden.security_audit_log DISABLE TRIGGER ALL")


@pytest.mark.parametrize(
    ("statement", "operation"),
    [
        ("UPDATE warden.security_audit_log SET risk_score = 1", "UPDATE"),
        ("DELETE FROM warden.security_audit_log", "DELETE"),
    ],
)
def test_owner_update_and_delete_are_skipped_and_recorded(
    db, one_event, statement, operation
):
    """Check that even the owner's UPDATE/DELETE changes nothing and is logged."""
    warnings = []
    db.add_notice_handler(lambda d: warnings.append(d.sqlstate))
    cur = db.execute(statement)
    assert cur.rowcount == 0
    row = db.execute(
        "SELECT risk_score FROM warden.security_audit_log WHERE id = %s",
        (one_event,),
    ).fetchone()
    assert row == (2,)
    tamper = db.execute(
        "SELECT metadata->>'operation', source, risk_score "
        "FROM warden.security_audit_log "
        "WHERE event_type = 'audit_tamper_attempt'"
    ).fetchall()
    assert tamper == [(operation, "pgwarden", 5)]
    assert warnings == ["42501"]


def test_update_of_a_partition_directly_is_skipped_and_recorded(db, one_event):
    """Check that aiming at a partition instead of the parent changes nothing."""
    part = db.execute(
        "SELECT tableoid::regclass::text FROM warden.security_audit_log WHERE id = %s",
        (one_event,),
    ).fetchone()[0]
    db.execute(
        sql.SQL("UPDATE {} SET user_id = 'someone-else'").format(
            sql.Identifier(*part.split("."))
        )
    )
    assert db.execute(
        "SELECT user_id FROM warden.security_audit_log WHERE id = %s",
        (one_event,),
    ).fetchone() == ("u1",)
    assert db.execute(
        "SELECT count(*) FROM warden.security_audit_log "
        "WHERE event_type = 'audit_tamper_attempt'"
    ).fetchone() == (1,)


@pytest.mark.parametrize("target", ["parent", "partition", "default"])
def test_truncate_is_refused_even_for_the_owner(db, one_event, target):
    """Check that TRUNCATE of the log or any partition is refused (42501)."""
    table = {
        "parent": "warden.security_audit_log",
        "default": "warden.security_audit_log_default",
        "partition": db.execute(
            "SELECT tableoid::regclass::text FROM warden.security_audit_log "
            "WHERE id = %s",
            (one_event,),
        ).fetchone()[0],
    }[target]
    with pytest.raises(psycopg.errors.InsufficientPrivilege) as info:
        db.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(*table.split("."))))
    assert "drop_log_partitions" in info.value.diag.message_hint
    assert db.execute("SELECT count(*) FROM warden.security_audit_log").fetchone() == (
        1,
    )


def test_append_only_holds_in_replica_mode(db, one_event):
    """Check that session_replication_role = replica does not bypass it."""
    db.execute("SET session_replication_role = replica")
    db.execute("DELETE FROM warden.security_audit_log")
    assert db.execute(
        "SELECT count(*) FROM warden.security_audit_log WHERE id = %s",
        (one_event,),
    ).fetchone() == (1,)


def test_maintenance_setting_does_not_open_updates(db, one_event):
    """Check that the partition-maintenance setting lets no UPDATE through."""
    db.execute("SET warden.partition_maintenance = 'on'")
    db.execute("UPDATE warden.security_audit_log SET risk_score = 5")
    assert db.execute(
        "SELECT risk_score FROM warden.security_audit_log WHERE id = %s",
        (one_event,),
    ).fetchone() == (2,)


def test_copy_of_unknown_event_type_is_refused(db):
    """Check that rows stored without log_event must name a known type too."""
    copy_sql = "COPY warden.security_audit_log (event_type, risk_score) FROM STDIN"
    with (
        pytest.raises(psycopg.errors.InvalidParameterValue) as info,
        db.cursor().copy(copy_sql) as copy,
    ):
        copy.write_row(("login_failed", 2))
        copy.write_row(("made_up", 2))
    assert '"made_up"' in info.value.diag.message_primary
    assert db.execute("SELECT count(*) FROM warden.security_audit_log").fetchone() == (
        0,
    )
