"""Hostile database users against the rules, locks, alerts and incidents.

The attackers log in as themselves: ``pgw_app_login`` (a member of
warden_app, i.e. the application's login once compromised),
``pgw_analyst_login`` (a member of warden_analyst, who may read but change
nothing) and ``pgw_mallory`` (an ordinary login of the host database). They
try to blind the rules, lift a lock placed on the account they act for,
stall detection, and smuggle text through user ids and table names into
alerts, incidents and the messages sent to the security team.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

APP_LOGIN = "pgw_app_login"
ANALYST_LOGIN = "pgw_analyst_login"
MALLORY = "pgw_mallory"
ATTACKERS = [APP_LOGIN, ANALYST_LOGIN, MALLORY]
#: The installed command, beside the interpreter running the tests.
PGWARDEN = str(Path(sys.executable).with_name("pgwarden"))


def ensure_role(db: psycopg.Connection, name: str, *member_of: str) -> None:
    """Create a login role (cluster-wide, so once per server run)."""
    exists = db.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,))
    if exists.fetchone() is None:
        db.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(name)))
    for group in member_of:
        db.execute(
            sql.SQL("GRANT {} TO {}").format(
                sql.Identifier(group), sql.Identifier(name)
            )
        )


@pytest.fixture
def login_as(db, dsn) -> Callable[[str], psycopg.Connection]:
    """Connect to the test database as one of the hostile login roles."""
    ensure_role(db, APP_LOGIN, "warden_app")
    ensure_role(db, ANALYST_LOGIN, "warden_analyst")
    ensure_role(db, MALLORY)
    opened: list[psycopg.Connection] = []

    def _login(role: str) -> psycopg.Connection:
        conn = psycopg.connect(dsn, user=role, autocommit=True)
        opened.append(conn)
        return conn

    yield _login
    for conn in opened:
        conn.close()


def scalar(conn: psycopg.Connection, query: str, params: tuple = ()) -> object:
    """The single value a query returns."""
    return conn.execute(query, params).fetchone()[0]


def state(db: psycopg.Connection) -> tuple:
    """Everything an attacker would like to change, as plain values."""
    tables = [
        "detection_rules",
        "event_types",
        "settings",
        "table_sensitivity",
        "app_user_roles",
        "high_value_customers",
        "account_locks",
        "ip_blocks",
        "alerts",
        "incidents",
        "notification_outbox",
        "message_templates",
    ]
    return tuple(
        db.execute(
            sql.SQL(
                "SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), ''))"
                " FROM warden.{} AS t"
            ).format(sql.Identifier(name))
        ).fetchone()[0]
        for name in tables
    )


@pytest.fixture
def contained(db) -> dict:
    """An account locked and an address blocked by an alert, with an incident."""
    for _ in range(2):
        db.execute(
            "SELECT warden.log_event('privilege_escalation_attempt', "
            "user_id => 'u-evil', ip_address => '192.0.2.66')"
        )
    db.execute("SELECT warden.block_ip('192.0.2.66', '1 day', 'test', NULL)")
    assert scalar(db, "SELECT warden.is_account_locked('u-evil')") is True
    alert = scalar(
        db, "SELECT id FROM warden.alerts WHERE rule = 'privilege_escalation_burst'"
    )
    incident = scalar(
        db, "SELECT incident_id FROM warden.alerts WHERE id = %s", (alert,)
    )
    return {"alert": alert, "incident": incident}


ATTEMPTS = [
    "UPDATE warden.detection_rules SET enabled = false",
    "UPDATE warden.detection_rules SET threshold = 1000000",
    "DELETE FROM warden.detection_rules",
    "INSERT INTO warden.event_types VALUES ('x', 'alert', 1, false, 'x')",
    "UPDATE warden.settings SET value = '0'",
    "INSERT INTO warden.table_sensitivity VALUES ('public.customers', 'normal')",
    "DELETE FROM warden.table_sensitivity",
    "DELETE FROM warden.high_value_customers",
    "INSERT INTO warden.app_user_roles SELECT 'u-evil', app_role FROM warden.app_roles",
    "UPDATE warden.account_locks SET lifted_at = now()",
    "UPDATE warden.account_locks SET expires_at = now() - interval '1 day'",
    "DELETE FROM warden.account_locks",
    "DELETE FROM warden.ip_blocks",
    "UPDATE warden.alerts SET status = 'closed'",
    "DELETE FROM warden.alerts",
    "UPDATE warden.incidents SET status = 'resolved'",
    "DELETE FROM warden.notification_outbox",
    "UPDATE warden.message_templates SET body = 'nothing to see'",
    "SELECT warden.unlock_account('u-evil', 'it was me')",
    "SELECT warden.unblock_ip('192.0.2.66', 'it was me')",
    "SELECT warden.lift_alert_containment({alert}, 'it was me')",
    "SELECT warden.resolve_incident({incident}, 'fine', true)",
    "SELECT warden.acknowledge_incident({incident}, 'mine')",
    "SELECT warden.expire_containment()",
    "SELECT warden.check_customer_data_access_alerts()",
    "SELECT warden.lock_account('someone-else', NULL, 'revenge')",
    "SELECT warden.watch_table('warden.alerts')",
    "SELECT warden.unwatch_table('warden.alerts')",
    "SELECT warden.claim_notifications(100)",
    "SELECT warden.complete_notification(1)",
    "SELECT warden.seal_audit_log()",
]


@pytest.mark.parametrize("role", ATTACKERS)
def test_attackers_cannot_blind_rules_or_lift_containment(
    db, login_as, contained, role
):
    """Check that no attacker can change rules, locks, alerts or incidents."""
    before = state(db)
    conn = login_as(role)
    conn.execute("SET app.user_id = 'u-evil'")
    for attempt in ATTEMPTS:
        text = attempt.format(**contained)
        with pytest.raises(psycopg.Error) as info:
            conn.execute(text)
        # 42501: not allowed; 42883 would mean the function was missing.
        assert info.value.diag.sqlstate == "42501", text
    assert state(db) == before
    assert scalar(db, "SELECT warden.is_account_locked('u-evil')") is True
    assert scalar(db, "SELECT warden.is_ip_blocked('192.0.2.66')") is True


def test_locked_actor_cannot_report_its_way_out(db, login_as, contained):
    """Check that forged unlock or alert events lift no lock and stay marked."""
    app = login_as(APP_LOGIN)
    app.execute("SET app.user_id = 'u-evil'")
    assert scalar(app, "SELECT warden.access_allowed()") is False
    for kind in ("account_unlocked", "security_alert", "login_success"):
        app.execute(
            "SELECT warden.log_event(%s, user_id => 'u-evil', "
            'metadata => \'{"lock_id": 1, "reason": "lifted"}\')',
            (kind,),
        )
    db.execute("SELECT count(*) FROM warden.check_customer_data_access_alerts()")
    assert scalar(app, "SELECT warden.access_allowed()") is False
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        app.execute("SELECT warden.assert_access_allowed()")
    assert scalar(db, "SELECT warden.is_account_locked('u-evil')") is True
    forged = db.execute(
        "SELECT DISTINCT source FROM warden.security_audit_log "
        "WHERE user_id = 'u-evil' AND event_type = 'account_unlocked'"
    ).fetchall()
    assert forged == [("application",)]


# A hostile session that holds the key of pgwarden's advisory lock: any role
# may call pg_advisory_lock, and hashtext() of a documented name is public.


STALLS = [
    pytest.param(
        "warden.check_customer_data_access_alerts",
        "SELECT count(*) FROM warden.check_customer_data_access_alerts()",
        id="check_customer_data_access_alerts",
    ),
    pytest.param(
        "warden.maintain_log_partitions",
        "SELECT count(*) FROM warden.maintain_log_partitions(3, 30)",
        id="maintain_log_partitions",
    ),
    pytest.param(
        "warden.seal_audit_log",
        "SELECT warden.seal_audit_log()",
        id="seal_audit_log",
    ),
]


@pytest.mark.parametrize(("key", "call"), STALLS)
def test_ordinary_login_cannot_stall_pgwarden_jobs(db, login_as, key, call):
    """Check that a session holding pgwarden's advisory key stalls no job."""
    mallory = login_as(MALLORY)
    mallory.execute("SELECT pg_advisory_lock(hashtext(%s))", (key,))
    # A wait for the key is a lock wait, which lock_timeout ends (55P03);
    # the statement timeout only bounds a job that is slow on a busy machine.
    db.execute("SET lock_timeout = '1500ms'")
    db.execute("SET statement_timeout = '60s'")
    try:
        db.execute(call)
    finally:
        db.execute("RESET lock_timeout")
        db.execute("RESET statement_timeout")


