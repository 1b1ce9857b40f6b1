"""The sliding-window rules at their boundaries, through the monitoring functions.

Each rule is driven by one kind of event; ``quiet`` is the largest number of
events within the window that is not a hit (the threshold, or one below it
for "at least" rules), so ``quiet + 1`` events are the smallest hit.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from detection_helpers import T0, alerts, check, findings, log

MINUTE = timedelta(minutes=1)


def failed_user(i):
    return "login_failed", {"user_id": "u-victim", "ip_address": f"198.51.100.{i}"}


def failed_ip(i):
    return "login_failed", {"user_id": "u-victim", "ip_address": "203.0.113.9"}


def stuffing(i):
    return "login_failed", {
        "metadata": f'{{"attempted_user": "name{i}"}}',
        "ip_address": "2001:db8:1:2::" + format(i + 1, "x"),
    }


def escalation(i):
    return "privilege_escalation_attempt", {"user_id": "u-esc"}


def access(i):
    return "customer_data_access", {"user_id": "u-rate", "record_count": 1}


def export10(i):
    return "customer_data_bulk_export", {"user_id": "u-cum", "record_count": 10}


def networks(i):
    return "customer_data_access", {
        "user_id": "u-roam",
        "ip_address": f"10.{i}.0.1",
        "record_count": 1,
    }


# rule: (event maker, quiet count, window, subject)
RULES = {
    "failed_login_burst_user": (failed_user, 5, 15 * MINUTE, "user:u-victim"),
    "failed_login_burst_ip": (failed_ip, 5, 15 * MINUTE, "ip:203.0.113.9"),
    "credential_stuffing": (stuffing, 4, 15 * MINUTE, "ip:2001:db8:1:2::/64"),
    "privilege_escalation_burst": (escalation, 1, 10 * MINUTE, "user:u-esc"),
    "rate_limit": (access, 100, 60 * MINUTE, "user:u-rate"),
    "moderate_rate": (access, 60, 60 * MINUTE, "user:u-rate"),
    "cumulative_export": (export10, 5, timedelta(hours=24), "user:u-cum"),
    "suspicious_activity": (networks, 2, 15 * MINUTE, "user:u-roam"),
}
WINDOW_RULES = sorted(RULES)


def burst(db, rule, count, span, start=T0):
    """Report count events of the rule, evenly spread over span; return ids."""
    make = RULES[rule][0]
    step = span / max(count - 1, 1)
    ids = []
    for i in range(count):
        event_type, kw = make(i)
        ids.append(log(db, event_type, start + i * step, **kw))
    return ids


@pytest.mark.parametrize("rule", WINDOW_RULES)
def test_at_threshold_is_no_hit(db, rule):
    """Check that exactly the threshold within the window is not a hit."""
    _, quiet, window, _ = RULES[rule]
    burst(db, rule, quiet, window / 2)
    assert findings(db, rule) == []


@pytest.mark.parametrize("rule", WINDOW_RULES)
def test_one_past_threshold_is_a_hit_with_exact_evidence(db, rule):
    """Check that one event past the threshold is a hit naming exactly its ids."""
    make, quiet, window, subject = RULES[rule]
    event_type, kw = make(quiet + 9)
    before = log(db, event_type, T0 - 2 * window, **kw)
    ids = burst(db, rule, quiet + 1, window / 2)
    [found] = findings(db, rule)
    assert found["evidence"] == ids
    assert before not in found["evidence"]
    assert found["event_count"] == quiet + 1
    assert found["first_seen"] == T0
    assert found["last_seen"] == T0 + window / 2
    assert found["details"]["threshold"] is not None
    check(db)
    [alert] = alerts(db, rule)
    assert alert["subject"] == subject
    assert alert["evidence"] == ids


@pytest.mark.parametrize("rule", WINDOW_RULES)
def test_events_exactly_one_window_apart_are_a_hit(db, rule):
    """Check that first and last event exactly one window apart still count."""
    _, quiet, window, _ = RULES[rule]
    ids = burst(db, rule, quiet + 1, window)
    [found] = findings(db, rule)
    assert found["evidence"] == ids
    assert found["last_seen"] - found["first_seen"] == window


@pytest.mark.parametrize("rule", WINDOW_RULES)
def test_one_second_more_than_the_window_is_no_hit(db, rule):
    """Check that stretching the same events by one second clears the rule."""
    _, quiet, window, _ = RULES[rule]
    make = RULES[rule][0]
    ids = burst(db, rule, quiet, window / 2)
    event_type, kw = make(quiet)
    ids.append(log(db, event_type, T0 + window + timedelta(seconds=1), **kw))
    # The first event is more than a window before the last one.
    assert findings(db, rule) == []


@pytest.mark.parametrize("rule", WINDOW_RULES)
def test_burst_straddling_a_quarter_hour_boundary_is_a_hit(db, rule):
    """Check that a burst across a :15 boundary is found (no fixed buckets)."""
    _, quiet, window, _ = RULES[rule]
    span = min(window, 10 * MINUTE)
    start = T0 + 15 * MINUTE - span / 2
    ids = burst(db, rule, quiet + 1, span, start=start)
    [found] = findings(db, rule)
    assert found["evidence"] == ids


@pytest.mark.parametrize("rule", WINDOW_RULES)
def test_tuning_by_update_changes_the_outcome(db, rule):
    """Check that raising the threshold by UPDATE silences the same events."""
    _, quiet, window, _ = RULES[rule]
    burst(db, rule, quiet + 1, window / 2)
    assert len(findings(db, rule)) == 1
    step = 10 if rule == "cumulative_export" else 1
    db.execute(
        "UPDATE warden.detection_rules SET threshold = threshold + %s,"
        " params = params || '{\"upper\": 1000}' WHERE rule = %s",
        (step, rule),
    )
    assert findings(db, rule) == []
    db.execute(
        "UPDATE warden.detection_rules SET threshold = threshold - %s,"
        " time_window = time_window / 4 WHERE rule = %s",
        (step, rule),
    )
    assert findings(db, rule) == []


@pytest.mark.parametrize("rule", WINDOW_RULES)
def test_disabled_rule_stays_silent(db, rule):
    """Check that a disabled rule neither finds nor alerts."""
    db.execute(
        "UPDATE warden.detection_rules SET enabled = false WHERE rule = %s", (rule,)
    )
    _, quiet, window, _ = RULES[rule]
    burst(db, rule, quiet + 1, window / 2)
    assert findings(db, rule) == []
    check(db)
    assert alerts(db, rule) == []


@pytest.mark.parametrize("rule", WINDOW_RULES)
def test_late_event_completes_a_window(db, rule):
    """Check that an event stored late with an old time is judged by the next run."""
    make, quiet, window, _ = RULES[rule]
    step = window / 2 / quiet
    times = [T0 + i * step for i in range(quiet + 1)]
    late = quiet // 2
    ids = {}
    for i, at in enumerate(times):
        if i != late:
            event_type, kw = make(i)
            ids[i] = log(db, event_type, at, **kw)
    check(db)
    assert alerts(db, rule) == []
    event_type, kw = make(late)
    ids[late] = log(db, event_type, times[late], **kw)
    check(db)
    [alert] = alerts(db, rule)
    assert alert["evidence"] == sorted(ids.values())
    assert alert["first_seen"] == T0


@pytest.mark.parametrize("rule", WINDOW_RULES)
def test_rerun_adds_nothing(db, rule):
    """Check that a second run over the same events returns and adds nothing."""
    _, quiet, window, _ = RULES[rule]
    burst(db, rule, quiet + 1, window / 2)
    first = [a for a in check(db) if a["rule"] == rule]
    assert len(first) == 1 or alerts(db, rule)
    assert check(db) == []
    assert len(alerts(db, rule)) == 1


@pytest.mark.parametrize("rule", WINDOW_RULES)
def test_continuing_attack_extends_its_open_alert(db, rule):
    """Check that a second burst of the same subject extends the open alert."""
    _, quiet, window, _ = RULES[rule]
    ids = burst(db, rule, quiet + 1, window / 2)
    check(db)
    later = burst(db, rule, quiet + 1, window / 2, start=T0 + 3 * window)
    extended = [a for a in check(db) if a["rule"] == rule]
    [alert] = alerts(db, rule)
    assert alert["evidence"] == ids + later
    assert alert["event_count"] == 2 * (quiet + 1)
    assert alert["last_seen"] == T0 + 3 * window + window / 2
    assert extended == [] or extended[0]["id"] == alert["id"]
