"""Check an installed pgwarden schema against the Citus design of docs/scaling.md.

    python bench/citus_check.py [--dsn DSN] [--json PATH]

No Citus is needed: the check reads the PostgreSQL catalog of a database
where pgwarden is installed (a throwaway one on an embedded server by
default) and lists, table by table, what would stop ``create_distributed_
table`` or ``create_reference_table`` under the plan below, and what must
be verified on a real Citus cluster. The rules it applies are Citus's
documented restrictions:

- a distributed table's primary key and unique constraints must contain
  its distribution column, and rows with NULL in that column are refused;
- a foreign key from a reference table to a distributed table, or between
  distributed tables not on the distribution column, is refused;
- exclusion constraints must contain the distribution column;
- triggers on distributed tables run on the shards, and only with
  ``citus.enable_unsafe_triggers``;
- identity and serial ids stay unique but are no longer ordered across
  nodes, and a partitioned table's DEFAULT partition is to be verified.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import throwaway_database

#: The plan: distributed tables and their distribution column, reference
#: tables, and tables that stay on the coordinator (or on each node).
#: shard_key is the user id for everything about a user (so these are
#: co-located by user_id), the attempted user name for failed logins of
#: unknown users, and 'ip:' plus the network for events and alerts about
#: an address alone.
DISTRIBUTED = {
    "security_audit_log": "shard_key",
    "address_events": "shard_key",
    "alerts": "shard_key",
    "incidents": "shard_key",
    "incident_timeline": "shard_key",
    "account_locks": "user_id",
    "session_revocations": "user_id",
}
REFERENCE = (
    "event_types",
    "detection_rules",
    "settings",
    "ip_blocks",
    "table_sensitivity",
    "app_roles",
    "app_role_permissions",
    "app_user_roles",
    "high_value_customers",
    "watched_tables",
    "user_db_roles",
    "message_templates",
    "dashboard_profiles",
    "incident_transitions",
)
LOCAL = (
    "detection_state",
    "audit_log_seals",
    "audit_log_seal_marks",
    "notification_outbox",
    "installed_roles",
)

UNIQUE_INDEXES = """
SELECT i.indexrelid::regclass::text,
    array_agg(a.attname ORDER BY a.attname) FILTER (WHERE a.attname IS NOT NULL),
    i.indisprimary,
    i.indexprs IS NOT NULL
FROM pg_index AS i
LEFT JOIN pg_attribute AS a
    ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
WHERE i.indrelid = %s::regclass AND i.indisunique
GROUP BY i.indexrelid, i.indisprimary, i.indexprs
"""

FOREIGN_KEYS = """
SELECT c.conname, c.conrelid::regclass::text, c.confrelid::regclass::text,
    ARRAY(SELECT a.attname FROM pg_attribute AS a
        WHERE a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)),
    ARRAY(SELECT a.attname FROM pg_attribute AS a
        WHERE a.attrelid = c.confrelid AND a.attnum = ANY (c.confkey))
FROM pg_constraint AS c
WHERE c.contype = 'f'
    AND (c.conrelid = %(t)s::regclass OR c.confrelid = %(t)s::regclass)
"""

TRIGGERS = """
SELECT t.tgname,
    CASE WHEN t.tgtype & 1 = 1 THEN 'row' ELSE 'statement' END,
    t.tgnewtable IS NOT NULL OR t.tgoldtable IS NOT NULL
