"""User-supplied text is printed as text, never as Rich markup (issue 13, item 2)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import open_incident
from rich.console import Console
from typer.testing import CliRunner

from rcaflows import cli
from rcaflows.cli import app
from rcaflows.config import demo_config_path

runner = CliRunner()


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli._common, "console", Console(width=400, soft_wrap=True))
    monkeypatch.setattr(cli._common, "err", Console(width=400, soft_wrap=True, stderr=True))


@pytest.fixture
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)
    return f"sqlite:///{tmp_path / 'i.db'}"


def _ok(*args: str) -> str:
    res = runner.invoke(app, list(args))
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert res.exit_code == 0, res.output
    return res.output


def test_names_notes_and_titles_with_markup_are_printed_verbatim(url: str) -> None:
    key = open_incident(url, component="scoring[/]api", title="[red]dep[/red] latency [bold]up")
    _ok("incidents", "note", key, "see [/] here", "--as", "user:[/]mallory", "--store", url)
    shown = _ok("incidents", "show", key, "--store", url)
    assert "see [/] here" in shown and "[red]dep[/red] latency [bold]up" in shown and "user:[/]mallory" in shown
    listed = _ok("incidents", "list", "--store", url)
    assert "scoring[/]api" in listed and "[red]dep[/red]" in listed
    routed = _ok("route", "--explain", key, "--config", str(demo_config_path()), "--store", url)
    assert "scoring[/]api" in routed
    _ok("incidents", "escalations", key, "--store", url)


def test_silence_matchers_and_reasons_with_markup_list_verbatim(url: str) -> None:
    _ok("silence", "add", "--component", "[/]", "--for", "1h", "-r", "[red]deploy[/]", "--store", url)
    listed = _ok("silence", "list", "--store", url)
    assert "component=[/]" in listed and "[red]deploy[/]" in listed
    assert "[/]" in _ok("silence", "list", "--json", "--store", url)


def test_errors_quoting_user_input_are_printed_verbatim(url: str) -> None:
    res = runner.invoke(app, ["incidents", "show", "[bold]INC[/]", "--store", url])
    assert res.exit_code == 2 and "'[bold]INC[/]' is not an incident reference" in res.output


def test_config_problems_naming_markup_are_printed_verbatim(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(
        "system: {name: s}\nsources: [{name: d, kind: demo}]\n"
        "components: [{name: 'a[/]', kind: service, depends_on: ['[red]b']}]\n"
        "teams: [{name: t}]\nrouting: {default_team: t}\n"
    )
    res = runner.invoke(app, ["validate", str(cfg)])
    assert res.exit_code == 1 and "unknown component '[red]b'" in res.output
