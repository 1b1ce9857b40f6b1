"""pytest plugin: fresh pgwarden databases and rule scenarios inside tests.

Fixtures:

``pgwarden_db``
    A fresh database with pgwarden installed, cloned from a template for
    every test and dropped afterwards. It has ``dsn``, an autocommit
    connection ``conn`` (superuser, or the role of the server DSN), and
    :meth:`PgwardenDatabase.run_scenario`.
``pgwarden_scenario``
    ``pgwarden_scenario(path_or_yaml, name=None)`` runs one scenario in
    ``pgwarden_db`` and fails the test with the expected-versus-found
    report unless it passes; it returns the
    :class:`~pgwarden.scenarios.ScenarioResult`, and the test may go on
    querying ``pgwarden_db.conn``.
``pgwarden_server``
    The session's :class:`~pgwarden.scenarios.ThrowawayDatabases`.

The server is the one given with ``--pgwarden-dsn`` or the environment
variable ``PGWARDEN_TEST_DSN`` (its role needs CREATEDB; databases named
``pgwarden_scenario_*`` are created and dropped there), else an embedded
PostgreSQL started for the session.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from pgwarden import scenarios
from pgwarden.embedded import embedded_server

DSN_VARIABLE = "PGWARDEN_TEST_DSN"


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--pgwarden-dsn``."""
    group = parser.getgroup("pgwarden", "pgwarden rule tests")
    group.addoption(
        "--pgwarden-dsn",
        dest="pgwarden_dsn",
        default=None,
        help="Server for pgwarden test databases (a role with CREATEDB); "
        f"default: ${DSN_VARIABLE}, else an embedded PostgreSQL.",
    )


class PgwardenDatabase:
    """A fresh database with pgwarden installed, for one test."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._conn: psycopg.Connection | None = None

    @property
    def conn(self) -> psycopg.Connection:
        """An autocommit connection to the database, opened on first use."""
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(
                self.dsn, autocommit=True, application_name="pgwarden tests"
            )
        return self._conn

    def run_scenario(
        self, source: str | Path | scenarios.Scenario, *, name: str | None = None
    ) -> scenarios.ScenarioResult:
        """Run one scenario here and return its result, passed or not.

        ``source`` is a scenario, a path to a scenario file, or YAML text.
        A file with several scenarios needs ``name``: each scenario wants a
        database of its own.
        """
        return scenarios.run_scenario(self.conn, _pick(source, name))

    def close(self) -> None:
        """Close the connection, if open."""
        if self._conn is not None:
            self._conn.close()


def _pick(
    source: str | Path | scenarios.Scenario, name: str | None
) -> scenarios.Scenario:
    if isinstance(source, scenarios.Scenario):
        return source
    if isinstance(source, Path) or "\n" not in str(source):
        found = scenarios.load_file(source)
    else:
        found = scenarios.loads(str(source), "<inline scenario>")
    if name is not None:
        for scenario in found:
            if scenario.name == name:
                return scenario
        raise LookupError(
            f"no scenario named {name!r}; there are: "
            + ", ".join(s.name for s in found)
        )
    if len(found) > 1:
        raise LookupError(
            f"{len(found)} scenarios in one file; pick one with name=, "
            "or parametrize over pgwarden.scenarios.load_file(path)"
        )
    return found[0]


@pytest.fixture(scope="session")
def pgwarden_server(
    request: pytest.FixtureRequest,
) -> Iterator[scenarios.ThrowawayDatabases]:
    """The server of the session's pgwarden databases, template installed."""
    dsn = request.config.getoption("pgwarden_dsn") or os.environ.get(DSN_VARIABLE)
    if dsn:
        with scenarios.ThrowawayDatabases(dsn) as pool:
            yield pool
        return
    with embedded_server() as uri, scenarios.ThrowawayDatabases(uri) as pool:
        yield pool


@pytest.fixture
def pgwarden_db(
    pgwarden_server: scenarios.ThrowawayDatabases,
) -> Iterator[PgwardenDatabase]:
    """A fresh database with pgwarden installed, dropped after the test."""
    with pgwarden_server.database() as dsn:
        database = PgwardenDatabase(dsn)
        try:
            yield database
        finally:
            database.close()


@pytest.fixture
def pgwarden_scenario(
    pgwarden_db: PgwardenDatabase,
) -> Callable[..., scenarios.ScenarioResult]:
    """Run a scenario in ``pgwarden_db``; fail the test unless it passes."""

    def run(
        source: str | Path | scenarios.Scenario, *, name: str | None = None
    ) -> scenarios.ScenarioResult:
        result = pgwarden_db.run_scenario(source, name=name)
        if not result.passed:
            pytest.fail(result.report(), pytrace=False)
        return result

    return run
