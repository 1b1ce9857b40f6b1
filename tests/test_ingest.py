"""pgwarden ingest: parsers of every format and the loader, on a real database."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from click.testing import CliRunner

from pgwarden.cli import main
from pgwarden.ingest import ParseOptions, Skipped, parse
from pgwarden.ingest.common import parse_inet, syslog_time
from pgwarden.ingest.load import AddressResolver, EventTypes, Refused, normalise

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def events(fmt: str, text: str, **kwargs) -> list:
    """Parse text and return only the events."""
    options = ParseOptions(now=NOW, **kwargs)
    return [e for e in parse(fmt, text.splitlines(), options) if isinstance(e, dict)]


def skips(fmt: str, text: str, **kwargs) -> list[Skipped]:
    """Parse text and return only the skipped records."""
    options = ParseOptions(now=NOW, **kwargs)
    return [e for e in parse(fmt, text.splitlines(), options) if isinstance(e, Skipped)]


def run(dsn: str, *args: str):
    """Run the pgwarden command line in-process."""
    return CliRunner().invoke(main, [*args, "--dsn", dsn], catch_exceptions=False)


def test_failed_and_accepted_logins_are_read():
    """Check that failed and accepted sshd logins give their event types."""
    got = events(
        "auth-log",
        "\n".join(
            [
                "Dec  1 10:00:00 web1 sshd[10]: Failed password for alice from "
                "203.0.113.7 port 4711 ssh2",
                "Dec  1 10:00:01 web1 sshd[11]: Failed none for invalid user bob "
                "from 2001:db8::7 port 22 ssh2",
                "Dec  1 10:00:02 web1 sshd[12]: Failed keyboard-interactive/pam for "
                "carol from ::ffff:198.51.100.9 port 22 ssh2",
                "Dec  1 10:00:03 web1 sshd[13]: Accepted publickey for alice from "
                "203.0.113.7 port 4712 ssh2: RSA SHA256:abc",
            ]
        ),
    )
    assert [e["event_type"] for e in got] == [
        "login_failed",
        "login_failed",
        "login_failed",
        "login_success",
    ]
    assert got[0]["user_id"] == "alice"
    assert got[0]["metadata"]["host"] == "web1"
    assert got[1]["metadata"]["attempted_user"] == "bob"
    assert got[1]["metadata"]["invalid_user"] is True
    assert parse_inet(got[2]["ip_address"]) == "198.51.100.9"
    assert got[0]["created_at"] == dt.datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def test_message_repeated_expands_to_n_events():
    """Check that 'message repeated N times' gives N failed logins."""
    got = events(
        "auth-log",
        "Dec  1 10:00:00 h sshd[10]: message repeated 4 times: [ "
        "Failed password for root from 203.0.113.7 port 1 ssh2]",
    )
    assert len(got) == 4
    assert {e["metadata"]["repeat"] for e in got} == {1, 2, 3, 4}


def test_publickey_probing_is_not_a_failed_login():
    """Check that refused keys followed by an accepted key give no failure."""
    got = events(
        "auth-log",
        "\n".join(
            [
                "Dec  1 10:00:00 h sshd[10]: Failed publickey for git from "
                "192.0.2.1 port 5 ssh2: RSA x",
                "Dec  1 10:00:00 h sshd[10]: Accepted publickey for git from "
                "192.0.2.1 port 5 ssh2: RSA y",
            ]
        ),
    )
    assert [e["event_type"] for e in got] == ["login_success"]


def test_sudo_and_su_are_privilege_events():
    """Check that sudo and su lines get the event types chosen for them."""
    got = events(
        "auth-log",
        "\n".join(
            [
                "Dec  1 10:00:00 h sudo:    bob : user NOT in sudoers ; TTY=pts/0 ; "
                "PWD=/home/bob ; USER=root ; COMMAND=/bin/bash",
                "Dec  1 10:00:01 h sudo:  alice : TTY=pts/1 ; PWD=/ ; USER=root ; "
                "COMMAND=/usr/bin/systemctl restart app",
                "Dec  1 10:00:02 h sudo:  alice : 3 incorrect password attempts ; "
                "TTY=pts/1 ; PWD=/ ; USER=root ; COMMAND=/bin/sh",
                "Dec  1 10:00:03 h su[5]: FAILED SU (to root) mallory on pts/2",
                "Dec  1 10:00:04 h su[6]: (to root) alice on pts/3",
            ]
        ),
    )
    assert [(e["event_type"], e["user_id"]) for e in got] == [
        ("privilege_escalation_attempt", "bob"),
        ("role_change", "alice"),
        ("permission_denied", "alice"),
        ("privilege_escalation_attempt", "mallory"),
        ("role_change", "alice"),
    ]
    assert got[1]["metadata"]["target_user"] == "root"


def test_year_is_inferred_so_that_no_event_is_in_the_future():
    """Check that a December line read on 3 December 2026 keeps 2026 or 2025."""
    opts = ParseOptions(now=NOW)
    assert syslog_time("Dec", 1, "10:00:00", opts)[0].year == 2026
    assert syslog_time("Dec", 24, "10:00:00", opts)[0].year == 2025
    assert (
        syslog_time("Dec", 24, "10:00:00", ParseOptions(now=NOW, year=2020))[0].year
        == 2020
    )


def test_dst_ambiguous_local_time_is_flagged():
    """Check that a local time occurring twice is marked in data_quality."""
    got = events(
        "auth-log",
        "Oct 25 02:30:00 h sshd[1]: Failed password for a from 192.0.2.1 port 1 ssh2",
        year=2026,
        timezone="Europe/Berlin",
    )
    assert got[0]["metadata"]["data_quality"] == ["ambiguous_local_time"]
    assert got[0]["created_at"].utcoffset() == dt.timedelta(hours=2)


def test_postgres_stderr_prefixes_are_read():
    """Check that the three common log_line_prefix forms are read."""
    got = events(
        "postgres-log",
        "\n".join(
            [
                "2026-12-01 10:00:00.123 UTC [101] LOG:  connection received: "
                "host=203.0.113.7 port=5000",
                "2026-12-01 10:00:00.200 UTC [101] FATAL:  password authentication "
                'failed for user "alice"',
                "2026-12-01 10:00:01.000 UTC [102] bob@app LOG:  connection "
                "authorized: user=bob database=app application_name=psql",
                "2026-12-01 10:00:02 UTC [103]: [1-1] user=eve,db=app,app=[unknown],"
                "client=198.51.100.4 FATAL:  no pg_hba.conf entry for host "
                '"198.51.100.4", user "eve", database "app", no encryption',
            ]
        ),
    )
    assert [(e["event_type"], e["user_id"], e["ip_address"]) for e in got] == [
        ("login_failed", "alice", "203.0.113.7"),
        ("login_success", "bob", None),
        ("login_failed", "eve", "198.51.100.4"),
    ]


def test_postgres_csvlog_and_jsonlog_are_read():
    """Check that csvlog and jsonlog authentication records become events."""
    csvline = (
        '2026-12-01 10:00:00.123 UTC,"alice","app",4242,"203.0.113.7:5555",'
        '6740a.1092,1,"authentication",2026-12-01 10:00:00 UTC,3/1,0,FATAL,'
        '28P01,"password authentication failed for user ""alice""",'
        '"Connection matched pg_hba.conf line 99",,,,,,,,"",client backend,,0'
    )
    jsonline = json.dumps(
        {
            "timestamp": "2026-12-01 10:00:05.000 UTC",
            "user": "bob",
            "dbname": "app",
            "pid": 77,
            "remote_host": "2001:db8::5",
            "error_severity": "LOG",
            "message": "connection authorized: user=bob database=app",
        }
    )
    got = events("postgres-log", csvline + "\n" + jsonline)
    assert [(e["event_type"], e["user_id"], e["ip_address"]) for e in got] == [
        ("login_failed", "alice", "203.0.113.7"),
        ("login_success", "bob", "2001:db8::5"),
    ]
    assert got[0]["metadata"]["sqlstate"] == "28P01"


