"""Every ``rcaflows …`` command the README and docs/ show exists: its ``--help`` runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rcaflows.cli import app

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# `rcaflows` followed by its subcommand words (lower-case names; options and arguments stop it)
COMMAND = re.compile(r"(?<![\w/.-])rcaflows((?:\s+[a-z][a-z-]*)+)")


def documented_commands() -> list[tuple[str, ...]]:
    """Return the distinct subcommand paths written after ``rcaflows`` in code spans and blocks."""
    found: set[tuple[str, ...]] = set()
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        code = re.findall(r"```.*?```", text, flags=re.S) + re.findall(r"`[^`\n]+`", text)
        for chunk in code:
            chunk = re.sub(r"#.*", "", chunk)  # shell comments are prose
            for m in COMMAND.finditer(chunk):
                words = tuple(m.group(1).split())
                if words:
                    found.add(words)
    return sorted(found)


def resolve(words: tuple[str, ...]) -> tuple[str, ...]:
    """Return the longest prefix of ``words`` that names a command or group (the rest are arguments)."""
    runner = CliRunner()
    best: tuple[str, ...] = ()
    for k in range(1, len(words) + 1):
        if runner.invoke(app, [*words[:k], "--help"]).exit_code == 0:
            best = words[:k]
        else:
            break
    return best


def test_the_pages_document_commands() -> None:
    assert len(documented_commands()) >= 8


@pytest.mark.parametrize("words", documented_commands(), ids=" ".join)
def test_documented_command_has_help(words: tuple[str, ...]) -> None:
    path = resolve(words)
    assert path, f"`rcaflows {' '.join(words)}` is documented but `rcaflows {words[0]} --help` fails"
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output
