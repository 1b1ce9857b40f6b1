"""Property-based tests of warden.log_event against random and malformed input.

Whatever an application sends, an event is either stored (with a
data-quality mark where the input was not clean, and nothing of the input
lost) or refused with a SQLSTATE that names the kind of problem. Never a
crash, never a partial write, and a refused event never takes a valid one
beside it down with it.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg.types.json import Jsonb

#: What log_event may answer when it refuses an event: unknown type
#: (22023), risk score or count out of range (22003, and 42883 when a count
#: does not even fit an integer parameter), a time that is not a point in
#: time (22008), and text PostgreSQL cannot hold in jsonb (22P05).
REFUSALS = {"22023", "22003", "42883", "22008", "22P05"}

#: Keys that log_event itself writes into metadata.
RESERVED_KEYS = {"data_quality", "raw_ip_address", "raw_user_id", "raw_metadata"}

EVENT_TYPES = [
    "login_success",
    "login_failed",
    "logout",
    "customer_data_access",
    "customer_data_bulk_export",
    "customer_data_modify",
    "privilege_escalation_attempt",
    "permission_denied",
    "role_change",
]
DEFAULT_RISK = {
    "login_success": 1,
    "login_failed": 2,
    "logout": 1,
    "customer_data_access": 2,
    "customer_data_bulk_export": 3,
    "customer_data_modify": 2,
    "privilege_escalation_attempt": 4,
    "permission_denied": 3,
    "role_change": 3,
}

FUZZ = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Text a client can send at all: PostgreSQL text holds no NUL, and UTF-8
# holds no lone surrogates (psycopg refuses both before the server sees them).
SENDABLE = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
TEXT = st.text(alphabet=SENDABLE, max_size=80)

ADDRESSES = st.one_of(
    st.none(),
    st.ip_addresses().map(str),
    st.ip_addresses(v=4).map(lambda a: f"::ffff:{a}"),
    st.tuples(st.ip_addresses(), st.integers(0, 200)).map(lambda t: f"{t[0]}/{t[1]}"),
    st.from_regex(r"\A[0-9a-fA-F:.]{1,45}(/[0-9]{1,3})?\Z"),
    st.from_regex(r"\A[0-9]{1,4}(\.[0-9]{1,4}){0,4}\Z"),
    st.sampled_from(["", " ", "\t", "fe80::1%eth0", "[::1]:22", "localhost"]),
    TEXT,
)

JSON_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    TEXT,
)
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(TEXT, children, max_size=4),
    ),
    max_leaves=20,
)
METADATA = st.one_of(
    st.none(),
    st.dictionaries(
        TEXT.filter(lambda k: k not in RESERVED_KEYS), JSON_VALUES, max_size=6
    ),
    JSON_VALUES,
)

USER_IDS = st.one_of(
    st.none(),
    TEXT,
    st.sampled_from(["", "   ", "u-1042", "x" * 256, "x" * 257]),
    st.text(alphabet=SENDABLE, min_size=250, max_size=3000),
)

TIMES = st.one_of(
    st.none(),
    st.datetimes(
        min_value=dt.datetime(1, 1, 2),
        max_value=dt.datetime(9999, 12, 30),
        timezones=st.just(dt.timezone.utc),
    ),
    st.sampled_from(["infinity", "-infinity", "294276-12-31 00:00:00+00"]),
)

COUNTS = st.one_of(
    st.none(),
    st.integers(min_value=-5, max_value=2_000),
    st.integers(min_value=-(2**40), max_value=2**40),
)

CALLS = st.fixed_dictionaries(
    {
        "event_type": st.one_of(st.sampled_from(EVENT_TYPES), TEXT),
        "user_id": USER_IDS,
        "ip_address": ADDRESSES,
        "metadata": METADATA,
        "record_count": COUNTS,
        "table_name": st.one_of(st.none(), TEXT),
        "risk_score": st.one_of(st.none(), st.integers(-3, 8)),
        "created_at": TIMES,
    }
)

LOG_EVENT = """
    SELECT warden.log_event(
        %(event_type)s,
        user_id => %(user_id)s,
        ip_address => %(ip_address)s,
        metadata => %(metadata)s,
        record_count => %(record_count)s,
        table_name => %(table_name)s,
        risk_score => %(risk_score)s,
        created_at => %(created_at)s::timestamptz
    )
