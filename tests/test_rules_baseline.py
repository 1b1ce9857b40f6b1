"""Rules that compare with history: new locations, compromise, unusual access.

Also the half of suspicious_activity that looks at locked accounts and blocked
addresses.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from detection_helpers import T0, alerts, check, findings, log

DAY = timedelta(days=1)
MIN = timedelta(minutes=1)


def login(db, at, ip, user="u1", **kw):
    return log(db, "login_success", at, user_id=user, ip_address=ip, **kw)


@pytest.mark.parametrize(
    ("history", "ip", "meta", "hit"),
    [
        ([], "10.0.0.1", None, False),
        ([(DAY, "10.0.0.1", None)], "10.0.0.200", None, False),
        ([(DAY, "10.0.0.1", None)], "10.0.1.1", None, True),
        ([(90 * DAY, "10.0.0.1", None)], "10.0.0.9", None, False),
        ([(90 * DAY + timedelta(seconds=1), "10.0.0.1", None)], "10.0.0.9", None, True),
        ([(DAY, "2001:db8:0:1::5", None)], "2001:db8:0:1::99", None, False),
        ([(DAY, "2001:db8:0:1::5", None)], "2001:db8:0:2::5", None, True),
        (
            [(DAY, "10.0.0.1", '{"country": "DE"}')],
            "172.16.0.1",
            '{"country": "de"}',
            False,
        ),
        (
            [(DAY, "10.0.0.1", '{"country": "DE"}')],
            "10.0.0.1",
            '{"country": "FR"}',
            True,
        ),
    ],
)
def test_new_location_login(db, history, ip, meta, hit):
    """Check that only a login from a network or country unseen in 90 days hits."""
    for ago, old_ip, old_meta in history:
        kw = {"metadata": old_meta} if old_meta else {}
        login(db, T0 - ago, old_ip, **kw)
    kw = {"metadata": meta} if meta else {}
    event_id = login(db, T0, ip, **kw)
    found = findings(db, "new_location_login")
    assert [f["evidence"] for f in found] == ([[event_id]] if hit else [])


def failed_burst(db, count, user="u1", ip="203.0.113.50", start=T0):
    return [
        log(db, "login_failed", start + i * MIN, user_id=user, ip_address=ip)
        for i in range(count)
    ]


@pytest.mark.parametrize(
    ("failures", "success_after", "access_after", "hit"),
    [
        (6, 10 * MIN, 20 * MIN, True),
        (5, 10 * MIN, 20 * MIN, False),
        (6, 10 * MIN, 60 * MIN, True),
        (6, 10 * MIN, 61 * MIN, False),
        (6, 66 * MIN, 1 * MIN, False),
        (6, 65 * MIN, 1 * MIN, True),
    ],
)
def test_compromise_after_failed_login_burst(
    db, failures, success_after, access_after, hit
):
    """Check the burst, success and access windows of compromise_with_data_access."""
    login(db, T0 - DAY, "203.0.113.50")
    failed_burst(db, failures)
    # The burst's last failure is at (failures - 1) minutes.
    at = T0 + (failures - 1) * MIN + success_after - 5 * MIN
    success = login(db, at, "203.0.113.50")
    access = log(
        db, "customer_data_access", at + access_after, user_id="u1", record_count=3
    )
    found = findings(db, "compromise_with_data_access")
    if not hit:
        assert found == []
        return
    [finding] = found
    assert finding["evidence"] == [success, access]
    assert finding["details"]["suspicious_because"] == "failed_login_burst_user"
    assert finding["record_count"] == 3


def test_compromise_from_new_location_locks_and_revokes(db):
    """Check that a new-location login followed by access alerts and contains."""
    now = datetime.now(UTC) - 40 * MIN
    login(db, now - DAY, "10.0.0.1")
    success = login(db, now, "172.16.9.9")
    access = log(
        db, "customer_data_bulk_export", now + 30 * MIN, user_id="u1", record_count=10
    )
    check(db)
    [alert] = alerts(db, "compromise_with_data_access")
    assert alert["evidence"] == [success, access]
    assert alert["severity"] == "critical"
    assert (
        db.execute(
            "SELECT count(*) FROM warden.account_locks WHERE alert_id = %s",
            (alert["id"],),
        ).fetchone()[0]
        == 1
    )
    assert (
        db.execute(
            "SELECT count(*) FROM warden.session_revocations WHERE alert_id = %s",
            (alert["id"],),
        ).fetchone()[0]
        == 1
    )


def test_compromise_from_blocked_address(db):
    """Check that a login from a blocked address followed by access is a hit."""
    db.execute("SELECT warden.block_ip('198.18.0.0/24', '1 hour', 'test')")
    now = datetime.now(UTC) + timedelta(seconds=1)
    success = login(db, now, "198.18.0.7", user="u2")
    access = log(db, "customer_data_access", now + MIN, user_id="u2")
    [finding] = findings(db, "compromise_with_data_access", until=now + DAY)
    assert finding["evidence"] == [success, access]
    assert finding["details"]["suspicious_because"] == "blocked_address"


def baseline(db, days, user="u1", hour=9, per_day=3):
    """Give a user customer-data access at one hour of day on past days."""
    start = T0.replace(hour=hour, minute=0) - days * DAY
    for d in range(days):
        for i in range(per_day):
            log(
                db, "customer_data_access", start + d * DAY + i * 10 * MIN, user_id=user
            )


@pytest.mark.parametrize(
    ("days", "at_hour", "count", "hit"),
    [
        (7, 3, 1, True),
        (6, 3, 1, False),
        (7, 9, 1, False),
        (7, 9, 20, False),
        (7, 9, 21, True),
    ],
)
def test_unusual_access_pattern(db, days, at_hour, count, hit):
    """Check off-hours and volume hits against a 7-day baseline, and cold start."""
    baseline(db, days)
    start = T0.replace(hour=at_hour, minute=0)
    ids = [
        log(db, "customer_data_access", start + i * MIN, user_id="u1")
        for i in range(count)
    ]
    found = findings(db, "unusual_access_pattern")
    if not hit:
        assert found == []
        return
    [finding] = found
    if count == 1:
        assert finding["details"]["off_hours"] is True
        assert finding["evidence"] == ids
    else:
        assert finding["details"]["off_hours"] is False
        assert finding["evidence"] == ids[20:]
        assert finding["details"]["volume_limit"] == 20


def test_activity_of_locked_account_is_suspicious(db):
    """Check that a locked account's activity alerts, but its failed logins do not."""
    db.execute("SELECT warden.lock_account('u-l', '1 hour', 'test')")
    now = datetime.now(UTC) + timedelta(seconds=1)
    log(db, "login_failed", now, user_id="u-l", ip_address="192.0.2.9")
    access = log(db, "customer_data_access", now, user_id="u-l", ip_address="192.0.2.9")
    found = findings(db, "suspicious_activity", until=now + DAY)
    assert [f["evidence"] for f in found] == [[access]]
    assert found[0]["details"]["locked_account"] is not None