INJECTIONS = [
    "'); DROP TABLE warden.alerts; --",
    '"; DROP SCHEMA warden CASCADE; --',
    "%I%L%s",
    "$$; SELECT 1; $$",
]


@pytest.mark.parametrize("user", INJECTIONS)
def test_injected_user_ids_flow_through_detection_as_data(db, login_as, user):
    """Check that SQL in a user id ends as data in alerts, incidents, messages."""
    app = login_as(APP_LOGIN)
    for _ in range(7):
        app.execute(
            "SELECT warden.log_event('login_failed', user_id => %s, "
            "ip_address => '198.51.100.1')",
            (user,),
        )
    app.execute(
        "SELECT warden.log_event('customer_data_bulk_export', user_id => %s, "
        "table_name => %s, record_count => 500)",
        (user, user),
    )
    db.execute("SELECT count(*) FROM warden.check_customer_data_access_alerts()")
    rules = {
        r[0]
        for r in db.execute(
            "SELECT rule FROM warden.alerts WHERE user_id = %s", (user,)
        )
    }
    assert {"failed_login_burst_user", "bulk_export"} <= rules
    assert scalar(db, "SELECT warden.is_account_locked(%s)", (user,)) is True
    incident = scalar(
        db,
        "SELECT id FROM warden.incidents WHERE user_id = %s AND rule = 'bulk_export'",
        (user,),
    )
    assert user in scalar(db, "SELECT warden.render_critical_alert(%s)", (incident,))
    assert scalar(db, "SELECT to_regclass('warden.alerts') IS NOT NULL") is True


