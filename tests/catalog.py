"""Catalog snapshots: what a database holds, for before/after comparisons."""

from __future__ import annotations

import psycopg
from psycopg import sql

_SYSTEM = sql.SQL("('pg_catalog', 'information_schema', 'pg_toast')")

QUERIES = {
    "schemas": """
        SELECT n.nspname, pg_get_userbyid(n.nspowner) = current_user,
               n.nspacl::text, obj_description(n.oid, 'pg_namespace')
        FROM pg_namespace AS n
        WHERE n.nspname NOT IN {system} AND n.nspname NOT LIKE 'pg_temp%'
          AND n.nspname NOT LIKE 'pg_toast_temp%'
    """,
    "relations": """
        SELECT n.nspname, c.relname, c.relkind, c.relacl::text,
               obj_description(c.oid, 'pg_class'), c.relrowsecurity
        FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
        WHERE n.nspname NOT IN {system}
          AND c.relname NOT LIKE '%yoyo%'
    """,
    "columns": """
        SELECT n.nspname, c.relname, a.attname, format_type(a.atttypid,
               a.atttypmod), a.attnotnull, a.attidentity,
               pg_get_expr(d.adbin, d.adrelid), a.attacl::text,
               col_description(c.oid, a.attnum)
        FROM pg_attribute AS a
        JOIN pg_class AS c ON c.oid = a.attrelid
        JOIN pg_namespace AS n ON n.oid = c.relnamespace
        LEFT JOIN pg_attrdef AS d
            ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE n.nspname NOT IN {system} AND a.attnum > 0
          AND NOT a.attisdropped AND c.relname NOT LIKE '%yoyo%'
    """,
    "constraints": """
        SELECT n.nspname, c.relname, k.conname, pg_get_constraintdef(k.oid)
        FROM pg_constraint AS k
        JOIN pg_class AS c ON c.oid = k.conrelid
        JOIN pg_namespace AS n ON n.oid = c.relnamespace
        WHERE n.nspname NOT IN {system} AND c.relname NOT LIKE '%yoyo%'
    """,
    "indexes": """
        SELECT schemaname, tablename, indexname, indexdef
        FROM pg_indexes
        WHERE schemaname NOT IN {system} AND tablename NOT LIKE '%yoyo%'
    """,
    "functions": """
        SELECT n.nspname, p.oid::regprocedure::text,
               pg_get_function_result(p.oid), md5(p.prosrc), p.prosecdef,
               p.provolatile, p.proconfig::text, p.proacl::text,
               obj_description(p.oid, 'pg_proc')
        FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace
        WHERE n.nspname NOT IN {system}
    """,
    "views": """
        SELECT schemaname, viewname, md5(definition)
        FROM pg_views WHERE schemaname NOT IN {system}
    """,
    "triggers": """
        SELECT n.nspname, c.relname, t.tgname, pg_get_triggerdef(t.oid),
               t.tgenabled, obj_description(t.oid, 'pg_trigger')
        FROM pg_trigger AS t
        JOIN pg_class AS c ON c.oid = t.tgrelid
        JOIN pg_namespace AS n ON n.oid = c.relnamespace
        WHERE NOT t.tgisinternal AND n.nspname NOT IN {system}
    """,
    "policies": """
        SELECT schemaname, tablename, policyname, qual, with_check
        FROM pg_policies WHERE schemaname NOT IN {system}
    """,
    "types": """
        SELECT n.nspname, t.typname, t.typtype
        FROM pg_type AS t JOIN pg_namespace AS n ON n.oid = t.typnamespace
        WHERE n.nspname NOT IN {system} AND t.typrelid = 0
          AND t.typelem = 0
    """,
    "default_privileges": """
        SELECT defaclrole::regrole::text, defaclobjtype, defaclacl::text
        FROM pg_default_acl
    """,
    "extensions": "SELECT extname, extversion FROM pg_extension",
}


def snapshot(dsn: str) -> dict[str, list[tuple]]:
    """Return the catalog of one database, each part sorted."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        return {
            name: sorted(
                conn.execute(sql.SQL(query).format(system=_SYSTEM)).fetchall(),
                key=repr,
            )
            for name, query in QUERIES.items()
        }


def differences(left: dict, right: dict) -> dict[str, dict[str, list]]:
    """Return, per part, the rows only on the left and only on the right."""
    out = {}
    for name in QUERIES:
        a, b = set(left[name]), set(right[name])
        if a != b:
            out[name] = {
                "only_left": sorted(a - b, key=repr),
                "only_right": sorted(b - a, key=repr),
            }
    return out
