"""End to end: `rcaflows demo` over every scenario, scored against the stored ground truth."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from rcaflows import cli
from rcaflows.demo import SCENARIOS


@pytest.mark.slow
def test_demo_detects_every_fault_stays_quiet_and_ranks_the_cause(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli._common, "console", Console(width=200, soft_wrap=True))
    out = workdir / "outcome.json"
    res = CliRunner().invoke(cli.app, ["demo", "--json", str(out)])
    assert res.exit_code == 0, res.output
    outcomes = {o["scenario"]: o for o in json.loads(out.read_text())}
    assert list(outcomes) == list(SCENARIOS)
    faults = [o for o in outcomes.values() if o["expected_types"]]
    for o in faults:
        assert o["detected"], f"{o['scenario']}: expected {o['expected_types']}, found {o['found_types']}"
        assert o["truth_rank"] is not None and o["truth_rank"] <= 3, o
        assert Path(o["report"]).exists()
    assert outcomes["no_fault"]["incidents"] == []
    top1 = sum(o["truth_rank"] == 1 for o in faults)
    assert top1 >= len(faults) - 1, {o["scenario"]: o["top_cause"] for o in faults}
    assert "root cause ranked first" in res.output
