"""Rules that judge one event at a time: exports, escalation, roles, high value."""

from __future__ import annotations

from datetime import timedelta

import pytest

from detection_helpers import T0, alerts, check, findings, log

MODEL = """
INSERT INTO warden.table_sensitivity VALUES
    ('customers', 'sensitive'), ('public.vip_accounts', 'high_value');
INSERT INTO warden.app_roles VALUES
    ('support', false, 'reads customers'), ('vip_desk', true, 'high value');
INSERT INTO warden.app_user_roles VALUES
    ('u-sup', 'support'), ('u-vip', 'vip_desk');
INSERT INTO warden.app_role_permissions VALUES
    ('support', 'customers', '{read}'),
    ('support', 'orders', '{read, modify}'),
    ('vip_desk', '*', '{*}');
INSERT INTO warden.high_value_customers VALUES ('C-1', 'board member');
"""

EXPORT = "customer_data_bulk_export"
READ = "customer_data_access"
MODIFY = "customer_data_modify"

# (rule, event type, log_event arguments, hit?)
CASES = [
    ("bulk_export", EXPORT, {"record_count": 50}, False),
    ("bulk_export", EXPORT, {"record_count": 51}, True),
    ("bulk_export", EXPORT, {}, False),
    ("sensitive_export", EXPORT, {"record_count": 50, "table_name": "customers"}, True),
    (
        "sensitive_export",
        EXPORT,
        {"record_count": 51, "table_name": "public.customers"},
        False,
    ),
    ("sensitive_export", EXPORT, {"record_count": 3, "table_name": "orders"}, False),
    (
        "sensitive_export",
        EXPORT,
        {"record_count": 1, "table_name": "vip_accounts"},
        True,
    ),
    ("privilege_escalation_attempt", "privilege_escalation_attempt", {}, True),
    ("privilege_escalation_attempt", "permission_denied", {}, False),
    ("role_violation", READ, {"user_id": "u-sup", "table_name": "customers"}, False),
    ("role_violation", EXPORT, {"user_id": "u-sup", "table_name": "customers"}, True),
    ("role_violation", READ, {"user_id": "u-sup", "table_name": "payments"}, True),
    (
        "role_violation",
        MODIFY,
        {
            "user_id": "u-sup",
            "table_name": "orders",
            "metadata": '{"operation": "DELETE"}',
        },
        False,
    ),
    (
        "role_violation",
        MODIFY,
        {
            "user_id": "u-sup",
            "table_name": "customers",
            "metadata": '{"operation": "UPDATE"}',
        },
        True,
    ),
    ("role_violation", READ, {"user_id": "u-nobody", "table_name": "payments"}, False),
    ("role_violation", READ, {"user_id": "u-vip", "table_name": "payments"}, False),
    (
        "unauthorized_high_value_access",
        READ,
        {"user_id": "u-sup", "table_name": "vip_accounts"},
        True,
    ),
    (
        "unauthorized_high_value_access",
        READ,
        {"user_id": "u-nobody", "table_name": "public.vip_accounts"},
        True,
    ),
    (
        "unauthorized_high_value_access",
        READ,
        {"user_id": "u-vip", "table_name": "vip_accounts"},
        False,
    ),
    (
        "unauthorized_high_value_access",
        READ,
        {
            "user_id": "u-sup",
            "table_name": "customers",
            "metadata": '{"customer_id": "C-1"}',
        },
        True,
    ),
    (
        "unauthorized_high_value_access",
        READ,
        {
            "user_id": "u-sup",
            "table_name": "customers",
            "metadata": '{"customer_id": "C-2"}',
        },
        False,
    ),
]


@pytest.mark.parametrize(
    ("rule", "event_type", "args", "hit"),
    CASES,
    ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)],
)
def test_single_event_rule(db, rule, event_type, args, hit):
    """Check that a single event is a finding of its rule exactly when it should."""
    db.execute(MODEL)
    args = {"user_id": "u-sup", **args}
    event_id = log(db, event_type, T0, **args)
    found = findings(db, rule)
    if not hit:
        assert found == []
        return
    [finding] = found
    assert finding["evidence"] == [event_id]
    assert finding["first_seen"] == finding["last_seen"] == T0
    assert finding["user_id"] == args["user_id"]


@pytest.mark.parametrize(
    ("rule", "event_type", "args"),
    [
        ("bulk_export", EXPORT, {"record_count": 51}),
        ("sensitive_export", EXPORT, {"record_count": 5, "table_name": "customers"}),
        ("privilege_escalation_attempt", "privilege_escalation_attempt", {}),
        ("role_violation", READ, {"table_name": "payments"}),
        ("unauthorized_high_value_access", READ, {"table_name": "vip_accounts"}),
    ],
)
def test_real_time_alert_before_commit_and_one_alert_per_subject(
    db, rule, event_type, args
):
    """Check that the alert exists at once and repeats extend that one alert."""
    db.execute(MODEL)
    with db.transaction():
        first = log(db, event_type, T0, user_id="u-sup", **args)
        [alert] = alerts(db, rule)
        assert alert["evidence"] == [first]
    second = log(db, event_type, T0 + timedelta(minutes=5), user_id="u-sup", **args)
    [alert] = alerts(db, rule)
    assert alert["evidence"] == [first, second]
    assert alert["event_count"] == 2
    records = args.get("record_count")
    assert alert["record_count"] == (2 * records if records else None)
    assert check(db) == []


def test_bulk_export_threshold_tuned_by_update(db):
    """Check that raising bulk_export's threshold silences a 51-record export."""
    log(db, EXPORT, T0, user_id="u1", record_count=51)
    assert len(findings(db, "bulk_export")) == 1
    db.execute(
        "UPDATE warden.detection_rules SET threshold = 51 WHERE rule = 'bulk_export'"
    )
    assert findings(db, "bulk_export") == []


@pytest.mark.parametrize("rule", ["bulk_export", "privilege_escalation_attempt"])
def test_disabled_single_rule_is_silent(db, rule):
    """Check that a disabled single-event rule raises nothing, in real time or not."""
    db.execute(
        "UPDATE warden.detection_rules SET enabled = false WHERE rule = %s", (rule,)
    )
    log(db, EXPORT, T0, user_id="u1", record_count=500)
    log(db, "privilege_escalation_attempt", T0, user_id="u1")
    assert findings(db, rule) == []
    check(db)
    assert alerts(db, rule) == []


def test_bulk_export_alert_is_critical_with_record_count(db):
    """Check that a bulk export alert carries the rule's severity and records."""
    event_id = log(
        db, EXPORT, T0, user_id="u1", record_count=5000, ip_address="192.0.2.5"
    )
    [alert] = alerts(db, "bulk_export")
    assert (alert["severity"], alert["risk_score"]) == ("critical", 5)
    assert alert["record_count"] == 5000
    assert alert["evidence"] == [event_id]
    assert str(alert["ip_address"]) == "192.0.2.5"
    assert alert["subject"] == "user:u1"
