"""Hostile database users against the event log.

Two attackers who already have a login: ``pgw_app_login``, the application's
own login (a member of warden_app, as a compromised application would be),
and ``pgw_mallory``, an ordinary login role of the host database with no
pgwarden role at all. They connect as themselves (not through SET ROLE, which
a superuser session could undo) and try to read the log, change it, switch
its defences off, shadow pgwarden's objects, and smuggle SQL through the
values they report. Every attempt must be refused or harmless.
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest
from psycopg import sql

APP_LOGIN = "pgw_app_login"
MALLORY = "pgw_mallory"
ATTACKERS = [APP_LOGIN, MALLORY]

#: Values built to break out of a quoted literal, identifier, dollar quote or
#: format() specifier, should any pgwarden function splice them into SQL.
INJECTIONS = [
    "'); DROP TABLE warden.security_audit_log; --",
    "x'; TRUNCATE warden.security_audit_log; --",
    '"; DROP SCHEMA warden CASCADE; --',
    "$$; DROP SCHEMA warden CASCADE; $$",
    "%I%L%s%1$s",
    "\\'; SELECT pg_sleep(10); --",
    "u1' OR '1'='1",
    "\u2019; DROP TABLE warden.detection_rules; --",
]


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
    ensure_role(db, MALLORY)
    opened: list[psycopg.Connection] = []

    def _login(role: str) -> psycopg.Connection:
        conn = psycopg.connect(dsn, user=role, autocommit=True)
        opened.append(conn)
        return conn

    yield _login
    for conn in opened:
        conn.close()


@pytest.fixture
def logged(db) -> int:
    """Store a few events as the application would; return how many."""
    db.execute(
        "SELECT warden.log_event('login_failed', user_id => 'victim', "
        "ip_address => '192.0.2.10'), "
        "warden.log_event('customer_data_access', user_id => 'victim', "
        "table_name => 'customers', record_count => 3)"
    )
    return 2


def log_fingerprint(db: psycopg.Connection) -> tuple:
    """Ids and contents of the application's events, to see any change."""
    return tuple(
        db.execute(
            "SELECT id, user_id, event_type, risk_score, metadata::text "
            "FROM warden.security_audit_log WHERE source = 'application' "
            "ORDER BY id"
        ).fetchall()
    )


def partitions(db: psycopg.Connection) -> list[str]:
    """Qualified names of every partition of the event log."""
    return [
        r[0]
        for r in db.execute(
            "SELECT inhrelid::regclass::text FROM pg_inherits "
            "WHERE inhparent = 'warden.security_audit_log'::regclass"
        )
    ]


def triggers_state(db: psycopg.Connection) -> list[tuple]:
    """Every trigger on the log and its partitions, with its enabled state."""
    return db.execute(
        "SELECT tgrelid::regclass::text, tgname, tgenabled FROM pg_trigger "
        "WHERE tgrelid = 'warden.security_audit_log'::regclass "
        "OR tgrelid IN (SELECT inhrelid FROM pg_inherits "
        "WHERE inhparent = 'warden.security_audit_log'::regclass) "
        "ORDER BY 1, 2"
    ).fetchall()


def refused(conn: psycopg.Connection, statement: str | sql.Composable) -> str:
    """Run a statement that must fail; return its SQLSTATE."""
    with pytest.raises(psycopg.Error) as info:
        conn.execute(statement)
    return info.value.diag.sqlstate


@pytest.mark.parametrize("role", ATTACKERS)
def test_attackers_cannot_read_the_log_or_any_partition(db, login_as, logged, role):
    """Check that neither attacker may read the log, a partition or its catalog."""
    conn = login_as(role)
    targets = ["warden.security_audit_log", *partitions(db)]
    targets += ["warden.detection_rules", "warden.event_types", "warden.settings"]
    for table in targets:
        query = sql.SQL("SELECT * FROM {}").format(sql.Identifier(*table.split(".")))
        assert refused(conn, query) == "42501", table
    copy = sql.SQL("COPY (SELECT * FROM warden.security_audit_log) TO STDOUT")
    assert refused(conn, copy) == "42501"


def test_ordinary_login_cannot_report_events(db, login_as):
    """Check that a login without warden_app may not call log_event (42501)."""
    conn = login_as(MALLORY)
    assert refused(conn, "SELECT warden.log_event('login_success')") == "42501"
    assert refused(conn, "SET ROLE warden_app") == "42501"
    assert refused(conn, "SET SESSION AUTHORIZATION postgres") == "42501"


