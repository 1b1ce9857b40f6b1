"""The operator commands detect, incidents and verify on a real database."""

from __future__ import annotations

import json

from click.testing import CliRunner

from pgwarden.cli import main


def run(dsn: str, *args: str):
    """Run the pgwarden command line in-process against the test database."""
    return CliRunner().invoke(main, [*args, "--dsn", dsn])


def bulk_export(db, user: str = "u-2001", records: int = 250) -> None:
    """Report one export above the bulk threshold."""
    db.execute(
        "SELECT warden.log_event('customer_data_bulk_export', user_id => %s, "
        "ip_address => '198.51.100.20', record_count => %s, "
        "table_name => 'customers')",
        (user, records),
    )


def test_every_command_has_help():
    """Check that each command answers --help with exit code 0."""
    for command in (
        ["ingest"],
        ["watch"],
        ["detect"],
        ["verify"],
        ["incidents"],
        ["incidents", "list"],
        ["incidents", "ack"],
        ["incidents", "resolve"],
        ["incidents", "report"],
        ["incidents", "show"],
        ["demo"],
    ):
        result = CliRunner().invoke(main, [*command, "--help"])
        assert result.exit_code == 0, command
        assert "Usage:" in result.output


def test_detect_reports_findings_in_json(db, dsn):
    """Check that detect lists a bulk export finding and exits 1 when asked."""
    bulk_export(db)
    result = run(
        dsn, "detect", "--since", "1h", "--output", "json", "--fail-on-findings"
    )
    assert result.exit_code == 1
    findings = json.loads(result.output)
    assert "bulk_export" in {f["rule"] for f in findings}
    assert all(f["monitor"] in ("theft", "unauthorized") for f in findings)


def test_detect_csv_and_nothing_found(db, dsn):
    """Check that a quiet range gives the CSV header and exit code 0."""
    result = run(dsn, "detect", "--output", "csv", "--fail-on-findings")
    assert result.exit_code == 0
    assert result.output.splitlines()[0].startswith("monitor,rule,severity")


def test_detect_bad_time_is_one_line_with_sqlstate(dsn):
    """Check that an unparsable --since is an error line with its SQLSTATE."""
    result = run(dsn, "detect", "--since", "last tuesday-ish")
    assert result.exit_code == 3
    assert "[22007]" in result.output or "[22008]" in result.output
    assert "Traceback" not in result.output


def test_incidents_list_ack_resolve_report(db, dsn):
    """Check that list, ack, show, render, report and resolve work."""
    bulk_export(db)
    db.execute("SELECT count(*) FROM warden.check_customer_data_access_alerts()")
    listed = json.loads(run(dsn, "incidents", "list", "--output", "json").output)
    critical = [i for i in listed if i["rule"] == "bulk_export"]
    assert critical and critical[0]["severity"] == "critical"
    ref = critical[0]["reference"]
    acked = run(dsn, "incidents", "ack", ref, "--note", "looking")
    assert acked.exit_code == 0, acked.output
    assert acked.output.strip() == f"{ref} acknowledged"
    shown = run(dsn, "incidents", "show", ref)
    assert "acknowledged" in shown.output
    rendered = run(dsn, "incidents", "render", ref)
    assert "CRITICAL SECURITY INCIDENT" in rendered.output
    report = run(dsn, "incidents", "report", ref)
    assert report.exit_code == 0 and ref in report.output
    resolved = run(
        dsn,
        "incidents",
        "resolve",
        ref,
        "--resolution",
        "export was approved",
        "--false-positive",
    )
    assert resolved.exit_code == 0, resolved.output
    status = db.execute(
        "SELECT status FROM warden.incidents WHERE reference = %s", (ref,)
    ).fetchone()[0]
    assert status == "false_positive"


def test_incidents_unknown_reference_exits_3(dsn):
    """Check that an unknown incident is an error, not a traceback."""
    result = run(dsn, "incidents", "ack", "INC-999999")
    assert result.exit_code == 3
    assert "[P0002]" in result.output


def test_incident_transition_error_shows_sqlstate(db, dsn):
    """Check that a refused transition is one line with SQLSTATE and hint."""
    bulk_export(db)
    db.execute("SELECT count(*) FROM warden.check_customer_data_access_alerts()")
    ref = db.execute("SELECT reference FROM warden.incidents LIMIT 1").fetchone()[0]
    assert run(dsn, "incidents", "resolve", ref, "--resolution", "x").exit_code == 0
    again = run(dsn, "incidents", "ack", ref)
    assert again.exit_code == 3
    line = again.output.strip()
    assert line.startswith("pgwarden: error: [")
    assert len(line.splitlines()) == 1


def test_verify_intact_then_tampered(db, dsn):
    """Check that verify exits 0 when intact and 1 after tampering."""
    bulk_export(db)
    ok = run(dsn, "verify", "--seal")
    assert ok.exit_code == 0, ok.output
    assert "event log intact" in ok.output
    db.execute("ALTER TABLE warden.security_audit_log DISABLE TRIGGER USER")
    bad = run(dsn, "verify", "--output", "json")
    assert bad.exit_code == 1
    assert "log_trigger_disabled" in {p["kind"] for p in json.loads(bad.stdout)}


def test_verify_expect_digest_sees_removed_seals(db, dsn):
    """Check that a kept chain digest no longer in the database is a problem."""
    bulk_export(db)
    result = run(dsn, "verify", "--expect-digest", "00ff", "--output", "json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)[0]["kind"] == "seal_missing"


def test_verify_as_analyst(connect_as, dsn, db):
    """Check that warden_analyst may run verify."""
    conn = connect_as("warden_analyst")
    assert (
        conn.execute("SELECT count(*) FROM warden.verify_audit_log()").fetchone()[0]
        == 0
    )


def role_dsn(dsn: str, role: str) -> str:
    """The test database's connection string, acting as a package role."""
    return f"{dsn} options='-c role={role}'"


def test_detect_as_analyst_and_watch_as_admin(db, dsn):
    """Check that warden_analyst may detect and warden_admin may watch once."""
    bulk_export(db)
    detected = run(role_dsn(dsn, "warden_analyst"), "detect", "--output", "json")
    assert detected.exit_code == 0, detected.output
    assert "bulk_export" in {f["rule"] for f in json.loads(detected.stdout)}
    watched = run(role_dsn(dsn, "warden_admin"), "watch", "--once")
    assert watched.exit_code == 0, watched.output


def test_app_role_may_not_ingest(dsn, tmp_path):
    """Check that warden_app cannot load files: one line with SQLSTATE 42501."""
    path = tmp_path / "e.jsonl"
    path.write_text('{"event_type": "logout", "created_at": "2026-12-01T10:00Z"}\n')
    result = run(role_dsn(dsn, "warden_app"), "ingest", "--format", "jsonl", str(path))
    assert result.exit_code == 3
    assert "[42501]" in result.output