def test_hostile_table_names_are_watched_and_recorded_verbatim(db, login_as):
    """Check that a watched table whose name is SQL is captured as data."""
    name = "x'); DROP TABLE warden.alerts; --"
    schema = 'evil"schema'
    db.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    target = sql.Identifier(schema, name)
    db.execute(sql.SQL("CREATE TABLE {} (id int PRIMARY KEY)").format(target))
    db.execute(
        sql.SQL("GRANT USAGE ON SCHEMA {} TO warden_app").format(sql.Identifier(schema))
    )
    db.execute(
        sql.SQL("GRANT SELECT, INSERT, DELETE ON {} TO warden_app").format(target)
    )
    logical = scalar(
        db,
        "SELECT warden.watch_table(%s::regclass, 'high_value')",
        (sql.Identifier(schema, name).as_string(db),),
    )
    app = login_as(APP_LOGIN)
    app.execute(sql.SQL("INSERT INTO {} VALUES (1), (2)").format(target))
    app.execute(sql.SQL("DELETE FROM {} WHERE id = 1").format(target))
    rows = db.execute(
        "SELECT table_name, record_count, metadata ->> 'operation' "
        "FROM warden.security_audit_log "
        "WHERE event_type = 'customer_data_modify' ORDER BY id"
    ).fetchall()
    assert rows == [(logical, 2, "INSERT"), (logical, 1, "DELETE")]
    assert logical == sql.Identifier(schema, name).as_string(db)
    assert scalar(db, "SELECT to_regclass('warden.alerts') IS NOT NULL") is True


def test_placeholders_inside_a_user_id_are_not_expanded(db, login_as):
    """Check that a user id holding template placeholders is rendered verbatim."""
    user = "x [INCIDENT_DESCRIPTION] [ACTIONS_TAKEN] [NEXT_STEPS]"
    app = login_as(APP_LOGIN)
    app.execute(
        "SELECT warden.log_event('customer_data_bulk_export', user_id => %s, "
        "table_name => 'public.customers', record_count => 500)",
        (user,),
    )
    incident = scalar(db, "SELECT id FROM warden.incidents WHERE user_id = %s", (user,))
    text = scalar(db, "SELECT warden.render_critical_alert(%s)", (incident,))
    assert f"User: {user}\n" in text