DISARMING = [
    "TRUNCATE {log}",
    "TRUNCATE {part}",
    "DELETE FROM {part}",
    "UPDATE {part} SET risk_score = 1",
    "INSERT INTO {part} (event_type, risk_score) VALUES ('logout', 1)",
    "ALTER TABLE {log} DISABLE TRIGGER ALL",
    "ALTER TABLE {part} DISABLE TRIGGER USER",
    "ALTER TABLE {log} DISABLE TRIGGER security_audit_log_20_refuse_change",
    "DROP TRIGGER security_audit_log_20_refuse_change ON {log}",
    "DROP TRIGGER security_audit_log_10_refuse_truncate ON {log}",
    "ALTER TABLE {log} DETACH PARTITION {part}",
    "DROP TABLE {part}",
    "ALTER TABLE {part} RENAME TO gone",
    "ALTER TABLE {log} OWNER TO CURRENT_USER",
    "CREATE TRIGGER evil BEFORE INSERT ON {log} FOR EACH ROW "
    "EXECUTE FUNCTION warden.tg_security_audit_log__refuse_change()",
    "DROP FUNCTION warden.tg_security_audit_log__refuse_change() CASCADE",
    "ALTER FUNCTION warden.log_event(text, text, text, jsonb, integer, "
    "text, integer, timestamptz) SECURITY INVOKER",
    "CREATE OR REPLACE FUNCTION warden.log_event(event_type text, "
    "user_id text DEFAULT NULL, ip_address text DEFAULT NULL, "
    "metadata jsonb DEFAULT NULL, record_count integer DEFAULT NULL, "
    "table_name text DEFAULT NULL, risk_score integer DEFAULT NULL, "
    "created_at timestamptz DEFAULT NULL) RETURNS bigint "
    "LANGUAGE sql AS 'SELECT 0::bigint'",
    "CREATE TABLE warden.security_audit_log_evil (id int)",
    "CREATE FUNCTION warden.now() RETURNS timestamptz LANGUAGE sql "
    "AS 'SELECT ''2000-01-01''::timestamptz'",
    "GRANT SELECT ON {log} TO CURRENT_USER",
    "GRANT warden_admin TO CURRENT_USER",
    "UPDATE warden.event_types SET default_risk_score = 1",
    "INSERT INTO warden.event_types VALUES ('evil', 'alert', 1, false, 'x')",
    "SELECT warden._log_internal('audit_tamper_attempt', '{{}}')",
    "SELECT warden.drop_log_partitions()",
    "SELECT warden.maintain_log_partitions()",
    "COMMENT ON TABLE {log} IS 'mine'",
    "SECURITY LABEL ON TABLE {log} IS 'x'",
]


@pytest.mark.parametrize("role", ATTACKERS)
def test_attackers_cannot_change_or_disarm_the_log(db, login_as, logged, role):
    """Check that every attempt to change or disarm the log fails, log intact."""
    before = log_fingerprint(db)
    armed = triggers_state(db)
    part = db.execute(
        "SELECT tableoid::regclass::text FROM warden.security_audit_log LIMIT 1"
    ).fetchone()[0]
    conn = login_as(role)
    for statement in DISARMING:
        text = statement.format(log="warden.security_audit_log", part=part)
        # 42501: no privilege; 42883: the function is hidden from the caller;
        # 22023: a provider-less SECURITY LABEL, refused before any privilege.
        assert refused(conn, text) in {"42501", "42883", "22023"}, text
    assert log_fingerprint(db) == before
    assert triggers_state(db) == armed
    guards = [t for t in armed if "refuse" in t[1] or "tamper" in t[1]]
    assert guards
    assert all(state == "A" for _rel, _name, state in guards)


def test_replication_role_trick_is_refused(db, login_as):
    """Check that no attacker may switch triggers off with replica mode."""
    for role in ATTACKERS:
        conn = login_as(role)
        assert refused(conn, "SET session_replication_role = replica") == "42501"


# Functions and an operator a shadowing attack plants in its own schema:
# the same names and argument types as the built-ins pgwarden calls. Each
# raises, so any call that reaches one fails loudly.
SHADOWS = [
    ("now", "", "timestamptz"),
    ("btrim", "text", "text"),
    ("length", "text", "integer"),
    ("left", "text, integer", "text"),
    ("lower", "text", "text"),
    ("upper", "text", "text"),
    ("md5", "text", "text"),
    ("format", "text", "text"),
    ("format", "text, text", "text"),
    ("jsonb_build_object", "text, text", "jsonb"),
    ("jsonb_build_object", "text, jsonb", "jsonb"),
    ("jsonb_typeof", "jsonb", "text"),
    ("cardinality", "text[]", "integer"),
    ("isfinite", "timestamptz", "boolean"),
    ("current_setting", "text", "text"),
    ("current_setting", "text, boolean", "text"),
    ("set_config", "text, text, boolean", "text"),
    ("pg_backend_pid", "", "integer"),
    ("to_hex", "integer", "text"),
    ("to_hex", "bigint", "text"),
    ("family", "inet", "integer"),
    ("masklen", "inet", "integer"),
    ("set_masklen", "inet, integer", "inet"),
    ("network", "inet", "cidr"),
    ("host", "inet", "text"),
    ("textcat", "text, text", "text"),
    ("texteq", "text, text", "boolean"),
]

