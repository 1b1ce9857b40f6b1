"""warden.log_event: the one call through which applications report events."""

from __future__ import annotations

import psycopg
import pytest


def fetch_event(db: psycopg.Connection, event_id: int) -> dict:
    """Return one stored event as a dict."""
    cur = db.execute(
        "SELECT * FROM warden.security_audit_log WHERE id = %s", (event_id,)
    )
    names = [c.name for c in cur.description]
    return dict(zip(names, cur.fetchone(), strict=True))


def test_named_arguments_store_every_field(db):
    """Check that a call with named arguments stores each field as given."""
    event_id = db.execute(
        """
        SELECT warden.log_event(
            'customer_data_bulk_export',
            user_id => 'u-1042',
            ip_address => '203.0.113.7',
            metadata => '{"user_agent": "curl/8.5"}',
            record_count => 12,
            table_name => 'customers',
            risk_score => 4,
            created_at => '2026-12-01 10:00:00+00'
        )
        """
    ).fetchone()[0]
    row = fetch_event(db, event_id)
    assert row["user_id"] == "u-1042"
    assert str(row["ip_address"]) == "203.0.113.7"
    assert row["metadata"] == {"user_agent": "curl/8.5"}
    assert row["record_count"] == 12
    assert row["table_name"] == "customers"
    assert row["risk_score"] == 4
    assert row["created_at"].isoformat() == "2026-12-01T10:00:00+00:00"
    assert row["source"] == "application"
    assert row["db_role"] == "postgres"


def test_risk_score_defaults_to_event_type(db):
    """Check that an event without a risk score takes its type's default."""
    event_id = db.execute(
        "SELECT warden.log_event('privilege_escalation_attempt', user_id => 'a')"
    ).fetchone()[0]
    assert fetch_event(db, event_id)["risk_score"] == 4


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("::ffff:192.0.2.1", "192.0.2.1"),
        ("::FFFF:10.1.2.3", "10.1.2.3"),
        ("2001:db8::1", "2001:db8::1"),
        (" 198.51.100.4 ", "198.51.100.4"),
        ("198.51.100.0/24", "198.51.100.0/24"),
    ],
)
def test_address_is_normalised(db, given, stored):
    """Check that IPv4-mapped IPv6 becomes IPv4 and other forms are kept."""
    event_id = db.execute(
        "SELECT warden.log_event('login_failed', ip_address => %s)", (given,)
    ).fetchone()[0]
    row = fetch_event(db, event_id)
    assert str(row["ip_address"]) == stored
    assert "data_quality" not in row["metadata"]


@pytest.mark.parametrize(
    "bad", ["1.2.3.999", "not-an-ip", "fe80::1%eth0", "1.2.3", "[::1]:22"]
)
def test_malformed_address_is_kept_in_metadata(db, bad):
    """Check that a malformed address is kept, marked, and the event stored."""
    event_id = db.execute(
        """SELECT warden.log_event('login_failed', user_id => 'u1',
               ip_address => %s, metadata => '{"k": "v"}')""",
        (bad,),
    ).fetchone()[0]
    row = fetch_event(db, event_id)
    assert row["ip_address"] is None
    assert row["metadata"]["raw_ip_address"] == bad
    assert row["metadata"]["data_quality"] == ["invalid_ip_address"]
    assert row["metadata"]["k"] == "v"
    assert row["user_id"] == "u1"


@pytest.mark.parametrize("empty", ["", "   "])
def test_empty_user_id_is_unknown(db, empty):
    """Check that an empty user id is stored as unknown, with a mark."""
    event_id = db.execute(
        "SELECT warden.log_event('login_success', user_id => %s)", (empty,)
    ).fetchone()[0]
    row = fetch_event(db, event_id)
    assert row["user_id"] is None
    assert row["metadata"]["data_quality"] == ["empty_user_id"]


def test_unknown_event_type_is_refused(db):
    """Check that an unknown type is refused with 22023, the value and a hint."""
    with pytest.raises(psycopg.errors.InvalidParameterValue) as info:
        db.execute("SELECT warden.log_event('login_faild', user_id => 'u1')")
    diag = info.value.diag
    assert diag.sqlstate == "22023"
    assert '"login_faild"' in diag.message_primary
    assert "login_failed" in diag.message_hint
    assert (
        db.execute("SELECT count(*) FROM warden.security_audit_log").fetchone()[0] == 0
    )


