"""Hostile bytes in imported files, end to end: file on disk to stored rows.

Whatever a log file holds (NUL bytes, invalid UTF-8, JSON escapes of NUL,
binary garbage, megabyte lines), ``pgwarden ingest`` must not fail, must
store every valid event of the file, including those right beside the bad
line, and must either store the bad record with a data-quality mark or
report it as skipped. The parsers alone are fuzzed in
tests/test_ingest_robustness.py; this file covers the whole path.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pgwarden.cli  # noqa: F401  (loads the commands in their order)
from pgwarden.commands.ingest import ingest_file
from pgwarden.ingest import ParseOptions
from pgwarden.ingest.load import Summary

NOW = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.timezone.utc)


def good_line(fmt: str, n: int, user: str | None = None) -> bytes:
    """A line of ``fmt`` that gives one failed login or role change of a user."""
    user = user or f"good{n}"
    sec = n % 60
    template = {
        "jsonl": '{"event_type": "login_failed", "user_id": "%s", '
        '"ip_address": "198.51.100.1", "created_at": "2026-12-01T10:00:%02dZ"}',
        "csv": "login_failed,%s,2026-12-01T10:00:%02dZ",
        "auth-log": "Dec  1 10:00:%2$02d host sshd[%2$d]: Failed password for %1$s "
        "from 198.51.100.1 port 22 ssh2",
        "postgres-log": "2026-12-01 10:00:%2$02d.000 UTC [%2$d] FATAL:  password "
        'authentication failed for user "%1$s"',
        "pgaudit": "2026-12-01 10:00:%2$02d UTC [%2$d] %1$s@app LOG:  AUDIT: "
        "SESSION,1,1,ROLE,GRANT,TABLE,,GRANT SELECT ON customers TO %1$s,"
        "<not logged>",
    }[fmt]
    if "%2$" in template:
        text = template.replace("%1$s", user).replace("%2$02d", f"{sec:02d}")
        text = text.replace("%2$d", str(100 + n))
    else:
        text = template % (user, sec)
    return text.encode()


HEADER = {"csv": b"event_type,user_id,created_at"}
FORMATS = ["jsonl", "csv", "auth-log", "postgres-log", "pgaudit"]


def bad_line(fmt: str, kind: str) -> bytes:
    """A hostile line of one kind, shaped like ``fmt`` where it matters."""
    if kind == "nul_in_user":
        return good_line(fmt, 30, "ev\x00il")
    if kind == "invalid_utf8_in_user":
        return good_line(fmt, 31, "ev").replace(b"ev", b"ev\xff\xfeil", 1)
    if kind == "json_escaped_nul":
        return good_line(fmt, 32, "ev\\u0000il")
    if kind == "garbage":
        # Every byte but the line ends (and the CSV quote, tested apart).
        return bytes(b for b in range(256) if b not in b'\n\r"')
    if kind == "megabyte_line":
        return good_line(fmt, 33, "x" * 1_000_000)
    raise AssertionError(kind)


def ingest(db: psycopg.Connection, tmp_path: Path, fmt: str, lines: list[bytes]):
    """Write the lines to a file and ingest it; return the summary."""
    path = tmp_path / f"input.{fmt}"
    body = [HEADER[fmt]] if fmt in HEADER else []
    path.write_bytes(b"\n".join(body + lines) + b"\n")
    summary = Summary()
    options = ParseOptions(now=NOW, watched_tables=frozenset({"public.customers"}))
    ingest_file(db, str(path), format_name=fmt, options=options, summary=summary)
    return summary


def stored_users(db: psycopg.Connection) -> list[str]:
    """User ids of the imported events, in file order."""
    return [
        r[0]
        for r in db.execute(
            "SELECT coalesce(user_id, metadata ->> 'attempted_user') "
            "FROM warden.security_audit_log WHERE source = 'importer' "
            "ORDER BY (metadata ->> 'ingest_line')::int"
        )
    ]


def check_bad_record(db: psycopg.Connection, summary: Summary, fmt: str) -> None:
    """The bad record is stored with a data-quality mark, or reported skipped.

    A pgaudit file is a server log: lines that are no audit record are not
    events and need no report.
    """
    rows = db.execute(
        "SELECT user_id, metadata FROM warden.security_audit_log "
        "WHERE source = 'importer' AND coalesce(user_id, "
        "metadata ->> 'attempted_user', '') NOT LIKE 'good%%'"
    ).fetchall()
    if not rows:
        assert summary.lines_skipped >= 1 or fmt == "pgaudit"
        return
    for _user, metadata in rows:
        assert metadata.get("data_quality"), metadata.get("ingest_line")


def case(fmt: str, kind: str):
    """One parameter of the matrix."""
    return pytest.param(fmt, kind, id=f"{fmt}-{kind}")


KINDS = [
    "nul_in_user",
    "invalid_utf8_in_user",
    "json_escaped_nul",
    "garbage",
    "megabyte_line",
]


@pytest.mark.parametrize(
    ("fmt", "kind"),
    [
        case(f, k)
        for f in FORMATS
        for k in KINDS
        if k != "json_escaped_nul" or f == "jsonl"
    ],
)
def test_a_bad_line_loses_no_neighbour(db, tmp_path, fmt, kind):
    """Check that a hostile line is marked or skipped and its neighbours kept."""
    lines = [good_line(fmt, 1), bad_line(fmt, kind), good_line(fmt, 2)]
    summary = ingest(db, tmp_path, fmt, lines)
    users = [u for u in stored_users(db) if u and u.startswith("good")]
    assert users == ["good1", "good2"]
    check_bad_record(db, summary, fmt)


NOISE = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=80).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.sampled_from([b"", b"\r", b"\x00", b"\xff", b"\xef\xbb\xbf", b"\t\t"]),
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    fmt=st.sampled_from(FORMATS),
    noise=st.lists(
        NOISE.filter(lambda b: not set(b'\n\r"') & set(b)), min_size=1, max_size=6
    ),
)
def test_garbage_lines_never_drop_the_rest_of_a_file(db, tmp_path, fmt, noise):
    """Check that random garbage lines between valid ones lose no valid event."""
    run = db.execute("SELECT count(*) FROM warden.security_audit_log").fetchone()[0]
    lines: list[bytes] = []
    expected = []
    for i, junk in enumerate(noise):
        n = run + i
        lines += [good_line(fmt, n, f"good{n}"), junk]
        expected.append(f"good{n}")
    ingest(db, tmp_path, fmt, lines)
    users = set(stored_users(db))
    assert set(expected) <= users


def test_a_stray_quote_in_csv_loses_no_following_line(db, tmp_path):
    """Check that a CSV line with an unbalanced quote loses no later line."""
    lines = [
        good_line("csv", 1),
        b'login_failed,"ev,2026-12-01T10:00:05Z',
        good_line("csv", 2),
        good_line("csv", 3),
    ]
    ingest(db, tmp_path, "csv", lines)
    assert [u for u in stored_users(db) if u.startswith("good")] == [
        "good1",
        "good2",
        "good3",
    ]


def test_same_audit_statement_by_another_user_later_is_stored(db, tmp_path):
    """Check that identical audit text of another user and day is not a duplicate."""
    body = "LOG:  AUDIT: SESSION,1,1,ROLE,GRANT,TABLE,,GRANT SELECT ON t TO x,<n>"
    first = tmp_path / "a"
    first.mkdir()
    ingest(
        db,
        first,
        "pgaudit",
        [b"2026-12-01 10:00:01 UTC [101] alice@app " + body.encode()],
    )
    second = tmp_path / "b"
    second.mkdir()
    ingest(
        db,
        second,
        "pgaudit",
        [b"2026-12-02 11:00:01 UTC [555] mallory@app " + body.encode()],
    )
    assert sorted(stored_users(db)) == ["alice", "mallory"]


def test_invalid_utf8_is_marked_and_its_lines_kept_apart(db, tmp_path):
    """Check that lines differing in invalid bytes are two marked events, once."""
    lines = [
        good_line("csv", 1, "evXil").replace(b"X", b"\xff"),
        good_line("csv", 1, "evXil").replace(b"X", b"\xfe"),
    ]
    first = ingest(db, tmp_path, "csv", lines)
    assert first.events_stored == 2
    rows = db.execute(
        "SELECT user_id, metadata -> 'data_quality' "
        "FROM warden.security_audit_log WHERE source = 'importer'"
    ).fetchall()
    assert rows == [("ev\ufffdil", ["invalid_utf8"])] * 2
    again = ingest(db, tmp_path, "csv", lines)
    assert (again.events_stored, again.duplicates) == (0, 2)


def test_invalid_utf8_in_a_skip_reason_is_printed(db, dsn, tmp_path):
    """Check that a skip reason quoting invalid bytes is printed, not fatal."""
    from click.testing import CliRunner

    from pgwarden.cli import main

    path = tmp_path / "events.jsonl"
    path.write_bytes(b'{"ev\xffent_type": "logout"}\n' + good_line("jsonl", 1) + b"\n")
    result = CliRunner().invoke(
        main, ["ingest", "--format", "jsonl", str(path), "--dsn", dsn]
    )
    assert result.exit_code == 0, result.output
    assert "unknown field ev\ufffdent_type" in result.output
    assert stored_users(db) == ["good1"]


def test_a_stray_quote_is_reported_and_a_later_multiline_field_kept(db, tmp_path):
    """Check that a stray quote is skipped and a later quoted line break kept."""
    lines = [
        good_line("csv", 1),
        b'login_failed,"stray,2026-12-01T10:00:05Z',
        good_line("csv", 2),
        b'login_failed,"good3',
        b'continued",2026-12-01T10:00:03Z',
        good_line("csv", 4),
    ]
    summary = ingest(db, tmp_path, "csv", lines)
    assert stored_users(db) == ["good1", "good2", "good3\ncontinued", "good4"]
    # The header is line 1, so the stray quote is on line 3.
    assert list(summary.skipped.values()) == [[3]]


def test_a_quote_open_for_too_many_lines_loses_none_of_them(db, tmp_path):
    """Check that a quote unclosed after MAX_RECORD_LINES lines loses none."""
    from pgwarden.ingest.csv_events import MAX_RECORD_LINES

    count = MAX_RECORD_LINES + 20
    lines = [b'login_failed,"stray,2026-12-01T10:00:05Z']
    lines += [good_line("csv", n) for n in range(1, count + 1)]
    # Would close the quote, but lies beyond the bound: a line of its own.
    lines.append(b'login_failed,late",2026-12-01T10:00:05Z')
    summary = ingest(db, tmp_path, "csv", lines)
    expected = [f"good{n}" for n in range(1, count + 1)]
    assert stored_users(db) == [*expected, 'late"']
    assert summary.skipped[f"quoted field not closed within {MAX_RECORD_LINES} lines"]
    assert summary.lines_skipped == 1


@pytest.mark.parametrize(
    ("fmt", "first", "second"),
    [
        (
            "postgres-log",
            "2026-12-01 10:00:01.000 UTC [101] FATAL:  password "
            'authentication failed for user "alice"',
            "2026-12-02 11:00:01.000 UTC [555] FATAL:  password "
            'authentication failed for user "alice"',
        ),
        (
            "auth-log",
            "Dec  1 10:00:01 web1 sshd[101]: Failed password for alice from "
            "198.51.100.1 port 22 ssh2",
            "Dec  2 11:00:01 web2 sshd[555]: Failed password for alice from "
            "198.51.100.1 port 22 ssh2",
        ),
        (
            "pgaudit",
            "2026-12-01 10:00:01 UTC [101] alice@app LOG:  AUDIT: SESSION,1,1,"
            "ROLE,GRANT,TABLE,,GRANT SELECT ON t TO x,<n>",
            "2026-12-02 11:00:01 UTC [555] mallory@app LOG:  AUDIT: SESSION,1,1,"
            "ROLE,GRANT,TABLE,,GRANT SELECT ON t TO x,<n>",
        ),
    ],
)
def test_same_message_at_another_time_is_another_event(
    db, tmp_path, fmt, first, second
):
    """Check that one message at two times in two files is two events, once."""
    for name, line in (("a", first), ("b", second)):
        folder = tmp_path / name
        folder.mkdir()
        assert ingest(db, folder, fmt, [line.encode()]).events_stored == 1
        again = ingest(db, folder, fmt, [line.encode()])
        assert (again.events_stored, again.duplicates) == (0, 1)
    times = db.execute(
        "SELECT created_at FROM warden.security_audit_log "
        "WHERE source = 'importer' ORDER BY created_at"
    ).fetchall()
    assert [t.date() for (t,) in times] == [dt.date(2026, 12, 1), dt.date(2026, 12, 2)]


@pytest.mark.parametrize(
    ("fmt", "stray"),
    [
        (
            "pgaudit",
            b"2026-12-01 10:00:05 UTC [150] ev@app LOG:  AUDIT: SESSION,1,1,ROLE,"
            b'GRANT,TABLE,,"GRANT SELECT ON customers TO ev,<not logged>',
        ),
        (
            "postgres-log",
            b'2026-12-01 10:00:05.000 UTC,"ev,"app",150,"[local]",',
        ),
    ],
)
def test_a_stray_quote_in_a_server_log_loses_no_following_line(
    db, tmp_path, fmt, stray
):
    """Check that an unclosed quote in a server log loses no later line."""
    lines = [good_line(fmt, 1), stray, good_line(fmt, 2), good_line(fmt, 3)]
    summary = ingest(db, tmp_path, fmt, lines)
    assert stored_users(db) == ["good1", "good2", "good3"]
    closed = [n for reason, n in summary.skipped.items() if "not closed" in reason]
    assert closed == [[2]]


def test_a_lone_surrogate_escape_in_json_is_marked(db, tmp_path):
    """Check that a JSON \\udc00 escape is stored as U+FFFD and marked."""
    line = (
        '{"event_type": "login_failed", "user_id": "a\\udc00b", '
        '"metadata": {"k\\ud800": "v"}, "created_at": "2026-12-01T10:00:00Z"}'
    )
    summary = ingest(db, tmp_path, "jsonl", [line.encode()])
    assert summary.events_stored == 1
    row = db.execute(
        "SELECT user_id, metadata -> 'data_quality', metadata ? 'k\ufffd' "
        "FROM warden.security_audit_log WHERE source = 'importer'"
    ).fetchone()
    assert row == ("a\ufffdb", ["invalid_utf8"], True)


def test_two_stray_quotes_that_pair_up_lose_no_line_between(db, tmp_path):
    """Check that two stray quotes forming a row that gives no event lose nothing."""
    lines = [
        b'junk,"',
        good_line("csv", 1),
        b'",junk',
        good_line("csv", 2),
    ]
    summary = ingest(db, tmp_path, "csv", lines)
    assert stored_users(db) == ["good1", "good2"]
    assert sorted(n for lines in summary.skipped.values() for n in lines) == [2, 4]