SHADOW_TABLES = [
    "CREATE TEMP TABLE security_audit_log (id bigint, user_id text, "
    "event_type text, metadata jsonb, risk_score smallint, "
    "created_at timestamptz, ip_address inet, table_name text, "
    "record_count integer, db_role text, session_id text, source text, "
    "stored_at timestamptz)",
    "CREATE TEMP TABLE event_types (event_type text, category text, "
    "default_risk_score smallint, builtin boolean, description text)",
    "INSERT INTO event_types VALUES ('evil_type', 'alert', 1, true, 'x')",
    "CREATE TEMP TABLE account_locks (user_id text, lifted_at timestamptz, "
    "expires_at timestamptz)",
    "CREATE TEMP TABLE ip_blocks (network inet, lifted_at timestamptz, "
    "expires_at timestamptz)",
    "CREATE TEMP TABLE detection_rules (rule text, enabled boolean)",
]


def plant_shadows(db: psycopg.Connection, conn: psycopg.Connection, role: str):
    """Give ``role`` a schema of traps and put it first on its search_path."""
    db.execute(
        sql.SQL("CREATE SCHEMA evil AUTHORIZATION {}").format(sql.Identifier(role))
    )
    for name, args, returns in SHADOWS:
        params = ", ".join(
            f"p{i} {t.strip()}" for i, t in enumerate(args.split(",")) if t.strip()
        )
        conn.execute(
            f"CREATE FUNCTION evil.{name}({params}) RETURNS {returns} "
            "LANGUAGE plpgsql AS $f$BEGIN RAISE EXCEPTION "
            f"'shadow evil.{name} was called' USING ERRCODE = 'P0666'; END$f$"
        )
    conn.execute(
        "CREATE OPERATOR evil.= (LEFTARG = text, RIGHTARG = text, "
        "FUNCTION = evil.texteq)"
    )
    conn.execute(
        "CREATE OPERATOR evil.|| (LEFTARG = text, RIGHTARG = text, "
        "FUNCTION = evil.textcat)"
    )
    for statement in SHADOW_TABLES:
        conn.execute(statement)
    conn.execute("SET search_path = pg_temp, evil, pg_catalog, public")
    # The traps work: unqualified calls in this session reach them.
    assert refused(conn, "SELECT now()") == "P0666"
    assert refused(conn, "SELECT btrim('x'::text)") == "P0666"
    assert refused(conn, "SELECT 'a'::text = 'b'::text") == "P0666"


def test_shadowed_builtins_and_temp_tables_do_not_reach_log_event(db, login_as):
    """Check that planted functions, operators and temp tables are never used."""
    conn = login_as(APP_LOGIN)
    plant_shadows(db, conn, APP_LOGIN)
    calls = [
        "SELECT warden.log_event('login_failed', user_id => 'u1', "
        "ip_address => '203.0.113.5', metadata => '{\"k\": \"v\"}')",
        "SELECT warden.log_event('login_failed', user_id => repeat('x', 300), "
        "ip_address => 'not-an-address', metadata => '[1]', "
        "created_at => '2999-01-01 00:00:00+00')",
        "SELECT warden.log_event('login_failed', user_id => ' ', "
        "ip_address => '::ffff:192.0.2.9')",
        "SELECT warden.log_event('customer_data_bulk_export', user_id => 'u1', "
        "record_count => 10, table_name => 'customers')",
    ]
    for call in calls:
        conn.execute(call)
    for call in [
        "SELECT warden.is_account_locked('u1')",
        "SELECT warden.is_ip_blocked('203.0.113.5')",
        "SELECT warden.access_allowed()",
        "SELECT warden.current_actor()",
        "SELECT warden.assert_access_allowed()",
    ]:
        conn.execute(call)
    # The planted event type lives only in the attacker's temp table.
    assert refused(conn, "SELECT warden.log_event('evil_type')") == "22023"
    stored = db.execute(
        "SELECT count(*), count(DISTINCT session_id) "
        "FROM warden.security_audit_log WHERE source = 'application'"
    ).fetchone()
    assert stored == (4, 1)
    assert (
        conn.execute("SELECT count(*) FROM pg_temp.security_audit_log").fetchone()[0]
        == 0
    )