def test_pgaudit_read_and_role_lines():
    """Check that READ of a watched table and ROLE lines become events."""
    text = "\n".join(
        [
            "2026-12-01 10:00:00 UTC [5] alice@app LOG:  AUDIT: SESSION,1,1,READ,"
            'SELECT,TABLE,public.customers,"SELECT *\n  FROM customers",'
            "<not logged>,120",
            "2026-12-01 10:00:01 UTC [5] alice@app LOG:  AUDIT: SESSION,2,1,ROLE,"
            "GRANT,TABLE,,GRANT SELECT ON customers TO bob,<not logged>",
            "2026-12-01 10:00:02 UTC [5] alice@app LOG:  AUDIT: SESSION,3,1,WRITE,"
            "INSERT,TABLE,public.customers,INSERT INTO customers VALUES (1),"
            "<not logged>",
        ]
    )
    opts = {"watched_tables": frozenset({"customers"})}
    got = events("pgaudit", text, **opts)
    assert [(e["event_type"], e["user_id"], e["record_count"]) for e in got] == [
        ("customer_data_access", "alice", 120),
        ("role_change", "alice", None),
    ]
    assert got[0]["table_name"] == "customers"
    assert [s.line for s in skips("pgaudit", text, **opts)] == [4]


def test_jsonl_and_csv_malformed_lines_are_reported():
    """Check that bad lines are skipped with a reason and their line number."""
    text = "\n".join(
        [
            '{"event_type": "login_failed", "user_id": "u1", '
            '"created_at": "2026-12-01T10:00:00Z"}',
            "{not json",
            '{"event_type": "login_failed", "created_at": "yesterday"}',
            '{"event_type": "login_failed", "created_at": "2026-12-01T10:00:00Z",'
            ' "colour": "red"}',
        ]
    )
    assert len(events("jsonl", text)) == 1
    assert [s.line for s in skips("jsonl", text)] == [2, 3, 4]
    csv_text = (
        "event_type,user_id,ip_address,record_count,created_at\n"
        "customer_data_bulk_export,u2,10.0.0.1,75,2026-12-01 10:00\n"
        "customer_data_bulk_export,u2,10.0.0.1,many,2026-12-01 10:00\n"
    )
    assert [e["record_count"] for e in events("csv", csv_text)] == [75]
    assert [s.line for s in skips("csv", csv_text)] == [3]


