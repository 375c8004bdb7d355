"""``rcaflows postmortem`` and ``rcaflows actions`` against a real store."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from rcaflows import cli
from rcaflows.incidents import Store

runner = CliRunner()


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli._common, "console", Console(width=220, soft_wrap=True))


def test_postmortem_and_actions_commands(store: Store, make_incident: Callable[..., str], tmp_path: Path) -> None:
    key = make_incident()
    url = str(store.url.render_as_string(hide_password=False))
    out = tmp_path / "drafts"
    res = runner.invoke(cli.app, ["postmortem", key, "--store", url, "--out", str(out), "--no-count-predictions"])
    assert res.exit_code == 0, res.output
    assert (out / f"{key}-postmortem.md").exists() and (out / f"{key}-postmortem.html").exists()
    assert "post-mortem draft (resolved)" in res.output

    res = runner.invoke(
        cli.app,
        [
            "actions",
            "add",
            key,
            "Add a null-rate contract",
            "--owner",
            "data-eng",
            "--due",
            "2026-12-15",
            "--store",
            url,
        ],
    )
    assert res.exit_code == 0, res.output
    res = runner.invoke(cli.app, ["actions", "list", key, "--store", url, "--json"])
    items = json.loads(res.output)
    added = next(i for i in items if i["title"] == "Add a null-rate contract")
    assert added["due_at"].startswith("2026-12-15") and added["status"] == "open"
    assert any(i["source"] == "postmortem:root_cause" for i in items)

    res = runner.invoke(cli.app, ["actions", "done", str(added["id"]), "--store", url, "--by", "user:bob"])
    assert res.exit_code == 0 and "done" in res.output
    res = runner.invoke(cli.app, ["actions", "done", str(added["id"]), "--store", url])
    assert res.exit_code == 2 and "already done" in res.output

    # the refreshed draft shows the tracked status
    runner.invoke(cli.app, ["postmortem", key, "--store", url, "--out", str(out), "--no-count-predictions"])
    md = (out / f"{key}-postmortem.md").read_text()
    assert "Add a null-rate contract | data-eng | 2026-12-15 00:00 UTC | done |" in md


def test_bad_input_is_a_clear_error(store: Store, tmp_path: Path) -> None:
    url = str(store.url.render_as_string(hide_password=False))
    res = runner.invoke(cli.app, ["postmortem", "INC-0404", "--store", url, "--out", str(tmp_path)])
    assert res.exit_code == 2 and "no incident 'INC-0404'" in res.output
    res = runner.invoke(cli.app, ["actions", "list", "--status", "maybe", "--store", url])
    assert res.exit_code == 2 and "--status: expected one of open, done, wont_do" in res.output
    res = runner.invoke(cli.app, ["actions", "add", "INC-0001", "x", "--owner", "o", "--due", "soon", "--store", url])
    assert res.exit_code == 2 and "--due" in res.output
