"""The objects the benchmark measures against, and the data model it sets up.

- ``bench.plain_log``: a plain table with the columns, defaults and indexes
  of ``warden.security_audit_log``, but no partitions and no triggers.
- Three copies of one customers table: ``public.customers_plain`` (no
  trigger), ``public.customers_watched`` (``warden.watch_table``) and
  ``public.customers_audited`` (a classic row-level audit trigger writing
  one row per changed row with the old and new row as jsonb, the approach
  of common trigger-based audit tools).
- The application roles, table sensitivities and high-value customers the
  generated events assume (see ``datagen``).
"""

from __future__ import annotations

import psycopg

import datagen

PLAIN_LOG = """
CREATE SCHEMA bench;
CREATE TABLE bench.plain_log (
    LIKE warden.security_audit_log
    INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING IDENTITY
    INCLUDING INDEXES
);
"""

ROW_AUDIT = """
CREATE TABLE bench.row_audit (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    table_name text NOT NULL,
    operation text NOT NULL,
    old_row jsonb,
    new_row jsonb,
    actor text NOT NULL DEFAULT current_user,
    changed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX row_audit_changed_at_idx ON bench.row_audit (changed_at);

CREATE FUNCTION bench.tg_row_audit()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    INSERT INTO bench.row_audit (table_name, operation, old_row, new_row)
    VALUES (
        TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME,
        TG_OP,
        CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END,
        CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END
    );
    RETURN NULL;
END
$$;
"""

CUSTOMERS = """
CREATE TABLE public.{name} (
    id bigint PRIMARY KEY,
    full_name text NOT NULL,
    email text NOT NULL,
    phone text,
    city text,
    balance numeric(12, 2) NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO public.{name} (id, full_name, email, phone, city, balance)
SELECT
    g,
    'Customer ' || g,
    'customer' || g || '@example.com',
    '+1-555-' || lpad((g % 10000)::text, 4, '0'),
    (ARRAY['Lyon', 'Porto', 'Oslo', 'Austin', 'Osaka'])[1 + g % 5],
    (g % 1000) * 1.5
FROM generate_series(1, %(rows)s) AS g;
"""

CUSTOMER_TABLES = ("customers_plain", "customers_watched", "customers_audited")


def create_plain_log(conn: psycopg.Connection) -> None:
    """The plain table the log is compared with."""
    conn.execute(PLAIN_LOG)


def create_customers(conn: psycopg.Connection, rows: int) -> str | None:
    """The three customers tables; returns a note when watching failed."""
    conn.execute(ROW_AUDIT)
    for name in CUSTOMER_TABLES:
        conn.execute(CUSTOMERS.format(name=name).replace("%(rows)s", str(int(rows))))
        conn.execute(f"VACUUM ANALYZE public.{name}")
    conn.execute(
        "CREATE TRIGGER customers_audited_row_audit "
        "AFTER INSERT OR UPDATE OR DELETE ON public.customers_audited "
        "FOR EACH ROW EXECUTE FUNCTION bench.tg_row_audit()"
    )
    if not function_exists(conn, "warden.watch_table(regclass,text)"):
        return "warden.watch_table is not installed"
    conn.execute(
        "SELECT warden.watch_table('public.customers_watched'::regclass, 'normal')"
    )
    return None


def function_exists(conn: psycopg.Connection, signature: str) -> bool:
    """Whether a function of that signature exists."""
    row = conn.execute(
        "SELECT to_regprocedure(%s) IS NOT NULL", (signature,)
    ).fetchone()
    return bool(row and row[0])


def table_exists(conn: psycopg.Connection, name: str) -> bool:
    """Whether a table of that name exists."""
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()
    return bool(row and row[0])


def data_model(conn: psycopg.Connection, user_roles: dict[str, str]) -> list[str]:
    """Roles, permissions, sensitivities and high-value customers.

    Returns notes for the parts whose tables are not installed.
    """
    notes = []
    if table_exists(conn, "warden.table_sensitivity"):
        for table, sensitivity in datagen.TABLES.items():
            conn.execute(
                "INSERT INTO warden.table_sensitivity (table_name, sensitivity) "
                "VALUES (%s, %s) ON CONFLICT (table_name) DO UPDATE "
                "SET sensitivity = EXCLUDED.sensitivity",
                (table, sensitivity),
            )
    else:
        notes.append("warden.table_sensitivity is not installed")
    if table_exists(conn, "warden.app_roles"):
        for role, (clearance, grants) in datagen.APP_ROLES.items():
            conn.execute(
                "INSERT INTO warden.app_roles (app_role, high_value_clearance) "
                "VALUES (%s, %s) ON CONFLICT DO NOTHING",
                (role, clearance),
            )
            for table, actions in grants.items():
                conn.execute(
                    "INSERT INTO warden.app_role_permissions "
                    "(app_role, table_name, actions) VALUES (%s, %s, %s) "
                    "ON CONFLICT DO NOTHING",
                    (role, table, actions),
                )
        add_user_roles(conn, user_roles)
        for customer in datagen.HIGH_VALUE_CUSTOMERS:
            conn.execute(
                "INSERT INTO warden.high_value_customers (customer_id) "
                "VALUES (%s) ON CONFLICT DO NOTHING",
                (customer,),
            )
    else:
        notes.append("warden.app_roles is not installed")
    return notes


def add_user_roles(conn: psycopg.Connection, user_roles: dict[str, str]) -> None:
    """Give users their application roles."""
    if not table_exists(conn, "warden.app_user_roles"):
        return
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO warden.app_user_roles (user_id, app_role) "
            "VALUES (%s, %s) ON CONFLICT DO NOTHING",
            list(user_roles.items()),
        )