FROM pg_trigger AS t
WHERE t.tgrelid = %s::regclass AND NOT t.tgisinternal
ORDER BY t.tgname
"""


def _name(table: str) -> str:
    return f"warden.{table}"


def _exists(conn: psycopg.Connection, table: str) -> bool:
    row = conn.execute("SELECT to_regclass(%s)", (_name(table),)).fetchone()
    return row is not None and row[0] is not None


def check_distributed(
    conn: psycopg.Connection, table: str, key: str
) -> list[dict[str, str]]:
    """What stands between a table and create_distributed_table(table, key)."""
    found: list[dict[str, str]] = []
    name = _name(table)

    def add(level: str, what: str) -> None:
        found.append({"table": table, "level": level, "what": what})

    column = conn.execute(
        "SELECT attnotnull FROM pg_attribute WHERE attrelid = %s::regclass "
        "AND attname = %s AND NOT attisdropped",
        (name, key),
    ).fetchone()
    if column is None:
        add("blocks", f"no column {key} to distribute by")
    elif not column[0]:
        add(
            "blocks",
            f"{key} may be NULL; Citus refuses rows with a NULL distribution "
            "column (anonymous events need a NOT NULL subject key)",
        )
    for index, columns, primary, expression in conn.execute(
        UNIQUE_INDEXES, (name,)
    ).fetchall():
        kind = "primary key" if primary else "unique index"
        if key not in (columns or []) or expression:
            add("blocks", f"{kind} {index} ({', '.join(columns or [])}) lacks {key}")
    for con, src, dst, src_cols, dst_cols in conn.execute(
        FOREIGN_KEYS, {"t": name}
    ).fetchall():
        other = (dst if src == name else src).removeprefix("warden.")
        if src == name and other in REFERENCE:
            continue
        if other in DISTRIBUTED and key in src_cols and key in dst_cols:
            continue
        add("blocks", f"foreign key {con}: {src} -> {dst} is not on {key}")
    for trigger, level, transition in conn.execute(TRIGGERS, (name,)).fetchall():
        detail = " with transition tables" if transition else ""
        add(
            "verify",
            f"{level} trigger {trigger}{detail}: runs per shard, needs "
            "citus.enable_unsafe_triggers",
        )
    identity = conn.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass "
        "AND attidentity <> ''",
        (name,),
    ).fetchall()
    for (col,) in identity:
        add(
            "verify",
            f"identity column {col}: unique, but no longer in insertion "
            "order across nodes",
        )
    default = conn.execute(
        "SELECT count(*) FROM pg_partitioned_table WHERE partrelid = "
        "%s::regclass AND partdefid <> 0",
        (name,),
    ).fetchone()[0]
    if default:
        add("verify", "has a DEFAULT partition")
    return found


def check_reference(conn: psycopg.Connection, table: str) -> list[dict[str, str]]:
    """What stands between a table and create_reference_table(table)."""
    found = []
    name = _name(table)
    for con, src, dst, _, _ in conn.execute(FOREIGN_KEYS, {"t": name}).fetchall():
        if src == name and dst.removeprefix("warden.") in DISTRIBUTED:
            found.append(
                {
                    "table": table,
                    "level": "blocks",
                    "what": f"foreign key {con} from a reference table to the "
                    f"distributed {dst}",
                }
            )
    return found


def check(conn: psycopg.Connection) -> dict[str, Any]:
    """Every finding, and the tables the plan does not place."""
    findings: list[dict[str, str]] = []
    for table, key in DISTRIBUTED.items():
        if _exists(conn, table):
            findings.extend(check_distributed(conn, table, key))
        else:
            findings.append(
                {"table": table, "level": "missing", "what": "not installed"}
            )
    for table in REFERENCE:
        if _exists(conn, table):
            findings.extend(check_reference(conn, table))
    placed = set(DISTRIBUTED) | set(REFERENCE) | set(LOCAL)
    unplaced = [
        r[0]
        for r in conn.execute(
            "SELECT c.relname FROM pg_class AS c "
            "WHERE c.relnamespace = 'warden'::regnamespace "
            "AND c.relkind IN ('r', 'p') AND NOT c.relispartition "
            "AND c.relname NOT LIKE '%yoyo%' ORDER BY 1"
        ).fetchall()
        if r[0] not in placed
    ]
    return {"findings": findings, "unplaced_tables": unplaced}


def markdown(result: dict[str, Any]) -> str:
    """The findings as a Markdown table."""
    lines = ["| table | level | what |", "|---|---|---|"]
    for f in result["findings"]:
        lines.append(f"| `{f['table']}` | {f['level']} | {f['what']} |")
    if result["unplaced_tables"]:
        lines.append("")
        lines.append(
            "Tables the plan does not place yet: "
            + ", ".join(f"`{t}`" for t in result["unplaced_tables"])
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Install pgwarden in a throwaway database and check it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", help="server for the throwaway database")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    from pgwarden import install

    with throwaway_database(args.dsn, keep=False) as dsn:
        install.apply(dsn)
        with psycopg.connect(dsn, autocommit=True) as conn:
            result = check(conn)
    print(markdown(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
