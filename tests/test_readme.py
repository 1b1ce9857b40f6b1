"""The README tells a newcomer about every public SQL object and command."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from pgwarden.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
PUBLIC_OBJECTS = sorted(
    p.stem
    for folder in ("functions", "views")
    for p in (ROOT / "sql" / folder).glob("*.sql")
    if not p.stem.startswith(("_", "tg_"))
)


@pytest.mark.parametrize("name", PUBLIC_OBJECTS)
def test_every_public_function_and_view_is_in_the_readme(name):
    """Check that the README names each public function and view."""
    assert f"warden.{name}" in README or f"`{name}`" in README


def test_every_command_is_in_the_readme():
    """Check that the README names each pgwarden command."""
    commands = sorted(main.list_commands(click_context()))
    assert commands
    missing = [c for c in commands if f"pgwarden {c}" not in README]
    assert missing == []


def click_context():
    """A click context of the pgwarden group, to list its commands."""
    return main.make_context("pgwarden", ["--help"], resilient_parsing=True)


def test_cli_help_lists_what_the_readme_promises():
    """Check that `pgwarden --help` runs and lists the commands."""
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for command in ("migrate", "demo", "ingest", "watch", "test-rules"):
        assert command in result.output