def test_forged_notifications_deliver_nothing(db, dsn, login_as):
    """Check that NOTIFY from an ordinary login makes the watcher send nothing."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    watcher = subprocess.Popen(
        [PGWARDEN, "watch", "--dsn", dsn, "--interval", "600"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not scalar(
            db,
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE application_name = 'pgwarden watch'",
        ):
            time.sleep(0.2)
        mallory = login_as(MALLORY)
        for channel, payload in [
            ("warden_outbox", "1"),
            ("warden_outbox", "'; DROP TABLE warden.alerts; --"),
            ("warden_alerts", "999999"),
            ("warden_sessions", '{"user_id": "u-1", "revocation_id": 1}'),
        ]:
            mallory.execute("SELECT pg_notify(%s, %s)", (channel, payload))
        time.sleep(2)
        assert watcher.poll() is None, "the watcher died"
        watcher.send_signal(signal.SIGTERM)
        output, _ = watcher.communicate(timeout=20)
    finally:
        if watcher.poll() is None:
            watcher.kill()
            watcher.communicate()
    assert watcher.returncode == 0, output
    assert "---" not in output  # no message was delivered
    assert scalar(db, "SELECT count(*) FROM warden.notification_outbox") == 0
    assert scalar(db, "SELECT to_regclass('warden.alerts') IS NOT NULL") is True


@pytest.mark.parametrize(
    ("attack", "kind"),
    [
        (
            "ALTER TABLE public.cust DISABLE TRIGGER warden_20_capture_insert",
            "capture_trigger_disabled",
        ),
        (
            "DROP TRIGGER warden_20_capture_insert ON public.cust",
            "capture_trigger_missing",
        ),
    ],
    ids=["disable", "drop"],
)
def test_table_owner_switching_capture_off_is_made_evident(db, dsn, attack, kind):
    """Check that an owner disarming capture on its own table is reported."""
    ensure_role(db, "pgw_table_owner")
    db.execute("CREATE TABLE public.cust (id int PRIMARY KEY)")
    db.execute("ALTER TABLE public.cust OWNER TO pgw_table_owner")
    db.execute("SELECT warden.watch_table('public.cust', 'sensitive')")
    with psycopg.connect(dsn, user="pgw_table_owner", autocommit=True) as owner:
        owner.execute(attack)
        owner.execute("INSERT INTO public.cust SELECT generate_series(1, 500)")
    assert (
        scalar(
            db,
            "SELECT count(*) FROM warden.security_audit_log "
            "WHERE event_type = 'customer_data_modify'",
        )
        == 0
    )
    problems = db.execute(
        "SELECT kind, object FROM warden.verify_audit_log()"
    ).fetchall()
    assert (kind, "public.cust") in {(k, o) for k, o in problems}, problems


def test_shadowed_builtins_do_not_reach_the_analysts_functions(db, login_as, contained):
    """Check that an analyst's traps never run and its reading changes nothing."""
    from test_hostile_log import plant_shadows

    analyst = login_as(ANALYST_LOGIN)
    plant_shadows(db, analyst, ANALYST_LOGIN)
    incident = contained["incident"]
    calls = [
        "SELECT count(*) FROM warden.detect_customer_data_theft_attempts()",
        "SELECT count(*) FROM warden.monitor_unauthorized_customer_access()",
        "SELECT count(*) FROM warden.verify_audit_log()",
        "SELECT count(*) FROM warden.user_activity_overview('u-evil')",
        "SELECT count(*) FROM warden.user_timeline('u-evil')",
        "SELECT warden.render_critical_alert(%(incident)s)",
        "SELECT warden.render_user_notification(%(incident)s)",
        "SELECT count(*) FROM warden.incident_report(%(incident)s)",
        "SELECT warden.can_open_security_dashboard('someone')",
        "SELECT warden.is_account_locked('u-evil')",
        "SELECT warden.is_ip_blocked('192.0.2.66')",
        "SELECT warden.access_allowed()",
        "SELECT warden.current_actor()",
    ]
    before = state(db)
    logged = scalar(db, "SELECT count(*) FROM warden.security_audit_log")
    for call in calls:
        analyst.execute(call, {"incident": incident})
    # Reading and detecting changed nothing.
    assert state(db) == before
    assert scalar(db, "SELECT count(*) FROM warden.security_audit_log") == logged
    assert "u-evil" in scalar(
        analyst, "SELECT warden.render_critical_alert(%s)", (incident,)
    )
