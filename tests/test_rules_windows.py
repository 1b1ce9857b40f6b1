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


def even(count, span):
    """Offsets of count events spread evenly over span (first 0, last span)."""
    return [span / max(count - 1, 1) * i for i in range(count)]


@pytest.mark.parametrize("rule", WINDOW_RULES)
def test_window_boundaries(db, rule):
    """Check threshold, one past, exact window, one second more and a :15 burst.

    The scenarios share one database, each far enough in time from the
    others (five windows) that no window reaches across, and each is read
    back with since/until around it.
    """
    make, quiet, window, subject = RULES[rule]

    def scenario(number, offsets, *, extra_before=False):
        base = T0 + number * 5 * window
        before = None
        if extra_before:
            event_type, kw = make(quiet + 9)
            before = log(db, event_type, base - 2 * window, **kw)
        ids = []
        for i, offset in enumerate(offsets):
            event_type, kw = make(i)
            ids.append(log(db, event_type, base + offset, **kw))
        found = findings(db, rule, since=base, until=base + 2 * window)
        return base, before, ids, found

    # Exactly the threshold within the window: no hit.
    *_, found = scenario(0, even(quiet, window / 2))
    assert found == [], "at the threshold"

    # One past the threshold: a hit naming exactly its events, not the
    # subject's earlier event outside the window.
    base, before, ids, found = scenario(
        1, even(quiet + 1, window / 2), extra_before=True
    )
    [hit] = found
    assert hit["evidence"] == ids
    assert before not in hit["evidence"]
    assert hit["event_count"] == quiet + 1
    assert (hit["first_seen"], hit["last_seen"]) == (base, base + window / 2)
    assert hit["details"]["threshold"] is not None

    # First and last exactly one window apart: still a hit.
    _, _, ids, found = scenario(2, even(quiet + 1, window))
    assert [f["evidence"] for f in found] == [ids], "exactly one window apart"
    assert found[0]["last_seen"] - found[0]["first_seen"] == window

    # The same, one second longer: no hit.
    offsets = even(quiet + 1, window)
    offsets[-1] += timedelta(seconds=1)
    *_, found = scenario(3, offsets)
    assert found == [], "one second more than the window"

    # A burst across a quarter-hour boundary (no fixed buckets).
    base = T0 + 4 * 5 * window
    boundary = base.replace(minute=base.minute // 15 * 15, second=0) + 15 * MINUTE
    span = min(window, 10 * MINUTE)
    start = boundary - span / 2 - base
    _, _, ids, found = scenario(4, [start + o for o in even(quiet + 1, span)])
    assert [f["evidence"] for f in found] == [ids], "across a quarter hour"

    # The scheduled run raises one alert per subject for all of them.
    check(db)
    [alert] = alerts(db, rule)
    assert alert["subject"] == subject


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
def test_rerun_is_idempotent_and_a_continuing_attack_extends(db, rule):
    """Check that a rerun adds nothing and a later burst extends the open alert."""
    _, quiet, window, _ = RULES[rule]
    ids = burst(db, rule, quiet + 1, window / 2)
    check(db)
    assert check(db) == [], "a rerun adds nothing"
    assert len(alerts(db, rule)) == 1
    later = burst(db, rule, quiet + 1, window / 2, start=T0 + 3 * window)
    extended = [a for a in check(db) if a["rule"] == rule]
    [alert] = alerts(db, rule)
    assert alert["evidence"] == ids + later
    assert alert["event_count"] == 2 * (quiet + 1)
    assert alert["last_seen"] == T0 + 3 * window + window / 2
    assert extended == [] or extended[0]["id"] == alert["id"]
