from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from rich.console import Console
from typer.testing import CliRunner

from rcaflows import cli
from rcaflows.cli import app
from rcaflows.config import demo_config_path
from rcaflows.incidents import Action, NewIncident, Store, open_or_touch, transition
from rcaflows.vocab import IncidentType, Priority, Severity

runner = CliRunner()


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Render tables wide enough that cells are not folded (CliRunner is not a terminal)."""
    monkeypatch.setattr(cli._common, "console", Console(width=220, soft_wrap=True))
    monkeypatch.setattr(cli._common, "err", Console(width=220, soft_wrap=True, stderr=True))


def test_validate_accepts_the_demo_and_lists_every_problem(tmp_path: Path) -> None:
    ok = runner.invoke(app, ["validate", str(demo_config_path())])
    assert ok.exit_code == 0 and "14 components" in ok.output
    raw = yaml.safe_load(demo_config_path().read_text())
    raw["routing"]["default_team"] = "nobody"
    raw["teams"][0]["channels"] = ["pager"]
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(raw, sort_keys=False))
    res = runner.invoke(app, ["validate", str(bad)])
    assert res.exit_code == 1
    assert f"{bad}:" in res.output
    assert "teams[0].channels[0]: unknown channel 'pager'" in res.output
    assert "routing.default_team: unknown team 'nobody'" in res.output
    assert "2 problem(s)" in res.output


def test_incidents_list_and_show_read_the_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'i.db'}"
    store = Store(url)
    with store.session() as s:
        inc, _ = open_or_touch(
            s,
            NewIncident(
                system="sys",
                type=IncidentType.DATA_QUALITY,
                subtype="null_rate",
                component="etl",
                metric="null_rate",
                title="Nulls in etl",
                severity=Severity.HIGH,
                priority=Priority.P2,
                team="data-eng",
                detected_at=datetime(2026, 3, 2, 12, tzinfo=UTC),
            ),
        )
        transition(s, inc, Action.TRIAGE, "test")
        key = inc.key
    store.dispose()
    res = runner.invoke(app, ["incidents", "list", "--store", url])
    assert res.exit_code == 0 and key in res.output and "triaged" in res.output
    res = runner.invoke(app, ["incidents", "show", key, "--store", url])
    assert res.exit_code == 0
    assert "Nulls in etl" in res.output and "transition" in res.output and "detected" in res.output
    res = runner.invoke(app, ["incidents", "show", "INC-0999", "--store", url])
    assert res.exit_code == 2 and "INC-0999" in res.output
    res = runner.invoke(app, ["incidents", "list", "--store", url, "--state", "sleeping"])
    assert res.exit_code == 2 and "--state" in res.output


def test_bad_time_and_unknown_scenario_are_clear_errors() -> None:
    res = runner.invoke(app, ["detect", "--at", "2026-03-02T12:00:00"])
    assert res.exit_code == 2 and "--at" in res.output and "timezone" in res.output
    res = runner.invoke(app, ["demo", "--scenario", "meteor_strike"])
    assert res.exit_code == 2 and "unknown scenario 'meteor_strike'" in res.output
