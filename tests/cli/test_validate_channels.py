"""``rcaflows validate`` checks each channel's kind against the notifier registry and its per-kind settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from rich.console import Console
from typer.testing import CliRunner

from rcaflows import cli
from rcaflows.cli import app
from rcaflows.config import demo_config_path

runner = CliRunner()


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli._common, "console", Console(width=260, soft_wrap=True))
    monkeypatch.setattr(cli._common, "err", Console(width=260, soft_wrap=True, stderr=True))


def _write(tmp_path: Path, channels: list[dict[str, Any]]) -> tuple[Path, int]:
    raw = yaml.safe_load(demo_config_path().read_text())
    first = len(raw["notifications"])
    raw["notifications"] += channels
    out = tmp_path / "cfg.yaml"
    out.write_text(yaml.safe_dump(raw, sort_keys=False))
    return out, first


def test_validate_names_unknown_kinds_and_bad_settings_with_their_lines(tmp_path: Path) -> None:
    path, n = _write(
        tmp_path,
        [
            {"name": "teams-chat", "kind": "msteams"},
            {"name": "pd", "kind": "pagerduty", "settings": {"events_url": "https://events.pagerduty.com/v2/enqueue"}},
            {"name": "pd2", "kind": "pagerduty", "settings": {"routing_key_env": "PD_KEY", "routing_kye": "x"}},
            {"name": "log2", "kind": "console", "settings": {"colour": True}},
        ],
    )
    res = runner.invoke(app, ["validate", str(path)])
    assert res.exit_code == 1, res.output
    out = res.output
    lines = path.read_text().splitlines()
    kind_line = next(i for i, line in enumerate(lines, 1) if "kind: msteams" in line)
    assert f"{path}:{kind_line}: notifications[{n}].kind: unknown notifier kind 'msteams'" in out
    assert "known kinds: console, email, file, pagerduty, slack, webhook" in out
    assert f"notifications[{n + 1}].settings: " in out and "routing_key_env" in out
    assert f"notifications[{n + 2}].settings.routing_kye: unknown setting" in out
    assert f"notifications[{n + 3}].settings: notifier 'console' takes no 'settings'" in out
    assert "4 problem(s)" in out


def test_validate_accepts_a_registered_plugin_kind_with_valid_settings(tmp_path: Path) -> None:
    path, _ = _write(tmp_path, [{"name": "pd", "kind": "pagerduty", "settings": {"routing_key_env": "PD_KEY"}}])
    res = runner.invoke(app, ["validate", str(path)])
    assert res.exit_code == 0, res.output
    assert "ok" in res.output


def test_a_flow_refuses_a_config_with_an_unknown_channel_kind_at_its_start(tmp_path: Path) -> None:
    """The loader cannot see the notifier registry; the flows' config step does, before any work."""
    from flows.common import resolve_config

    from rcaflows.errors import ConfigError

    path, n = _write(tmp_path, [{"name": "teams-chat", "kind": "msteams"}])
    with pytest.raises(ConfigError) as info:
        resolve_config(str(path))
    (problem,) = info.value.problems
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "msteams" in text)
    assert problem.startswith(f"{path}:{line}: notifications[{n}].kind: unknown notifier kind 'msteams'"), problem
    assert resolve_config(str(demo_config_path())).system.name  # a valid config loads as before