@pytest.mark.parametrize("score", [0, 6, -1])
def test_risk_score_out_of_range_is_refused(db, score):
    """Check that a risk score outside 1..5 is refused with 22003."""
    with pytest.raises(psycopg.errors.NumericValueOutOfRange) as info:
        db.execute(
            "SELECT warden.log_event('login_failed', risk_score => %s)",
            (score,),
        )
    assert str(score) in info.value.diag.message_primary
    assert "1 to 5" in info.value.diag.message_hint


@pytest.mark.parametrize("score", [1, 5])
def test_risk_score_bounds_are_accepted(db, score):
    """Check that the risk scores 1 and 5 themselves are accepted."""
    event_id = db.execute(
        "SELECT warden.log_event('login_failed', risk_score => %s)", (score,)
    ).fetchone()[0]
    assert fetch_event(db, event_id)["risk_score"] == score


def test_negative_record_count_is_refused(db):
    """Check that a negative record count is refused with 22003."""
    with pytest.raises(psycopg.errors.NumericValueOutOfRange) as info:
        db.execute(
            "SELECT warden.log_event('customer_data_access', record_count => -1)"
        )
    assert "-1" in info.value.diag.message_primary


def test_infinite_time_is_refused(db):
    """Check that an event time of infinity is refused with 22008."""
    with pytest.raises(psycopg.errors.DatetimeFieldOverflow):
        db.execute("SELECT warden.log_event('login_failed', created_at => 'infinity')")


@pytest.mark.parametrize(
    "when",
    [
        "1970-01-01 00:00:00+00",
        "2016-12-10 06:55:46+00",
        "2199-06-30 23:59:59+00",
        "0044-03-15 12:00:00+00",
    ],
)
def test_events_far_in_past_and_future_are_stored(db, when):
    """Check that no event time, however old or far ahead, lacks a partition."""
    event_id = db.execute(
        "SELECT warden.log_event('login_failed', created_at => %s)", (when,)
    ).fetchone()[0]
    assert fetch_event(db, event_id)["id"] == event_id


def test_future_time_is_marked(db):
    """Check that an event more than a day ahead is stored with a mark."""
    event_id = db.execute(
        "SELECT warden.log_event('login_failed', "
        "created_at => now() + interval '3 days')"
    ).fetchone()[0]
    assert fetch_event(db, event_id)["metadata"]["data_quality"] == [
        "created_at_in_future"
    ]


def test_very_long_user_id_is_kept_whole(db):
    """Check that a user id too long for the index is cut and kept whole."""
    long_id = "x" * 5000
    event_id = db.execute(
        "SELECT warden.log_event('login_failed', user_id => %s)", (long_id,)
    ).fetchone()[0]
    row = fetch_event(db, event_id)
    assert row["user_id"] == "x" * 256
    assert row["metadata"]["raw_user_id"] == long_id
    assert row["metadata"]["data_quality"] == ["user_id_truncated"]


def test_metadata_that_is_not_an_object_is_kept(db):
    """Check that array metadata is wrapped, marked and not lost."""
    event_id = db.execute(
        "SELECT warden.log_event('login_failed', metadata => '[1, 2]')"
    ).fetchone()[0]
    meta = fetch_event(db, event_id)["metadata"]
    assert meta["raw_metadata"] == [1, 2]
    assert meta["data_quality"] == ["metadata_not_object"]


def test_reporter_role_reports_but_cannot_read(connect_as):
    """Check that warden_app can call log_event and cannot read the log."""
    app = connect_as("warden_app")
    event_id = app.execute(
        "SELECT warden.log_event('login_failed', user_id => 'u9')"
    ).fetchone()[0]
    assert event_id > 0
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        app.execute("SELECT * FROM warden.security_audit_log")


def test_reporter_role_is_recorded(db, connect_as):
    """Check that the database role of the reporter is stored with the event."""
    app = connect_as("warden_app")
    event_id = app.execute(
        "SELECT warden.log_event('login_failed', user_id => 'u9')"
    ).fetchone()[0]
    assert fetch_event(db, event_id)["db_role"] == "warden_app"


def test_log_event_is_not_executable_by_public(db):
    """Check that a role outside the package cannot call log_event."""
    assert (
        db.execute(
            "SELECT has_function_privilege('public', "
            "'warden.log_event(text, text, text, jsonb, integer, text, integer, "
            "timestamptz)', 'EXECUTE')"
        ).fetchone()[0]
        is False
    )
