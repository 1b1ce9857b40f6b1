"""No input line makes a parser fail: every line is an event or a skip."""

from __future__ import annotations

import datetime as dt
import uuid

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg.types.json import Jsonb

from pgwarden.ingest import FORMATS, ParseOptions, Skipped, parse
from pgwarden.ingest.load import Loader, Summary

NOW = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.timezone.utc)

#: Fragments of real log lines, so that random lines reach deep branches.
FRAGMENTS = [
    "Dec 10 06:55:46 ",
    "LabSZ ",
    "sshd[24200]: ",
    "sudo: ",
    "su[1]: ",
    "Failed password for ",
    "invalid user ",
    "Accepted publickey for ",
    " from ",
    "::ffff:1.2.3.4",
    "203.0.113.7",
    " port 22",
    " ssh2",
    ": ",
    "message repeated 3 times: [ ",
    "]",
    "Connection closed by ",
    "Received disconnect from ",
    "Disconnecting: Too many authentication ",
    "failures",
    "User root not allowed because ",
    "ROOT LOGIN REFUSED FROM ",
    "2026-12-01 10:00:00.123 UTC [101] ",
    "LOG:  ",
    "FATAL:  ",
    'password authentication failed for user "a"',
    "connection authorized: ",
    "user=bob database=app",
    "AUDIT: ",
    "SESSION,1,1,READ,SELECT,TABLE,",
    "public.customers,",
    '"SELECT\n',
    '",<not logged>,5',
    "{",
    "}",
    '"',
    ",",
    '{"event_type": "login_failed", "created_at": ',
    '"2026-12-01T10:00Z"',
    "event_type,user_id,created_at\n",
    "\n",
    " ",
    "\t",
    "\x00",
    "é",
]

lines = st.lists(
    st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=8), max_size=12).map(
        "".join
    ),
    max_size=12,
)


@settings(max_examples=150, deadline=None)
@given(text=lines, fmt=st.sampled_from(sorted(FORMATS)))
def test_parsers_never_raise(text, fmt):
    """Check that any lines give events and skips, never an exception."""
    options = ParseOptions(now=NOW, watched_tables=frozenset({"public.customers"}))
    for item in parse(fmt, "\n".join(text).splitlines(), options):
        if isinstance(item, Skipped):
            assert item.line >= 1 and item.reason
        else:
            assert item["event_type"] and item["line"] >= 1
            assert item["created_at"].tzinfo is not None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)
addresses = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "",
            " ",
            "10.0.0.1",
            "::ffff:10.1.2.3",
            "2001:db8::/64",
            "300.1.2.3",
            "1.2.3",
            "fe80::1%eth0",
            "10.1/16",
            "010.001.002.003",
            "::",
            "::ffff:0:0/100",
        ]
    ),
    st.text(alphabet="0123456789abcdef:./ ", max_size=12),
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    user_id=st.none() | st.text(max_size=6) | st.just("u" * 300),
    ip_address=addresses,
    metadata=st.none()
    | json_values
    | st.fixed_dictionaries({"data_quality": json_values}),
)
def test_loader_stores_what_log_event_stores(db, user_id, ip_address, metadata):
    """Check that random event fields are stored as log_event stores them."""
    item = {
        "line": 1,
        # A record of its own, so that no example is a duplicate of another.
        "record": uuid.uuid4().hex,
        # No rule feeds on logouts, so no alert event interleaves.
        "event_type": "logout",
        "user_id": user_id,
        "ip_address": ip_address,
        "metadata": metadata,
        "record_count": None,
        "table_name": None,
        "risk_score": None,
        "created_at": NOW,
    }
    summary = Summary()
    loader = Loader(db, format_name="test", file_label="t", summary=summary)
    loader.add(item)
    loader.flush()
    if summary.skipped:
        # Refused by the loader: log_event refuses it too.
        with pytest.raises(psycopg.DataError):
            db.execute(
                "SELECT warden.log_event('logout', user_id => %s, "
                "ip_address => %s, metadata => %s, created_at => %s)",
                (
                    user_id,
                    ip_address,
                    None if metadata is None else Jsonb(metadata),
                    NOW,
                ),
            )
        return
    db.execute(
        "SELECT warden.log_event('logout', user_id => %s, "
        "ip_address => %s, metadata => %s, created_at => %s)",
        (user_id, ip_address, None if metadata is None else Jsonb(metadata), NOW),
    )
    rows = db.execute(
        "SELECT user_id, ip_address, risk_score, metadata "
        "- '{ingest_key,ingest_file,ingest_line}'::text[] "
        "FROM warden.security_audit_log WHERE source <> 'pgwarden' "
        "ORDER BY id DESC LIMIT 2"
    ).fetchall()
    assert rows[0] == rows[1]


@pytest.mark.parametrize(
    ("user_id", "ip_address", "metadata", "created_at"),
    [
        ("u" * 300, None, {"raw_user_id": "mine", "caller_raw_user_id": 1}, NOW),
        (None, "not-an-address", {"raw_ip_address": "mine"}, NOW),
        ("alice", "300.1.2.3", {"data_quality": "not a list"}, NOW),
        ("alice", None, {"data_quality": ["own_mark"]}, NOW),
        ("alice", None, None, dt.datetime(1960, 1, 1, tzinfo=dt.timezone.utc)),
    ],
)
def test_loader_keeps_caller_keys_as_log_event_does(
    db, user_id, ip_address, metadata, created_at
):
    """Check that caller keys, marks and old times are stored as log_event does."""
    item = {
        "line": 1,
        "record": uuid.uuid4().hex,
        "event_type": "logout",
        "user_id": user_id,
        "ip_address": ip_address,
        "metadata": metadata,
        "record_count": None,
        "table_name": None,
        "risk_score": None,
        "created_at": created_at,
    }
    loader = Loader(db, format_name="test", file_label="t", summary=Summary())
    loader.add(item)
    loader.flush()
    db.execute(
        "SELECT warden.log_event('logout', user_id => %s, "
        "ip_address => %s, metadata => %s, created_at => %s)",
        (
            user_id,
            ip_address,
            None if metadata is None else Jsonb(metadata),
            created_at,
        ),
    )
    rows = db.execute(
        "SELECT user_id, ip_address, metadata "
        "- '{ingest_key,ingest_file,ingest_line}'::text[] "
        "FROM warden.security_audit_log WHERE source <> 'pgwarden' "
        "ORDER BY id DESC LIMIT 2"
    ).fetchall()
    assert rows[0] == rows[1]
    assert rows[0][2].get("data_quality")
