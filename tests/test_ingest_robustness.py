"""No input line makes a parser fail: every line is an event or a skip."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from pgwarden.ingest import FORMATS, ParseOptions, Skipped, parse

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
