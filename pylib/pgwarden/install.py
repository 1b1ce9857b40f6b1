"""Installing, upgrading and removing the ``warden`` schema.

Tables and seed rows come from the yoyo migrations in ``migrations/``.
Functions, views, triggers and grants live in ``sql/``, one object per
file, and are (re)loaded after every apply by the migrations' post-apply
step, so an upgrade that only changes a function needs no new migration.
yoyo keeps its bookkeeping tables in the ``warden`` schema too: nothing is
created in any other schema of the host database.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import psycopg
from psycopg import sql
from yoyo import get_backend, read_migrations

from pgwarden.db import connect, describe
from pgwarden.errors import InstallError, from_database

log = logging.getLogger(__name__)

SCHEMA = "warden"
PACKAGE_ROLES = ("warden_admin", "warden_analyst", "warden_app")
YOYO_TABLES = ("_yoyo_migration", "_yoyo_log", "_yoyo_version", "yoyo_lock")
#: Subfolders of ``sql/`` loaded after the migrations, in this order.
TREE_ORDER = ("functions", "views", "triggers", "grants")
#: Serialises installers of one database (first half of a two-key lock).
LOCK_KEY = 0x70677764


def _resource_dir(name: str) -> Path:
    """Return ``sql`` or ``migrations``: from the wheel, else the checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / name, here.parent.parent / name):
        if candidate.is_dir():
            return candidate
    raise InstallError(
        f"pgwarden's {name}/ folder is missing",
        hint="reinstall pgwarden; the wheel carries sql/ and migrations/",
    )


def sql_dir() -> Path:
    """The folder of the ``sql/`` tree."""
    return _resource_dir("sql")


def migrations_dir() -> Path:
    """The folder of the yoyo migrations."""
    return _resource_dir("migrations")


def tree_files() -> list[Path]:
    """The files of the ``sql/`` tree in load order."""
    root = sql_dir()
    files: list[Path] = []
    for sub in TREE_ORDER:
        files.extend(sorted((root / sub).glob("*.sql")))
    files.append(root / "after_load.sql")
    return files


def schema_files() -> list[Path]:
    """The files that build the tables without migrations, in order."""
    return sorted((sql_dir() / "schema").glob("*.sql"))


def run_file(conn: psycopg.Connection, path: Path) -> None:
    """Execute one SQL file as a single multi-statement query."""
    text = path.read_text(encoding="utf-8")
    log.debug("loading %s", path.name)
    try:
        conn.execute(text.encode("utf-8"))
    except psycopg.Error as exc:
        err = from_database(exc)
        raise InstallError(
            f"{path.parent.name}/{path.name}: {err.message}",
            sqlstate=err.sqlstate,
            detail=err.detail,
            hint=err.hint,
        ) from exc


def load_tree(conn: psycopg.Connection) -> None:
    """(Re)load functions, views, triggers and grants of the ``sql/`` tree."""
    for path in tree_files():
        run_file(conn, path)


def build_from_tree(conn: psycopg.Connection) -> None:
    """Build the whole schema from ``sql/`` alone, without migrations.

    Used by the drift test, which compares the result with a database
    built by the migrations.
    """
    with conn.transaction():
        for path in schema_files():
            run_file(conn, path)
        load_tree(conn)


def yoyo_uri(dsn: str) -> str:
    """Turn a libpq connection string into a yoyo URI using psycopg 3."""
    params = psycopg.conninfo.conninfo_to_dict(dsn)
    params = {k: str(v) for k, v in params.items() if v is not None}
    dbname = params.pop("dbname", "")
    params["schema"] = SCHEMA
    params.setdefault("application_name", "pgwarden migrate")
    return f"postgresql+psycopg:///{dbname}?{urlencode(params)}"


@dataclass
class MigrationStatus:
    """One migration and whether it is applied."""

    id: str
    applied: bool


def _prepare(conn: psycopg.Connection) -> None:
    """Create the schema yoyo keeps its tables in, once."""
    try:
        conn.execute(
            sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(SCHEMA))
        )
    except psycopg.errors.InsufficientPrivilege as exc:
        raise InstallError(
            "the installing role may not create the schema warden",
            sqlstate=exc.diag.sqlstate,
            hint="install as the database owner, or GRANT CREATE ON "
            "DATABASE to the installing role",
        ) from exc
    except psycopg.errors.UniqueViolation:
        # Another installer created it at the same moment.
        pass


def _installer_lock(conn: psycopg.Connection) -> None:
    """Wait for other installers of this database (session-level lock)."""
    conn.execute(
        "SELECT pg_advisory_lock(%s, hashtext(current_database()))",
        (LOCK_KEY,),
    )


def _notices(conn: psycopg.Connection) -> None:
    """Show server warnings (for example about missing roles) to the user."""

    def show(diag: psycopg.errors.Diagnostic) -> None:
        if diag.severity_nonlocalized in ("WARNING",):
            hint = f" (hint: {diag.message_hint})" if diag.message_hint else ""
            log.warning("%s%s", diag.message_primary, hint)

    conn.add_notice_handler(show)


