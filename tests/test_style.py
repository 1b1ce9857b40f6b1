"""House style that the linters do not check: width inside SQL bodies."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SQL_FILES = sorted(
    p for folder in ("sql", "migrations") for p in (ROOT / folder).rglob("*.sql")
)


@pytest.mark.parametrize("path", SQL_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_sql_lines_fit_80_columns(path):
    """Check that every SQL line, function bodies included, fits 80 columns."""
    wide = [
        n for n, line in enumerate(path.read_text().splitlines(), 1) if len(line) > 80
    ]
    assert wide == []


@pytest.mark.parametrize("path", SQL_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_sql_files_have_no_tabs(path):
    """Check that SQL files indent with spaces only."""
    assert "\t" not in path.read_text()
