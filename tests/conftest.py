"""Test harness: a real PostgreSQL with pgwarden installed in a template.

By default the embedded PostgreSQL 16 of the ``pgserver`` package is started
in a temporary folder (it works as root too). Give another server with the
libpq variables (``PGHOST``, ``PGPORT``, ``PGUSER``, ``PGPASSWORD``) or
pytest-postgresql's ``--postgresql-host`` and friends. The migrations are
applied once into a template database, which pytest-postgresql clones for
every test.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo
from pytest_postgresql import factories

from pgwarden import install

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
_EMBEDDED: dict[str, object] = {}


def pytest_configure(config: pytest.Config) -> None:
    """Point pytest-postgresql at the server the tests use."""
    if config.getoption("postgresql_host", None) or os.environ.get("PGHOST"):
        opt = config.option
        opt.postgresql_host = opt.postgresql_host or os.environ["PGHOST"]
        opt.postgresql_port = opt.postgresql_port or os.environ.get("PGPORT", "5432")
        opt.postgresql_user = opt.postgresql_user or os.environ.get(
            "PGUSER", "postgres"
        )
        opt.postgresql_password = opt.postgresql_password or os.environ.get(
            "PGPASSWORD"
        )
        return
    if hasattr(config, "workerinput"):
        return
    import pgserver

    folder = tempfile.mkdtemp(prefix="pgwarden-test-")
    server = pgserver.get_server(folder, cleanup_mode="stop")
    _EMBEDDED.update(server=server, folder=folder)
    config.option.postgresql_host = str(server.pgdata)
    config.option.postgresql_port = "5432"
    config.option.postgresql_user = "postgres"


def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop the embedded server, if the tests started one."""
    server = _EMBEDDED.pop("server", None)
    if server is not None:
        server.cleanup()
        shutil.rmtree(str(_EMBEDDED.pop("folder")), ignore_errors=True)


def pytest_report_header(config: pytest.Config) -> str:
    """Say which PostgreSQL the tests run on."""
    where = "embedded (pgserver)" if _EMBEDDED else "given by the environment"
    return f"pgwarden tests: PostgreSQL {where} at {config.option.postgresql_host}"


def load_pgwarden(
    host: str,
    port: int,
    user: str,
    dbname: str,
    password: str | None = None,
    **_: object,
) -> None:
    """Install pgwarden into the template database."""
    install.apply(
        make_conninfo(host=host, port=port, user=user, dbname=dbname, password=password)
    )


postgresql_noproc = factories.postgresql_noproc(load=[load_pgwarden])
postgresql = factories.postgresql("postgresql_noproc")


@pytest.fixture
def db(postgresql: psycopg.Connection) -> psycopg.Connection:
    """A superuser connection, in autocommit, to a fresh pgwarden database."""
    postgresql.autocommit = True
    return postgresql


@pytest.fixture
def dsn(postgresql: psycopg.Connection, postgresql_noproc) -> str:
    """The connection string of the test's database, as superuser."""
    return make_conninfo(
        host=postgresql_noproc.host,
        port=postgresql_noproc.port,
        user=postgresql_noproc.user,
        password=postgresql_noproc.password,
        dbname=postgresql.info.dbname,
    )


@pytest.fixture
def connect_as(dsn: str) -> Iterator[Callable[[str], psycopg.Connection]]:
    """Open connections to the test's database acting as a given role.

    The connection runs ``SET ROLE``, so privileges are exactly those of the
    role; ``session_user`` stays the superuser that logged in.
    """
    opened: list[psycopg.Connection] = []

    def _connect(role: str) -> psycopg.Connection:
        conn = psycopg.connect(dsn, autocommit=True)
        conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))
        opened.append(conn)
        return conn

    yield _connect
    for conn in opened:
        with contextlib.suppress(psycopg.Error):
            conn.close()


@pytest.fixture
def server_dsn(postgresql_noproc) -> Callable[[str], str]:
    """Build a connection string to another database of the test server."""

    def _dsn(dbname: str, user: str | None = None) -> str:
        return make_conninfo(
            host=postgresql_noproc.host,
            port=postgresql_noproc.port,
            user=user or postgresql_noproc.user,
            password=postgresql_noproc.password,
            dbname=dbname,
        )

    return _dsn


@pytest.fixture
def shared_data() -> Path:
    """The folder of real log files beside the checkout; skip when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is absent (real log files are not shipped)")
    return SHARED_DATA


@pytest.fixture
def scratch_database(postgresql_noproc) -> Iterator[Callable[..., str]]:
    """Create empty databases (no pgwarden) and drop them after the test."""
    created: list[str] = []
    admin = make_conninfo(
        host=postgresql_noproc.host,
        port=postgresql_noproc.port,
        user=postgresql_noproc.user,
        password=postgresql_noproc.password,
        dbname="postgres",
    )

    def _create(name: str, *, owner: str | None = None) -> str:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(name)
                )
            )
            query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
            if owner:
                query = query + sql.SQL(" OWNER {}").format(sql.Identifier(owner))
            conn.execute(query)
        created.append(name)
        return name

    yield _create
    with psycopg.connect(admin, autocommit=True) as conn:
        for name in created:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(name)
                )
            )


# pytester runs a user's test file in a pytest of its own (the tests of the
# pgwarden pytest plugin need it).
pytest_plugins = ["pytester"]