@pytest.mark.parametrize(
    "value",
    [
        "::ffff:192.0.2.1",
        "2001:db8::1",
        " 198.51.100.4 ",
        "198.51.100.0/24",
        "1.2.3.999",
        "not-an-ip",
        "fe80::1%eth0",
        "1.2.3",
        "[::1]:22",
        "192.030.0.6",
        "::ffff:10.0.0.0/104",
        "10/8",
        "::1.2.3.4",
    ],
)
def test_loader_address_normalisation_matches_the_database(db, value):
    """Check that the loader's addresses agree with warden._parse_inet."""
    stored = db.execute("SELECT warden._parse_inet(%s)", (value,)).fetchone()[0]
    resolver = AddressResolver(db)
    resolver.prefetch([value])
    python = resolver(value)
    if stored is None:
        assert python is None
    else:
        assert db.execute(
            "SELECT %s::inet = %s::inet", (python, str(stored))
        ).fetchone()[0]


def test_normalise_refuses_as_log_event_does(db):
    """Check that unknown types and bad risk scores are refused per event."""
    types = EventTypes.load(db)
    base = {"created_at": NOW, "metadata": {}, "line": 1}
    with pytest.raises(Refused):
        normalise({**base, "event_type": "login_maybe"}, types)
    with pytest.raises(Refused):
        normalise({**base, "event_type": "login_failed", "risk_score": 9}, types)
    ok = normalise(
        {**base, "event_type": "login_failed", "user_id": " ", "ip_address": "bogus"},
        types,
    )
    assert ok["user_id"] is None
    assert ok["metadata"]["raw_ip_address"] == "bogus"
    assert ok["metadata"]["data_quality"] == ["empty_user_id", "invalid_ip_address"]


