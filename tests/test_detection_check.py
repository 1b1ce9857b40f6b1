"""The scheduled run and the monitoring functions' contract."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from detection_helpers import T0, alerts, check, findings, log

MIN = timedelta(minutes=1)
NO_REALTIME = "UPDATE warden.detection_rules SET realtime = false"


def failures(conn, count, user="u1", ip="203.0.113.5", start=T0):
    return [
        log(conn, "login_failed", start + i * MIN, user_id=user, ip_address=ip)
        for i in range(count)
    ]


def test_since_counts_earlier_events_towards_windows(db):
    """Check that a window ending in [since, until] counts events before since."""
    ids = failures(db, 6)
    last = T0 + 5 * MIN
    [found] = findings(db, "failed_login_burst_user", since=last, until=last)
    assert found["evidence"] == ids
    assert found["first_seen"] == T0
    assert found["details"]["subject"] == "user:u1"
    assert found["details"]["window"] == "00:15:00"
    assert (
        findings(db, "failed_login_burst_user", since=last + timedelta(seconds=1)) == []
    )
    assert findings(db, "failed_login_burst_user", until=last - MIN) == []


def test_since_defaults_to_a_day_before_until(db):
    """Check the defaults: until now(), since 24 hours before until."""
    now = datetime.now(UTC)
    failures(db, 6, start=now - timedelta(hours=1))
    failures(db, 6, user="u-old", ip="192.0.2.99", start=now - timedelta(hours=25))
    rows = db.execute(
        "SELECT rule, user_id FROM warden.monitor_unauthorized_customer_access()"
        " WHERE rule = 'failed_login_burst_user'"
    ).fetchall()
    assert rows == [("failed_login_burst_user", "u1")]
    rows = db.execute(
        "SELECT user_id FROM warden.monitor_unauthorized_customer_access("
        " until => now() - interval '2 hours')"
        " WHERE rule = 'failed_login_burst_user'"
    ).fetchall()
    assert rows == [("u-old",)]


def test_monitoring_functions_are_read_only(db, connect_as):
    """Check that an analyst runs both monitors in a read-only transaction."""
    failures(db, 6)
    log(db, "customer_data_bulk_export", T0, user_id="u1", record_count=99)
    analyst = connect_as("warden_analyst")
    with analyst.transaction():
        analyst.execute("SET TRANSACTION READ ONLY")
        theft = analyst.execute(
            "SELECT rule FROM warden.detect_customer_data_theft_attempts(%s, %s)",
            (T0 - MIN, T0 + 60 * MIN),
        ).fetchall()
        access = analyst.execute(
            "SELECT DISTINCT rule FROM"
            " warden.monitor_unauthorized_customer_access(%s, %s) ORDER BY 1",
            (T0 - MIN, T0 + 60 * MIN),
        ).fetchall()
    assert theft == [("bulk_export",)]
    assert access == [("failed_login_burst_ip",), ("failed_login_burst_user",)]


def test_since_after_until_is_refused(db):
    """Check that an empty range is refused with 22023."""
    with pytest.raises(psycopg.errors.InvalidParameterValue) as info:
        db.execute(
            "SELECT * FROM warden.detect_customer_data_theft_attempts("
            "now(), now() - interval '1 hour')"
        )
    assert info.value.diag.sqlstate == "22023"


CHECK = "SELECT count(*) FROM warden.check_customer_data_access_alerts()"
THEFT = "SELECT count(*) FROM warden.detect_customer_data_theft_attempts()"
ACCESS = "SELECT count(*) FROM warden.monitor_unauthorized_customer_access()"


@pytest.mark.parametrize(
    ("role", "query", "allowed"),
    [
        ("warden_app", CHECK, False),
        ("warden_analyst", CHECK, False),
        ("warden_admin", CHECK, True),
        ("warden_app", THEFT, False),
        ("warden_analyst", THEFT, True),
        ("warden_analyst", ACCESS, True),
    ],
)
def test_privileges(db, connect_as, role, query, allowed):
    """Check who may run the monitors and the scheduled check."""
    conn = connect_as(role)
    if allowed:
        assert conn.execute(query).fetchone()[0] == 0
    else:
        with pytest.raises(psycopg.errors.InsufficientPrivilege) as info:
            conn.execute(query)
        assert info.value.diag.sqlstate == "42501"


def test_check_alerts_once_then_extends(db):
    """Check that the run raises an alert, reruns add nothing, new events extend."""
    db.execute(NO_REALTIME)
    ids = failures(db, 6)
    created = check(db)
    assert sorted(a["rule"] for a in created) == [
        "failed_login_burst_ip",
        "failed_login_burst_user",
    ]
    assert check(db) == []
    more = failures(db, 1, start=T0 + 6 * MIN)
    extended = check(db)
    assert {a["id"] for a in extended} == {a["id"] for a in created}
    [alert] = alerts(db, "failed_login_burst_user")
    assert alert["evidence"] == ids + more
    assert alert["last_seen"] == T0 + 6 * MIN
    assert (
        db.execute(
            "SELECT count(*) FROM warden.security_audit_log"
            " WHERE event_type = 'security_alert'"
        ).fetchone()[0]
        == 2
    )


def test_closed_alert_is_not_raised_again(db):
    """Check that closing an alert does not make a rerun raise it again."""
    db.execute(NO_REALTIME)
    failures(db, 6)
    check(db)
    db.execute("UPDATE warden.alerts SET status = 'closed'")
    db.execute(
        "UPDATE warden.detection_state SET rescan_from_id = 0,"
        " scanned_to_id = NULL, scanned_xmax = NULL"
    )
    assert check(db) == []
    assert len(alerts(db)) == 2


def test_two_concurrent_runs_make_no_duplicates(db, dsn):
    """Check that two runs at once (two connections) raise each alert once."""
    db.execute(NO_REALTIME)
    for n in range(5):
        failures(db, 6, user=f"u{n}", ip=f"192.0.2.{n}")
    barrier = threading.Barrier(2)
    results: list[list[int]] = []

    def run():
        with psycopg.connect(dsn, autocommit=True) as conn:
            barrier.wait()
            results.append([a["id"] for a in check(conn)])

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = results[0] + results[1]
    assert len(every) == len(set(every)) == 10
    assert len(alerts(db)) == 10


def test_event_committed_after_a_higher_id_is_judged(db, dsn):
    """Check that an id committed after a run judged higher ids is not skipped."""
    log(db, "logout", T0 - 60 * MIN, user_id="u-other")
    check(db)
    check(db)
    slow = psycopg.connect(dsn)
    late = log(slow, "login_failed", T0, user_id="u1", ip_address="192.0.2.1")
    ids = failures(db, 5, start=T0 + MIN)
    assert late < ids[0]
    assert check(db) == []
    slow.commit()
    slow.close()
    [alert] = [a for a in check(db) if a["rule"] == "failed_login_burst_user"]
    assert alert["evidence"] == [late, *ids]


def test_incremental_run_reads_only_new_events(db):
    """Check that the run starts from the stored mark once earlier runs ended."""
    failures(db, 3)
    check(db)
    check(db)
    mark = db.execute("SELECT rescan_from_id FROM warden.detection_state").fetchone()[0]
    top = db.execute("SELECT max(id) FROM warden.security_audit_log").fetchone()[0]
    assert mark >= top - 1 and mark > 0


NOW_EVENTS = [
    ("login_failed", "u-run", 4, 2),
    ("customer_data_access", "u-run", 2, 5),
    ("customer_data_bulk_export", "u-run", 5, 1),
    ("customer_data_bulk_export", "u-other", 4, 1),
]


def test_runbook_queries_run_verbatim(db):
    """Check that the runbook's investigation queries return the expected rows."""
    for event_type, user, risk, count in NOW_EVENTS:
        for _ in range(count):
            db.execute(
                "SELECT warden.log_event(%s, user_id => %s, risk_score => %s,"
                " record_count => 1)",
                (event_type, user, risk),
            )
    log(
        db,
        "customer_data_access",
        datetime.now(UTC) - timedelta(hours=30),
        user_id="u-run",
        risk_score=5,
    )
    db.execute("SET search_path TO warden, public")
    user_events = db.execute(
        """
   SELECT * FROM security_audit_log 
   WHERE user_id = 'u-run' 
   AND created_at > now() - interval '2 hours'
   ORDER BY created_at DESC;
"""  # noqa: W291
    ).fetchall()
    assert len(user_events) == 8
    bulk = db.execute(
        """
SELECT event_type, metadata, risk_score, created_at 
FROM security_audit_log 
WHERE event_type LIKE '%bulk%' 
AND created_at > now() - interval '24 hours'
ORDER BY created_at DESC;
"""  # noqa: W291
    ).fetchall()
    assert [r[0] for r in bulk] == ["customer_data_bulk_export"] * 2
    overview = db.execute(
        """
SELECT event_type, COUNT(*), MAX(risk_score), MIN(created_at), MAX(created_at)
FROM security_audit_log 
WHERE user_id = 'u-run'
AND created_at > now() - interval '24 hours'
GROUP BY event_type
ORDER BY COUNT(*) DESC;
"""  # noqa: W291
    ).fetchall()
    assert [(r[0], r[1], r[2]) for r in overview] == [
        ("customer_data_access", 5, 2),
        ("login_failed", 2, 4),
        ("customer_data_bulk_export", 1, 5),
    ]
    high = db.execute(
        """
SELECT * FROM security_audit_log 
WHERE risk_score >= 4 
AND created_at > now() - interval '24 hours'
ORDER BY created_at DESC;
"""  # noqa: W291
    ).fetchall()
    assert len(high) == 4
    customer = db.execute(
        """
SELECT * FROM security_audit_log 
WHERE event_type LIKE '%customer%'
AND created_at > now() - interval '24 hours'
ORDER BY created_at DESC;
"""  # noqa: W291
    ).fetchall()
    assert len(customer) == 7
    db.execute("RESET search_path")


