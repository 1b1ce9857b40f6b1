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

With ``--pgwarden-scenarios`` (or ``pgwarden_scenarios = true`` in the
pytest configuration), ``*scenario*.yaml`` files are collected as tests,
one per scenario, each in a database of its own.

The server is the one given with ``--pgwarden-dsn`` or the environment
variable ``PGWARDEN_TEST_DSN`` (its role needs CREATEDB; databases named
``pgwarden_scenario_*`` are created and dropped there), else an embedded
PostgreSQL started for the session.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pgwarden import scenarios
from pgwarden.embedded import embedded_server

DSN_VARIABLE = "PGWARDEN_TEST_DSN"


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--pgwarden-dsn`` and the collection of scenario files."""
    group = parser.getgroup("pgwarden", "pgwarden rule tests")
    group.addoption(
        "--pgwarden-scenarios",
        dest="pgwarden_scenarios",
        action="store_true",
        default=None,
        help="Collect *scenario*.yaml files as tests, one per scenario.",
    )
    parser.addini(
        "pgwarden_scenarios",
        type="bool",
        default=False,
        help="Collect *scenario*.yaml files as tests, one per scenario.",
    )
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


_POOL = pytest.StashKey[tuple[contextlib.ExitStack, scenarios.ThrowawayDatabases]]()


def _pool(config: pytest.Config) -> scenarios.ThrowawayDatabases:
    """The session's databases: started on first use, closed at its end."""
    if _POOL not in config.stash:
        stack = contextlib.ExitStack()
        try:
            dsn = config.getoption("pgwarden_dsn") or os.environ.get(DSN_VARIABLE)
            if not dsn:
                dsn = stack.enter_context(embedded_server())
            pool = stack.enter_context(scenarios.ThrowawayDatabases(dsn))
        except BaseException:
            stack.close()
            raise
        config.stash[_POOL] = (stack, pool)
    return config.stash[_POOL][1]


def pytest_unconfigure(config: pytest.Config) -> None:
    """Drop the template and stop the embedded server, if started."""
    entry = config.stash.get(_POOL, None)
    if entry is not None:
        del config.stash[_POOL]
        entry[0].close()


@pytest.fixture(scope="session")
def pgwarden_server(request: pytest.FixtureRequest) -> scenarios.ThrowawayDatabases:
    """The server of the session's pgwarden databases, template installed."""
    return _pool(request.config)


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


def pytest_collect_file(
    file_path: Path, parent: pytest.Collector
) -> pytest.Collector | None:
    """Collect scenario files when asked to (``--pgwarden-scenarios``)."""
    config = parent.config
    wanted = config.getoption("pgwarden_scenarios") or config.getini(
        "pgwarden_scenarios"
    )
    if wanted and scenarios.is_scenario_file(file_path):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


class ScenarioFile(pytest.File):
    """A scenario file: one test per scenario."""

    def collect(self) -> Iterator[ScenarioItem]:
        """Yield one item per scenario; a malformed file fails collection."""
        try:
            found = scenarios.load_file(self.path)
        except scenarios.ScenarioError as exc:
            raise self.CollectError(exc.one_line()) from exc
        for scenario in found:
            yield ScenarioItem.from_parent(self, name=scenario.name, scenario=scenario)


class ScenarioFailed(Exception):
    """A scenario did not pass; the message is its report."""


class ScenarioItem(pytest.Item):
    """One scenario, run in a database of its own."""

    def __init__(self, *, scenario: scenarios.Scenario, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.scenario = scenario

    def runtest(self) -> None:
        """Run the scenario; raise with its report unless it passes."""
        result = _pool(self.config).run(self.scenario)
        if not result.passed:
            raise ScenarioFailed(result.report())

    def repr_failure(
        self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None
    ) -> Any:
        """Show the scenario's report instead of a traceback."""
        if isinstance(excinfo.value, ScenarioFailed):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int, str]:
        """Where the scenario is written."""
        return self.path, self.scenario.line - 1, f"scenario: {self.name}"