@pytest.mark.parametrize(
    ("user_id", "ip_address", "metadata"),
    [
        ("", "::ffff:192.0.2.10", {"ua": "x"}),
        ("u-1", "300.1.1.1", {"data_quality": ["given", 3]}),
        ("u-1", "2001:db8::1", ["not", "an", "object"]),
        ("x" * 300, "192.030.0.6", {"data_quality": "not a list"}),
        (" ", None, None),
    ],
)
def test_ingest_stores_like_log_event(db, dsn, tmp_path, user_id, ip_address, metadata):
    """Check that an ingested event equals the one log_event stores."""
    path = tmp_path / "events.jsonl"
    fields = {
        "event_type": "login_failed",
        "user_id": user_id,
        "ip_address": ip_address,
        "metadata": metadata,
        "created_at": "2026-12-01T10:00:00+00:00",
    }
    path.write_text(json.dumps(fields) + "\n")
    result = run(dsn, "ingest", "--format", "jsonl", str(path))
    assert result.exit_code == 0, result.output
    db.execute(
        "SELECT warden.log_event('login_failed', user_id => %s, "
        "ip_address => %s, metadata => %s, "
        "created_at => '2026-12-01T10:00:00+00')",
        (user_id, ip_address, None if metadata is None else json.dumps(metadata)),
    )
    rows = db.execute(
        "SELECT source, user_id, ip_address, risk_score, created_at, "
        "metadata - '{ingest_key,ingest_file,ingest_line}'::text[] "
        "FROM warden.security_audit_log WHERE event_type = 'login_failed' "
        "ORDER BY source, id"
    ).fetchall()
    assert [r[0] for r in rows] == ["application", "importer"]
    assert rows[0][1:] == rows[1][1:]


def test_ingest_twice_stores_nothing_twice(db, dsn, tmp_path):
    """Check that a second run of the same file stores no event."""
    path = tmp_path / "auth.log"
    path.write_text(
        "Dec  1 10:00:00 h sshd[1]: Failed password for a from 192.0.2.1 "
        "port 1 ssh2\n"
        "Dec  1 10:00:00 h sshd[1]: Failed password for a from 192.0.2.1 "
        "port 1 ssh2\n"
        "Dec  1 10:00:05 h sshd[1]: message repeated 3 times: [ Failed "
        "password for a from 192.0.2.1 port 1 ssh2]\n"
        "garbage line\n"
    )
    first = run(
        dsn,
        "ingest",
        "--format",
        "auth-log",
        "--year",
        "2026",
        "--output",
        "json",
        str(path),
    )
    assert first.exit_code == 0, first.output
    summary = json.loads(first.output)
    assert summary["events_stored"] == 5
    assert summary["skipped"] == {"not a syslog line": [4]}
    second = json.loads(
        run(
            dsn,
            "ingest",
            "--format",
            "auth-log",
            "--year",
            "2026",
            "--output",
            "json",
            str(path),
        ).output
    )
    assert second["events_stored"] == 0
    assert second["duplicates"] == 5
    count = db.execute(
        "SELECT count(*) FROM warden.security_audit_log WHERE source = 'importer'"
    ).fetchone()[0]
    assert count == 5


def test_unknown_type_is_reported_not_fatal(db, dsn, tmp_path):
    """Check that an unknown event type skips that line and keeps the rest."""
    path = tmp_path / "e.jsonl"
    path.write_text(
        '{"event_type": "telepathy", "created_at": "2026-12-01T10:00:00Z"}\n'
        '{"event_type": "logout", "created_at": "2026-12-01T10:00:00Z"}\n'
    )
    result = run(dsn, "ingest", "--format", "jsonl", str(path))
    assert result.exit_code == 0
    assert 'unknown event type "telepathy"' in result.output
    assert (
        db.execute(
            "SELECT count(*) FROM warden.security_audit_log WHERE source = 'importer'"
        ).fetchone()[0]
        == 1
    )


def test_ingest_without_database_is_an_error(monkeypatch, tmp_path):
    """Check that no connection gives exit code 3 and one line."""
    for name in (
        "DATABASE_URL",
        "PGHOST",
        "PGPORT",
        "PGDATABASE",
        "PGUSER",
        "PGSERVICE",
        "PGHOSTADDR",
    ):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "x.jsonl"
    path.write_text("")
    result = CliRunner().invoke(main, ["ingest", "--format", "jsonl", str(path)])
    assert result.exit_code == 3
    assert "no database given" in result.output