def apply(dsn: str) -> list[str]:
    """Apply pending migrations and reload the ``sql/`` tree.

    Returns the ids of the migrations applied. Safe to run again and from
    two installers at once: the second waits for the first.
    """
    migrations = read_migrations(str(migrations_dir()))
    with connect(dsn) as conn:
        _notices(conn)
        _installer_lock(conn)
        _prepare(conn)
        backend = get_backend(yoyo_uri(dsn))
        try:
            with backend.lock():
                pending = backend.to_apply(migrations)
                ids = [m.id for m in pending]
                try:
                    backend.apply_migrations_only(pending)
                    # The tree is reloaded on every apply, so an upgrade
                    # that only changes functions needs no new migration.
                    backend.run_post_apply(migrations)
                except psycopg.Error as exc:
                    err = from_database(exc)
                    raise InstallError(
                        err.message,
                        sqlstate=err.sqlstate,
                        detail=err.detail,
                        hint=err.hint,
                    ) from exc
        finally:
            backend.connection.close()
        _report_missing_roles(conn)
    log.info(
        "pgwarden installed in %s (%d migrations applied)", describe(dsn), len(ids)
    )
    return ids


def _report_missing_roles(conn: psycopg.Connection) -> None:
    """Name the package roles that do not exist, and how to create them."""
    rows = conn.execute(
        "SELECT r FROM unnest(%s::text[]) AS r "
        "WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r)",
        (list(PACKAGE_ROLES),),
    ).fetchall()
    for (role,) in rows:
        log.warning(
            "role %s does not exist and the installer may not create it; "
            "pgwarden is installed without it (hint: ask an administrator to "
            "run CREATE ROLE %s NOLOGIN, then run pgwarden migrate again)",
            role,
            role,
        )


def rollback(
    dsn: str, *, steps: int | None = None, discard_data: bool = False
) -> list[str]:
    """Roll back the last ``steps`` migrations, or all of them.

    Rolling back all of them removes everything pgwarden created: the
    schema, the roles it created (where no other database still uses
    them) and the triggers it added to watched tables.

    A rollback of some migrations refuses (SQLSTATE 55000) to drop tables
    that hold rows users stored (alerts, the access model, locks, blocks,
    seals, incidents, messages) unless ``discard_data`` is true: applying
    the migration again would start them empty. Removing pgwarden entirely
    (no ``steps``) discards them without asking.
    """
    migrations = read_migrations(str(migrations_dir()))
    with connect(dsn) as conn:
        _notices(conn)
        _installer_lock(conn)
        exists = conn.execute(
            "SELECT to_regnamespace(%s) IS NOT NULL", (SCHEMA,)
        ).fetchone()[0]
        if not exists:
            log.info("pgwarden is not installed in %s", describe(dsn))
            return []
        uri = yoyo_uri(dsn)
        if discard_data or steps is None:
            uri = yoyo_uri(_with_option(dsn, "pgwarden.discard_data=on"))
        backend = get_backend(uri)
        _notices(backend.connection)
        try:
            with backend.lock():
                applied = backend.to_rollback(migrations)
                if steps is not None:
                    applied = applied[:steps]
                ids = [m.id for m in applied]
                if not (discard_data or steps is None):
                    _rehearse_rollback(conn, ids)
                backend.rollback_migrations(applied)
                remaining = backend.to_rollback(migrations)
        finally:
            backend.connection.close()
        if steps is None or not remaining:
            _drop_schema(conn)
    log.info("rolled back %d migrations in %s", len(ids), describe(dsn))
    return ids


def _rehearse_rollback(conn: psycopg.Connection, ids: list[str]) -> None:
    """Run the rollback scripts of ``ids`` in one transaction, then undo it.

    yoyo rolls migrations back one transaction each, so a script that
    refuses (a guard against dropping stored rows) would otherwise leave
    the migrations after it rolled back and itself applied. DDL is
    transactional: the rehearsal meets every refusal before anything
    changes.
    """
    folder = migrations_dir()
    with conn.transaction(force_rollback=True):
        for mid in ids:
            script = folder / f"{mid}.rollback.sql"
            if script.is_file():
                conn.execute(script.read_text(encoding="utf-8"))


def _with_option(dsn: str, setting: str) -> str:
    """The DSN with ``-c setting`` added to the libpq ``options``."""
    params = psycopg.conninfo.conninfo_to_dict(dsn)
    params["options"] = f"{params.get('options') or ''} -c {setting}".strip()
    return psycopg.conninfo.make_conninfo(**params)


def _drop_schema(conn: psycopg.Connection) -> None:
    """Drop yoyo's bookkeeping and the then empty schema."""
    with conn.transaction():
        for table in YOYO_TABLES:
            conn.execute(
                sql.SQL("DROP TABLE IF EXISTS {}.{}").format(
                    sql.Identifier(SCHEMA), sql.Identifier(table)
                )
            )
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {}").format(sql.Identifier(SCHEMA)))


def status(dsn: str) -> list[MigrationStatus]:
    """List every migration and whether it is applied."""
    migrations = read_migrations(str(migrations_dir()))
    with connect(dsn) as conn:
        exists = conn.execute(
            "SELECT to_regnamespace(%s) IS NOT NULL", (SCHEMA,)
        ).fetchone()[0]
        if not exists:
            return [MigrationStatus(m.id, False) for m in migrations]
    backend = get_backend(yoyo_uri(dsn))
    try:
        applied = set(backend.get_applied_migration_hashes())
    finally:
        backend.connection.close()
    return [MigrationStatus(m.id, m.hash in applied) for m in migrations]