def test_subjects_attempted_user_and_ipv6_network(db):
    """Check that unknown users count by attempted name and IPv6 by /64."""
    ids = [
        log(
            db,
            "login_failed",
            T0 + i * MIN,
            metadata='{"attempted_user": "admin"}',
            ip_address=f"2001:db8:aa:bb:{i}::1",
        )
        for i in range(6)
    ]
    by_user = findings(db, "failed_login_burst_user")
    by_ip = findings(db, "failed_login_burst_ip")
    assert [(f["user_id"], f["evidence"]) for f in by_user] == [("admin", ids)]
    assert [(str(f["ip_address"]), f["evidence"]) for f in by_ip] == [
        ("2001:db8:aa:bb::/64", ids)
    ]


@pytest.mark.parametrize(
    ("event_type", "count", "rule", "kind", "hours"),
    [
        ("customer_data_access", 101, "rate_limit", "suspend", 1),
        ("privilege_escalation_attempt", 2, "privilege_escalation_burst", "lock", 24),
        ("login_failed", 6, "failed_login_burst_user", "lock", 0.5),
    ],
)
def test_responses_follow_the_rule_row(db, event_type, count, rule, kind, hours):
    """Check that a new alert locks or suspends as its rule row says, once."""
    start = datetime.now(UTC) - timedelta(minutes=20)
    for i in range(count):
        log(db, event_type, start + i * timedelta(seconds=10), user_id="u-r")
    check(db)
    [alert] = alerts(db, rule)
    rows = db.execute(
        "SELECT kind, expires_at - locked_at FROM warden.account_locks"
        " WHERE alert_id = %s",
        (alert["id"],),
    ).fetchall()
    assert rows == [(kind, timedelta(hours=hours))]
    event = db.execute(
        "SELECT metadata -> 'response' FROM warden.security_audit_log"
        " WHERE event_type = 'security_alert' AND (metadata ->> 'alert_id')::bigint"
        " = %s",
        (alert["id"],),
    ).fetchone()[0]
    assert event["response"] in ("lock_account", "suspend_account")