def compromise_scenario(db):
    login(db, T0 - DAY, "10.0.0.1")
    login(db, T0, "172.16.9.9")
    log(db, "customer_data_access", T0 + MIN, user_id="u1")


@pytest.mark.parametrize("rule", ["new_location_login", "compromise_with_data_access"])
def test_baseline_rules_disabled_silent_and_rerun_idempotent(db, rule):
    """Check that a disabled rule is silent and an enabled one alerts once."""
    compromise_scenario(db)
    assert len(findings(db, rule)) == 1
    assert len([a for a in check(db) if a["rule"] == rule]) == 1
    assert check(db) == []
    db.execute(
        "UPDATE warden.detection_rules SET enabled = false WHERE rule = %s", (rule,)
    )
    assert findings(db, rule) == []


def test_new_location_window_tuned_by_update(db):
    """Check that shortening new_location_login's window makes a network new."""
    login(db, T0 - 2 * DAY, "10.0.0.1")
    login(db, T0, "10.0.0.2")
    assert findings(db, "new_location_login") == []
    db.execute(
        "UPDATE warden.detection_rules SET time_window = '1 day'"
        " WHERE rule = 'new_location_login'"
    )
    assert len(findings(db, "new_location_login")) == 1


def test_activity_from_blocked_address_is_suspicious(db):
    """Check that activity from a blocked network alerts once per event."""
    db.execute("SELECT warden.block_ip('198.18.1.0/24', '1 hour', 'test')")
    now = datetime.now(UTC) + timedelta(seconds=1)
    access = log(
        db, "customer_data_access", now, user_id="u-b", ip_address="198.18.1.5"
    )
    log(db, "customer_data_access", now, user_id="u-b", ip_address="198.18.2.5")
    found = findings(db, "suspicious_activity", until=now + DAY)
    assert [(f["evidence"], f["details"]["blocked_address"] > 0) for f in found] == [
        ([access], True)
    ]
