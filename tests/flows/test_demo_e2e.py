"""End to end: `rcaflows demo` over every scenario, scored against the stored ground truth."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from rcaflows import cli
from rcaflows.demo import DEMO_END, SCENARIOS


@pytest.mark.slow
def test_demo_opens_one_incident_per_fault_stays_quiet_and_ranks_every_cause_first(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli._common, "console", Console(width=200, soft_wrap=True))
    out = workdir / "outcome.json"
    res = CliRunner().invoke(cli.app, ["demo", "--json", str(out)])
    assert res.exit_code == 0, res.output
    outcomes = {o["scenario"]: o for o in json.loads(out.read_text())}
    assert list(outcomes) == list(SCENARIOS)
    for o in outcomes.values():
        # exactly one incident per injected fault, none matching two faults, none matching no fault
        assert o["one_per_fault"], {k: o[k] for k in ("scenario", "incidents", "extra_incidents", "shared_incidents")}
        assert all(len(f["incidents"]) == 1 for f in o["faults"]), o["faults"]
        for f in o["faults"]:
            assert f["detected"], f"{o['scenario']}: expected {f['expected_types']}, found {f['found_types']}"
            assert f["truth_rank"] == 1, (
                f"{o['scenario']}: {f['root_cause']} ranked {f['truth_rank']}, top {f['top_cause']}"
            )
            assert f["report"] and Path(f["report"]).exists()
    assert [len(o["faults"]) for o in outcomes.values()] == [len(SCENARIOS[n].faults(DEMO_END)) for n in outcomes]
    assert len(outcomes["drift_and_deploy"]["incidents"]) == 2
    assert outcomes["no_fault"]["incidents"] == []
    # the only incident besides the faults' is the declared distractor that really saturates
    assert {k: o["distractor_incidents"] for k, o in outcomes.items() if o["distractor_incidents"]}.keys() <= {
        "distractor_cpu"
    }
    assert "root cause ranked first" in res.output