"""


def call_log_event(conn: psycopg.Connection, call: dict) -> int:
    """Call log_event with the arguments of ``call``; return the new id."""
    params = dict(call)
    if params["metadata"] is not None:
        params["metadata"] = Jsonb(params["metadata"])
    return conn.execute(LOG_EVENT, params).fetchone()[0]


def count_events(conn: psycopg.Connection, *, source: str | None = None) -> int:
    """Number of rows in the event log (of one source, when given)."""
    return conn.execute(
        "SELECT count(*) FROM warden.security_audit_log "
        "WHERE source = coalesce(%s, source)",
        (source,),
    ).fetchone()[0]


def fetch_event(conn: psycopg.Connection, event_id: int) -> dict:
    """Return the one stored event with this id as a dict.

    Times come back as text: PostgreSQL holds years Python cannot.
    """
    cur = conn.execute(
        "SELECT id, user_id, event_type, metadata, risk_score, "
        "created_at::text AS created_at, ip_address::text AS ip_address, "
        "table_name, record_count, source "
        "FROM warden.security_audit_log WHERE id = %s",
        (event_id,),
    )
    names = [c.name for c in cur.description]
    rows = cur.fetchall()
    assert len(rows) == 1, f"event {event_id} stored {len(rows)} times"
    return dict(zip(names, rows[0], strict=True))


def expected_marks(call: dict, now: dt.datetime) -> set[str]:
    """The data-quality marks log_event must add for this input."""
    marks: set[str] = set()
    meta = call["metadata"]
    if meta is not None and not isinstance(meta, dict):
        marks.add("metadata_not_object")
    user = call["user_id"]
    if user is not None and user.strip(" ") == "":
        marks.add("empty_user_id")
    elif user is not None and len(user) > 256:
        marks.add("user_id_truncated")
    when = call["created_at"]
    if isinstance(when, dt.datetime) and when > now + dt.timedelta(days=1):
        marks.add("created_at_in_future")
    return marks


def as_inet(conn: psycopg.Connection, text: str) -> str | None:
    """PostgreSQL's own reading of an address as inet, None when invalid."""
    try:
        with conn.transaction():
            value = conn.execute("SELECT %s::inet::text", (text,)).fetchone()[0]
    except psycopg.errors.InvalidTextRepresentation:
        return None
    mapped = ipaddress.ip_interface(value)
    if isinstance(mapped.ip, ipaddress.IPv6Address) and mapped.ip.ipv4_mapped:
        v4 = str(mapped.ip.ipv4_mapped)
        return f"{v4}/{max(mapped.network.prefixlen - 96, 0)}"
    return value


