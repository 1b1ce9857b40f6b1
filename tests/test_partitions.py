"""Partitions of the event log: always a place to land, retention by month."""

from __future__ import annotations

import psycopg
import pytest


def partitions(db) -> list[str]:
    """Names of the monthly partitions of the log."""
    return [
        r[0]
        for r in db.execute(
            "SELECT c.relname FROM pg_inherits AS i "
            "JOIN pg_class AS c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'warden.security_audit_log'::regclass "
            "AND c.relname ~ '_p[0-9]{6}$' ORDER BY 1"
        ).fetchall()
    ]


def test_months_around_now_are_ready(db):
    """Check that the install made partitions from 3 months back to 3 ahead."""
    names = partitions(db)
    now = db.execute(
        "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYYMM'), "
        "to_char((now() AT TIME ZONE 'UTC') + interval '3 months', 'YYYYMM'), "
        "to_char((now() AT TIME ZONE 'UTC') - interval '3 months', 'YYYYMM')"
    ).fetchone()
    for month in now:
        assert f"security_audit_log_p{month}" in names


def test_old_rows_move_out_of_the_default_partition(db):
    """Check that maintenance gives an old month its own partition, ids kept."""
    ids = [
        db.execute(
            "SELECT warden.log_event('login_failed', user_id => 'old', "
            "created_at => %s)",
            (when,),
        ).fetchone()[0]
        for when in (
            "2016-12-10 06:55:00+00",
            "2016-12-31 23:59:59.999+00",
            "2017-01-01 00:00:00+00",
        )
    ]
    assert db.execute(
        "SELECT count(*) FROM warden.security_audit_log_default"
    ).fetchone() == (3,)
    created = [
        r[0]
        for r in db.execute("SELECT warden.maintain_log_partitions()::text").fetchall()
    ]
    assert created == [
        "warden.security_audit_log_p201612",
        "warden.security_audit_log_p201701",
    ]
    rows = db.execute(
        "SELECT id, tableoid::regclass::text FROM warden.security_audit_log "
        "WHERE user_id = 'old' ORDER BY id"
    ).fetchall()
    assert rows == [
        (ids[0], "warden.security_audit_log_p201612"),
        (ids[1], "warden.security_audit_log_p201612"),
        (ids[2], "warden.security_audit_log_p201701"),
    ]
    assert db.execute(
        "SELECT count(*) FROM warden.security_audit_log "
        "WHERE event_type = 'audit_tamper_attempt'"
    ).fetchone() == (0,)
    assert db.execute(
        "SELECT count(*) FROM warden.maintain_log_partitions()"
    ).fetchone() == (0,)


def test_months_follow_utc_whatever_the_session_zone(db):
    """Check that a month boundary is midnight UTC in any session time zone."""
    db.execute("SET TIME ZONE 'America/New_York'")
    db.execute(
        "SELECT warden.log_event('login_failed', created_at => "
        "'2015-03-01 00:00:00+00')"
    )
    db.execute("SELECT warden.maintain_log_partitions()")
    assert db.execute(
        "SELECT tableoid::regclass::text FROM warden.security_audit_log"
    ).fetchone() == ("warden.security_audit_log_p201503",)


def test_new_partitions_are_protected(db):
    """Check that a partition made by maintenance refuses TRUNCATE."""
    db.execute(
        "SELECT warden.log_event('login_failed', created_at => "
        "'2010-05-05 00:00:00+00')"
    )
    db.execute("SELECT warden.maintain_log_partitions()")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        db.execute("TRUNCATE warden.security_audit_log_p201005")


def test_retention_drops_old_months_and_records_it(db):
    """Check that retention drops whole old months and logs log_retention."""
    for when in ("2012-01-15 00:00:00+00", "2012-02-15 00:00:00+00"):
        db.execute("SELECT warden.log_event('login_failed', created_at => %s)", (when,))
    db.execute("SELECT warden.maintain_log_partitions()")
    db.execute(
        "SELECT warden.log_event('login_failed', "
        "created_at => '1999-01-01 00:00:00+00')"
    )
    dropped = [
        r[0]
        for r in db.execute(
            "SELECT warden.drop_log_partitions(interval '400 days')"
        ).fetchall()
    ]
    assert "security_audit_log_p201201" in dropped
    assert "security_audit_log_p201202" in dropped
    assert all(name < "security_audit_log_p2025" for name in dropped)
    assert db.execute(
        "SELECT count(*) FROM warden.security_audit_log "
        "WHERE event_type = 'login_failed'"
    ).fetchone() == (0,)
    records = db.execute(
        "SELECT metadata->>'partition', (metadata->>'rows')::int "
        "FROM warden.security_audit_log WHERE event_type = 'log_retention' "
        "AND (metadata->>'rows')::int > 0 ORDER BY 1"
    ).fetchall()
    assert ("security_audit_log_p201201", 1) in records
    assert ("security_audit_log_default", 1) in records


def test_retention_refuses_a_too_short_period(db):
    """Check that a retention under a day is refused with 22023."""
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        db.execute("SELECT warden.drop_log_partitions(interval '1 hour')")


def test_analyst_cannot_run_retention(connect_as):
    """Check that warden_analyst may not drop partitions."""
    conn = connect_as("warden_analyst")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("SELECT warden.drop_log_partitions(interval '400 days')")