def test_old_events_alert_but_contain_nobody(db):
    """Check that an attack older than its response alerts without a lock."""
    failures(db, 6, user="u-past")
    [alert] = alerts(db, "failed_login_burst_user")
    assert (
        db.execute(
            "SELECT count(*) FROM warden.account_locks WHERE user_id = 'u-past'"
        ).fetchone()[0]
        == 0
    )
    response = db.execute(
        "SELECT metadata -> 'response' FROM warden.security_audit_log"
        " WHERE event_type = 'security_alert'"
        " AND metadata ->> 'rule' = 'failed_login_burst_user'"
    ).fetchone()[0]
    assert "skipped" in response
    assert alert["evidence"]


def test_rate_alerts_do_not_depend_on_run_times(db):
    """Check that a rate passing 60 then 100 alerts alike, however runs fell."""
    db.execute(NO_REALTIME)

    def accesses(user, first, count):
        for i in range(first, first + count):
            log(db, "customer_data_access", T0 + i * timedelta(seconds=1), user_id=user)

    accesses("u-split", 0, 70)
    check(db)
    accesses("u-split", 70, 40)
    accesses("u-once", 0, 110)
    check(db)
    rules = {
        user: sorted(a["rule"] for a in alerts(db) if a["user_id"] == user)
        for user in ("u-split", "u-once")
    }
    assert rules["u-split"] == rules["u-once"] == ["moderate_rate", "rate_limit"]


