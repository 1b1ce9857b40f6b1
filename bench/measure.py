"""Timing helpers and the figures the benchmark reports."""

from __future__ import annotations

import functools
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import psycopg


@dataclass
class Figure:
    """One line of the result table.

    ``pgwarden`` and ``baseline`` are the measured values in ``unit``;
    ``ratio`` is what the target is judged on (see ``target``). A figure
    that could not be measured keeps ``None`` values and says why in
    ``note``; nothing is ever estimated in its place.
    """

    name: str
    target: str
    unit: str
    pgwarden: float | None = None
    baseline: float | None = None
    ratio: float | None = None
    met: bool | None = None
    note: str = ""
    detail: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The figure as JSON."""
        return asdict(self)

    def fail(self, why: str) -> Figure:
        """Mark the figure as not measured, keeping any earlier note."""
        self.note = f"{self.note}; {why}" if self.note else why
        return self


def median(values: list[float]) -> float:
    """The median of a non-empty list."""
    return float(statistics.median(values))


def timed(func: Callable[[], object]) -> float:
    """Seconds taken by ``func()``."""
    start = time.perf_counter()
    func()
    return time.perf_counter() - start


def run_query(conn: psycopg.Connection, query: str, params: Any = None) -> float:
    """Seconds taken by one query, all rows fetched."""

    def _run() -> None:
        cur = conn.execute(query, params, prepare=False)
        if cur.description is not None:
            cur.fetchall()

    return timed(_run)


def describe_error(exc: psycopg.Error) -> str:
    """One line naming a database error and its SQLSTATE."""
    diag = exc.diag
    text = (diag.message_primary or str(exc)).strip()
    return f"{diag.sqlstate or type(exc).__name__}: {text}"


def interleaved(
    pairs: int,
    first: Callable[[int], None],
    second: Callable[[int], None],
) -> tuple[list[float], list[float]]:
    """Time two actions alternately, swapping their order every round."""
    a: list[float] = []
    b: list[float] = []
    for i in range(pairs):
        run_a = functools.partial(first, i)
        run_b = functools.partial(second, i)
        if i % 2 == 0:
            a.append(timed(run_a))
            b.append(timed(run_b))
        else:
            b.append(timed(run_b))
            a.append(timed(run_a))
    return a, b