def test_shadowing_through_a_writable_public_schema_is_harmless(db, login_as):
    """Check that traps in a world-writable public schema never fire."""
    # Hosts created before PostgreSQL 15 still let everyone create in public.
    db.execute("GRANT CREATE ON SCHEMA public TO PUBLIC")
    conn = login_as(MALLORY)
    conn.execute(
        "CREATE FUNCTION public.now() RETURNS timestamptz LANGUAGE plpgsql "
        "AS $f$BEGIN RAISE EXCEPTION 'public.now' USING ERRCODE = 'P0666'; "
        "END$f$"
    )
    conn.execute(
        "CREATE FUNCTION public.btrim(text) RETURNS text LANGUAGE plpgsql "
        "AS $f$BEGIN RAISE EXCEPTION 'public.btrim' USING ERRCODE = 'P0666'; "
        "END$f$"
    )
    app = login_as(APP_LOGIN)
    app.execute("SET search_path = public, pg_catalog")
    assert refused(app, "SELECT now()") == "P0666"
    app.execute("SELECT warden.log_event('logout', user_id => ' u2 ')")
    db.execute("SET search_path = public, warden, pg_catalog")
    db.execute("SELECT warden.log_event('logout', user_id => 'admin')")
    assert db.execute(
        "SELECT count(*) FROM warden.security_audit_log WHERE event_type = 'logout'"
    ).fetchone() == (2,)


@pytest.mark.parametrize("value", INJECTIONS)
def test_injected_sql_in_reported_values_is_stored_verbatim(db, login_as, value):
    """Check that SQL in user ids, table names and metadata is only data."""
    conn = login_as(APP_LOGIN)
    tables_before = db.execute(
        "SELECT count(*) FROM pg_class WHERE relnamespace = 'warden'::regnamespace"
    ).fetchone()
    event_id = conn.execute(
        "SELECT warden.log_event('customer_data_bulk_export', user_id => %s, "
        "ip_address => %s, table_name => %s, record_count => 1, "
        "metadata => jsonb_build_object(%s::text, %s::text))",
        (value, value, value, value, value),
    ).fetchone()[0]
    row = db.execute(
        "SELECT user_id, table_name, metadata ->> %s, metadata ->> 'raw_ip_address' "
        "FROM warden.security_audit_log WHERE id = %s",
        (value, event_id),
    ).fetchone()
    assert row == (value, value, value, value)
    assert conn.execute("SELECT warden.is_account_locked(%s)", (value,)).fetchone()[
        0
    ] in (True, False)
    assert conn.execute("SELECT warden.is_ip_blocked(%s)", (value,)).fetchone() == (
        False,
    )
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        conn.execute("SELECT warden.log_event(%s)", (value,))
    assert (
        db.execute(
            "SELECT count(*) FROM pg_class WHERE relnamespace = 'warden'::regnamespace"
        ).fetchone()
        == tables_before
    )


def test_events_record_who_reported_them(db, login_as):
    """Check that db_role names the login that reported, not pgwarden's owner."""
    conn = login_as(APP_LOGIN)
    conn.execute("SELECT warden.log_event('logout', user_id => 'u3')")
    assert db.execute(
        "SELECT db_role FROM warden.security_audit_log WHERE user_id = 'u3'"
    ).fetchone() == (APP_LOGIN,)


def test_reporter_cannot_forge_the_session_id(db, login_as):
    """Check that the stored session id is the reporter's real session."""
    conn = login_as(APP_LOGIN)
    pid = conn.info.backend_pid
    conn.execute(
        "SELECT set_config('warden.session_id', %s, false)", (f"deadbeef.{pid:x}",)
    )
    conn.execute("SELECT warden.log_event('logout', user_id => 'u4')")
    real = db.execute(
        "SELECT format('%%s.%%s', to_hex(trunc(extract(epoch FROM backend_start))"
        "::bigint), to_hex(pid)) FROM pg_stat_activity WHERE pid = %s",
        (pid,),
    ).fetchone()[0]
    assert db.execute(
        "SELECT session_id FROM warden.security_audit_log WHERE user_id = 'u4'"
    ).fetchone() == (real,)


def test_reporter_cannot_pass_as_pgwarden(db, login_as):
    """Check that events an application reports never carry source pgwarden."""
    conn = login_as(APP_LOGIN)
    for kind in ("security_alert", "account_unlocked", "audit_tamper_attempt"):
        conn.execute("SELECT warden.log_event(%s, user_id => 'u5')", (kind,))
    assert db.execute(
        "SELECT array_agg(DISTINCT source) FROM warden.security_audit_log "
        "WHERE user_id = 'u5'"
    ).fetchone() == (["application"],)