def fresh_alerts(db):
    """Alerts of the same events judged in one run, then rolled back."""
    with db.transaction(force_rollback=True):
        db.execute("DELETE FROM warden.alerts")
        db.execute(
            "UPDATE warden.detection_state SET rescan_from_id = 0,"
            " scanned_to_id = NULL, scanned_xmax = NULL"
        )
        check(db)
        return {
            a["rule"]: (a["evidence"], a["event_count"], a["record_count"])
            for a in alerts(db)
        }


def test_late_event_pushing_a_window_past_upper_revises_moderate_rate(db):
    """Check that an access arriving late, inside a window moderate_rate judged
    at 100, moves that window to rate_limit and out of the moderate alert."""
    db.execute(NO_REALTIME)
    second = timedelta(seconds=1)

    def access(i):
        return log(
            db,
            "customer_data_access",
            T0 + i * second,
            user_id="u-late",
            record_count=1,
        )

    # 101 accesses a second apart; the 51st is held back, as a statement
    # waiting on a row lock commits after later ones.
    early = [access(i) for i in range(101) if i != 50]
    [first] = check(db)
    assert first["rule"] == "moderate_rate"
    assert first["evidence"] == early
    assert first["last_seen"] == T0 + 100 * second

    late = access(50)
    changed = check(db)
    assert sorted(a["rule"] for a in changed) == ["moderate_rate", "rate_limit"]
    [moderate] = alerts(db, "moderate_rate")
    assert moderate["id"] == first["id"]
    assert moderate["status"] == "open"
    everything = sorted([*early, late])
    # Windows ending at the 61st to 100th access hold 61 to 100; the one
    # ending at the 101st (the last of early) holds 101: rate_limit's.
    assert moderate["evidence"] == sorted([*early[:-1], late])
    assert moderate["event_count"] == moderate["record_count"] == 100
    assert moderate["last_seen"] == T0 + 99 * second
    assert "revised_at" in moderate["details"]
    [limit] = alerts(db, "rate_limit")
    assert limit["evidence"] == everything
    assert check(db) == []
    assert fresh_alerts(db) == {
        a["rule"]: (a["evidence"], a["event_count"], a["record_count"])
        for a in alerts(db)
    }


def test_events_in_order_do_not_revise_moderate_rate(db):
    """Check that accesses arriving in time order extend the alert unrevised."""
    db.execute(NO_REALTIME)
    for i in range(70):
        log(db, "customer_data_access", T0 + i * MIN / 2, user_id="u-order")
    check(db)
    for i in range(70, 80):
        log(db, "customer_data_access", T0 + i * MIN / 2, user_id="u-order")
    check(db)
    [moderate] = alerts(db, "moderate_rate")
    assert moderate["event_count"] == 80
    assert "revised_at" not in moderate["details"]


def test_late_bulk_export_retracts_cumulative_export(db):
    """Check that a bulk export arriving late inside the 24 hours of a
    cumulative_export alert closes it: no window is cumulative any more."""
    db.execute(NO_REALTIME)
    db.execute(
        "UPDATE warden.detection_rules SET enabled = false "
        "WHERE rule = 'sensitive_export'"
    )

    def export(at, records):
        return log(
            db,
            "customer_data_bulk_export",
            at,
            user_id="u-cum",
            table_name="public.orders",
            record_count=records,
        )

    export(T0, 30)
    export(T0 + 2 * MIN, 30)
    [cumulative] = check(db)
    assert cumulative["rule"] == "cumulative_export"
    export(T0 + MIN, 60)
    changed = {a["rule"]: a for a in check(db)}
    assert set(changed) == {"bulk_export", "cumulative_export"}
    [closed] = alerts(db, "cumulative_export")
    assert closed["status"] == "closed"
    assert closed["details"]["retracted"] is True
    assert "cumulative_export" not in fresh_alerts(db)