def check_stored(
    conn: psycopg.Connection, row: dict, call: dict, now: dt.datetime
) -> None:
    """Assert that the stored row keeps everything the caller sent."""
    assert row["event_type"] == call["event_type"]
    assert row["source"] == "application"
    assert row["risk_score"] == (
        call["risk_score"]
        if call["risk_score"] is not None
        else DEFAULT_RISK[call["event_type"]]
    )
    assert row["record_count"] == call["record_count"]
    assert row["table_name"] == call["table_name"]
    if call["created_at"] is not None:
        assert conn.execute(
            "SELECT %s::timestamptz = %s::timestamptz",
            (row["created_at"], call["created_at"]),
        ).fetchone() == (True,)
    meta = row["metadata"]
    assert isinstance(meta, dict)
    marks = set(meta.get("data_quality", []))

    # The user id: unknown when blank, cut to 256 characters and kept whole.
    user = call["user_id"]
    if user is None or user.strip(" ") == "":
        assert row["user_id"] is None
    elif len(user) > 256:
        assert row["user_id"] == user[:256]
        assert meta["raw_user_id"] == user
    else:
        assert row["user_id"] == user

    # The address: parsed, or kept verbatim beside a mark; never lost.
    given = call["ip_address"]
    if given is None or given.strip(" ") == "":
        assert row["ip_address"] is None
    elif row["ip_address"] is None:
        assert meta["raw_ip_address"] == given
        assert "invalid_ip_address" in marks
    else:
        assert "invalid_ip_address" not in marks
        stored = ipaddress.ip_interface(row["ip_address"])
        assert stored == ipaddress.ip_interface(as_inet(conn, given.strip(" ")))

    # The metadata: every key the caller sent, unchanged.
    # Compared as jsonb, since JSON numbers have more than one spelling.
    sent = call["metadata"]
    if isinstance(sent, dict):
        kept = list(sent.items())
    elif sent is not None:
        kept = [("raw_metadata", sent)]
    else:
        kept = []
    for key, value in kept:
        assert conn.execute(
            "SELECT metadata -> %s = %s FROM warden.security_audit_log WHERE id = %s",
            (key, Jsonb(value), row["id"]),
        ).fetchone() == (True,), key

    assert expected_marks(call, now) <= marks


@FUZZ
@given(call=CALLS)
def test_any_call_is_stored_whole_or_refused_cleanly(db, call):
    """Check that a random call stores one faithful row or refuses with a code."""
    before = count_events(db)
    stored_before = count_events(db, source="application")
    now = db.execute("SELECT now()").fetchone()[0]
    try:
        event_id = call_log_event(db, call)
    except psycopg.Error as exc:
        assert exc.diag.sqlstate in REFUSALS, (exc.diag.sqlstate, str(exc))
        assert count_events(db) == before
        return
    assert count_events(db, source="application") == stored_before + 1
    check_stored(db, fetch_event(db, event_id), call, now)


@FUZZ
@given(bad=CALLS, good_user=st.text(alphabet="abcdef0123456789", min_size=1))
def test_valid_events_beside_a_bad_one_are_kept(db, dsn, bad, good_user):
    """Check that a reporter's valid events beside a bad call are both stored."""
    good = {
        "event_type": "login_failed",
        "user_id": good_user,
        "ip_address": "198.51.100.7",
        "metadata": {"k": "v"},
        "record_count": None,
        "table_name": None,
        "risk_score": None,
        "created_at": None,
    }
    with psycopg.connect(dsn, autocommit=True) as app:
        app.execute("SET ROLE warden_app")
        first = call_log_event(app, good)
        try:
            call_log_event(app, bad)
        except psycopg.Error as exc:
            assert exc.diag.sqlstate in REFUSALS, (exc.diag.sqlstate, str(exc))
        second = call_log_event(app, good)
    for event_id in (first, second):
        row = fetch_event(db, event_id)
        assert row["user_id"] == good_user
        assert row["ip_address"] == "198.51.100.7/32"


@FUZZ
@given(
    attempted=st.text(alphabet=SENDABLE, min_size=1, max_size=6000),
    user=st.one_of(st.none(), st.just("")),
)
def test_failed_login_with_any_attempted_user_is_stored(db, attempted, user):
    """Check that a failed login is stored whatever user name was tried."""
    call = {
        "event_type": "login_failed",
        "user_id": user,
        "ip_address": "203.0.113.9",
        "metadata": {"attempted_user": attempted},
        "record_count": None,
        "table_name": None,
        "risk_score": None,
        "created_at": None,
    }
    row = fetch_event(db, call_log_event(db, call))
    assert row["metadata"]["attempted_user"] == attempted


