"""The demo stays in the demo: scenario configs are files, production needs a config, tables fit 80 columns."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from rcaflows.config import load_config
from rcaflows.config.loader import CONFIG_ENV
from rcaflows.demo import SCENARIOS, demo_config, write_demo_config
from rcaflows.demo.evaluate import FaultOutcome, ScenarioOutcome
from rcaflows.demo.run import names_for, outcome_table
from rcaflows.errors import ConfigError


def test_a_scenario_is_a_config_file_naming_its_world_and_its_system(tmp_path: Path) -> None:
    path = write_demo_config("query_flood", tmp_path / "configs")
    assert path.is_absolute() and path.parent == (tmp_path / "configs").resolve()
    cfg = load_config(path)
    assert cfg.system.name == "fraud-scoring/query_flood"
    assert [s.options["scenario"] for s in cfg.sources if s.kind == "demo"] == ["query_flood"]
    assert cfg.model_dump(exclude={"sources", "system"}) == demo_config("query_flood").model_dump(
        exclude={"sources", "system"}
    )
    assert demo_config("query_flood").sources == cfg.sources


def test_unknown_scenarios_are_refused_with_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"meteor_strike.*no_fault"):
        demo_config("meteor_strike")
    with pytest.raises(ConfigError, match="expected 'all' or one of"):
        names_for("meteor_strike")
    assert names_for("all") == list(SCENARIOS)


def test_no_config_is_an_error_not_the_demo(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    with pytest.raises(ConfigError, match=r"no config given.*RCAFLOWS_CONFIG"):
        load_config()
    monkeypatch.setenv(CONFIG_ENV, str(write_demo_config("deploy_latency", tmp_path)))
    assert load_config().system.name == "fraud-scoring/deploy_latency"


def test_the_flows_take_no_scenario() -> None:
    from flows.detection import detection
    from flows.postmortem import postmortem
    from flows.rca import rca

    for flow in (detection, postmortem, rca):
        assert "scenario" not in flow.parameters.properties


def _outcome(name: str, types: list[str], root: str, report: str) -> ScenarioOutcome:
    fault = FaultOutcome(
        root_cause=root,
        expected_types=types,
        incidents=["INC-0001"],
        found_types=types,
        top_cause=root,
        truth_rank=1,
        confidence=0.9,
        report=report,
    )
    return ScenarioOutcome(
        scenario=name,
        expected_types=types,
        found_types=types,
        incidents=["INC-0001"],
        detected=True,
        quiet=True,
        root_cause=root,
        top_cause=root,
        truth_rank=1,
        confidence=0.9,
        report=report,
        faults=[fault],
    )


@pytest.mark.parametrize("width", [80, 200])
def test_the_outcome_table_fits_the_width_and_never_splits_a_name(width: int) -> None:
    long_types = ["performance_availability", "integration_dependency", "security_adversarial"]
    outcomes = [
        _outcome(n, long_types, "client:c-0666", f"/somewhere/deep/rcaflows-demo/reports/INC-{i:04d}-run{i}.html")
        for i, n in enumerate(SCENARIOS, 1)
    ]
    console = Console(width=width, record=True, force_terminal=False)
    console.print(outcome_table(outcomes, width))
    text = console.export_text()
    lines = text.splitlines()
    assert max(len(line.rstrip()) for line in lines) <= width
    for i, name in enumerate(SCENARIOS, 1):
        assert any(name in line and f"INC-{i:04d}-run{i}.html" in line for line in lines), name
    assert (long_types[0] in text) == (width >= 130)  # the type columns only when they fit
    json.dumps([o.model_dump() for o in outcomes])  # the --json output keeps every field