def test_gzip_file_is_read(db, dsn, tmp_path):
    """Check that a rotated, gzip-compressed log is ingested like a plain one."""
    import gzip

    path = tmp_path / "auth.log.2.gz"
    with gzip.open(path, "wt") as f:
        f.write(
            "Dec  1 10:00:00 h sshd[1]: Accepted password for a from "
            "192.0.2.1 port 1 ssh2\n"
        )
    result = run(dsn, "ingest", "--format", "auth-log", "--year", "2026", str(path))
    assert result.exit_code == 0, result.output
    assert (
        db.execute(
            "SELECT count(*) FROM warden.security_audit_log "
            "WHERE event_type = 'login_success'"
        ).fetchone()[0]
        == 1
    )


def test_csvlog_record_spanning_lines_and_dry_run(db, dsn, tmp_path):
    """Check that a csvlog record with a newline is read and --dry-run stores none."""
    path = tmp_path / "postgresql.csv"
    path.write_text(
        '2026-12-01 10:00:00.123 UTC,"eve","app",4242,"203.0.113.9:5555",'
        '6740a.1092,1,"authentication",2026-12-01 10:00:00 UTC,3/1,0,FATAL,'
        '28000,"no pg_hba.conf entry for host ""203.0.113.9"", user ""eve"", '
        'database ""app"", no encryption","line one\nline two",,,,,,,,"",'
        "client backend,,0\n"
    )
    dry = run(
        dsn,
        "ingest",
        "--format",
        "postgres-log",
        "--dry-run",
        "--output",
        "json",
        str(path),
    )
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.stdout)["events_stored"] == 1
    assert json.loads(dry.stdout)["dry_run"] is True
    assert (
        db.execute(
            "SELECT count(*) FROM warden.security_audit_log WHERE source = 'importer'"
        ).fetchone()[0]
        == 0
    )
    result = run(dsn, "ingest", "--format", "postgres-log", str(path))
    assert result.exit_code == 0, result.output
    row = db.execute(
        "SELECT event_type, user_id, host(ip_address), metadata ->> 'reason' "
        "FROM warden.security_audit_log WHERE source = 'importer'"
    ).fetchone()
    assert row == ("login_failed", "eve", "203.0.113.9", "no_pg_hba_entry")


def test_concurrent_ingests_of_one_file_store_each_event_once(db, dsn, tmp_path):
    """Check that two ingests of one file at the same time store it once."""
    import threading

    import psycopg

    from pgwarden.commands.ingest import ingest_file
    from pgwarden.ingest.load import Summary

    path = tmp_path / "auth.log"
    path.write_text(
        "".join(
            f"Dec  1 10:{i // 60:02d}:{i % 60:02d} h sshd[{i}]: Failed password "
            f"for u{i} from 192.0.2.{i % 250 + 1} port 22 ssh2\n"
            for i in range(600)
        )
    )
    summaries = [Summary(), Summary()]

    def load(summary: Summary) -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            ingest_file(
                conn,
                str(path),
                format_name="auth-log",
                options=ParseOptions(year=2026),
                summary=summary,
                batch_size=50,
            )

    threads = [threading.Thread(target=load, args=(s,)) for s in summaries]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(s.events_stored for s in summaries) == 600
    assert db.execute(
        "SELECT count(*), count(DISTINCT metadata ->> 'ingest_key') "
        "FROM warden.security_audit_log WHERE source = 'importer'"
    ).fetchone() == (600, 600)


def test_progress_bar_does_not_disturb_loading(db, tmp_path):
    """Check that loading with the terminal progress bar stores every event."""
    from pgwarden.commands.ingest import ingest_file
    from pgwarden.ingest.load import Summary

    path = tmp_path / "auth.log"
    path.write_text(
        "Dec  1 10:00:00 h sshd[1]: Accepted password for a from 192.0.2.1 "
        "port 1 ssh2\n" * 3
    )
    summary = Summary()
    ingest_file(
        db,
        str(path),
        format_name="auth-log",
        options=ParseOptions(year=2026),
        summary=summary,
        show_progress=True,
    )
    assert (summary.lines_read, summary.events_stored) == (3, 3)


def test_csv_with_byte_order_mark_and_event_without_time():
    """Check that a BOM header is read and a missing time means now."""
    got = events("csv", "\ufeffevent_type,user_id\nlogout,u-7\n")
    assert [(e["event_type"], e["user_id"]) for e in got] == [("logout", "u-7")]
    assert got[0]["created_at"] == NOW