def test_failed_login_with_a_huge_attempted_user_is_stored(db):
    """Check that a failed login naming a 6 kB random user name is stored."""
    attempted = "".join(
        db.execute(
            "SELECT string_agg(md5(i::text), '') FROM generate_series(1, 200) i"
        ).fetchone()
    )
    event_id = db.execute(
        "SELECT warden.log_event('login_failed', ip_address => '203.0.113.9', "
        "metadata => jsonb_build_object('attempted_user', %s::text))",
        (attempted,),
    ).fetchone()[0]
    assert fetch_event(db, event_id)["metadata"]["attempted_user"] == attempted


@pytest.mark.parametrize("depth", [500, 5_000, 100_000])
def test_deeply_nested_metadata_is_stored_or_refused_whole(db, depth):
    """Check that metadata nested thousands deep is stored or refused, not cut."""
    text = '{"a": ' * depth + "1" + "}" * depth
    before = count_events(db)
    try:
        event_id = db.execute(
            "SELECT warden.log_event('login_failed', user_id => 'deep', "
            "metadata => %s::jsonb)",
            (text,),
        ).fetchone()[0]
    except psycopg.Error as exc:
        # The server's stack-depth guard (54001) is the only acceptable error.
        assert exc.diag.sqlstate == "54001"
        assert count_events(db) == before
        return
    stored = db.execute(
        "SELECT metadata::text FROM warden.security_audit_log WHERE id = %s",
        (event_id,),
    ).fetchone()[0]
    assert stored.count('"a"') == depth


def test_enormous_metadata_is_stored_intact(db):
    """Check that 20 MB of metadata is stored byte for byte."""
    blob = {"blob": "ab" * 10_000_000, "n": 1}
    event_id = db.execute(
        "SELECT warden.log_event('customer_data_access', user_id => 'big', "
        "metadata => %s)",
        (Jsonb(blob),),
    ).fetchone()[0]
    length = db.execute(
        "SELECT length(metadata ->> 'blob') FROM warden.security_audit_log "
        "WHERE id = %s",
        (event_id,),
    ).fetchone()[0]
    assert length == 20_000_000


@pytest.mark.parametrize(
    "value",
    ["\x00", "a\x00b"],
    ids=["nul", "embedded-nul"],
)
def test_nul_in_metadata_is_refused_whole(db, value):
    """Check that a NUL character in metadata is refused (22P05), nothing stored."""
    with pytest.raises(psycopg.Error) as info:
        db.execute(
            "SELECT warden.log_event('login_failed', metadata => %s)",
            (Jsonb({"agent": value}),),
        )
    assert info.value.diag.sqlstate == "22P05"
    assert count_events(db) == 0


def test_count_beyond_integer_range_is_refused(db):
    """Check that a record count beyond the integer range is refused whole."""
    with pytest.raises(psycopg.Error) as info:
        db.execute(
            "SELECT warden.log_event('customer_data_bulk_export', "
            "user_id => 'u', record_count => %s)",
            (2**31,),
        )
    assert info.value.diag.sqlstate in {"22003", "42883"}
    assert count_events(db) == 0


def test_caller_metadata_keys_named_like_pgwarden_marks_are_kept(db):
    """Check that a caller's own raw_ip_address survives a bad address."""
    event_id = db.execute(
        "SELECT warden.log_event('login_failed', ip_address => 'no-address', "
        """metadata => '{"raw_ip_address": "from the caller"}')"""
    ).fetchone()[0]
    meta = fetch_event(db, event_id)["metadata"]
    kept = json.dumps(meta)
    assert "no-address" in kept
    assert "from the caller" in kept


@pytest.mark.parametrize("when", ["0044-03-15 12:00:00+00", "4713-01-01 00:00 BC"])
def test_event_centuries_old_is_marked_or_refused(db, when):
    """Check that an event time centuries before now is marked or refused."""
    try:
        event_id = db.execute(
            "SELECT warden.log_event('login_failed', user_id => 'old', "
            "created_at => %s)",
            (when,),
        ).fetchone()[0]
    except psycopg.Error as exc:
        assert exc.diag.sqlstate in REFUSALS
        assert count_events(db) == 0
        return
    assert fetch_event(db, event_id)["metadata"].get("data_quality")
