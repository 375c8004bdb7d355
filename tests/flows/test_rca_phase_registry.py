"""The ``rca`` flow runs whatever phases are registered and enabled, each as its own parallel task."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from flows.rca import rca

from rcaflows.config import load_config
from rcaflows.demo import DEMO_END, write_demo_config
from rcaflows.errors import ConfigError
from rcaflows.incidents import RcaRun, Store
from rcaflows.rca import PHASES, Finding, PhaseResult, PhaseStatus, RcaContext, register_phase


class DeployLogPhase:
    """A phase outside the built-in five: every deploy in the window is a finding on its component."""

    name = "deploy_log"

    def run(self, ctx: RcaContext) -> PhaseResult:
        ch = ctx.data.changes
        deploys = ch[ch["kind"] == "deploy"] if not ch.empty else ch
        findings = [
            Finding(phase=self.name, component=str(r.component), kind="deploy_logged", score=0.5, evidence=["deploy"])
            for r in deploys.itertuples()
        ]
        return PhaseResult(phase=self.name, status=PhaseStatus.OK, findings=findings)


@pytest.fixture
def deploy_log() -> Iterator[None]:
    register_phase(DeployLogPhase)
    try:
        yield
    finally:
        PHASES.pop("deploy_log", None)


def _config(workdir: Path, phases: dict[str, dict[str, object]]) -> str:
    path = write_demo_config("deploy_latency", workdir / "configs")
    raw = yaml.safe_load(path.read_text())
    raw.setdefault("rca", {})["phases"] = phases
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return str(path)


def test_the_flow_runs_the_enabled_registered_phases(workdir: Path, deploy_log: None) -> None:
    cfg = _config(workdir, {"lineage": {"enabled": False}})
    out = rca(config=cfg, component="gateway", metric="latency_p95_ms", end=DEMO_END)
    assert out["failed_phases"] == [] and out["top"] == "scoring_api"
    with Store.from_url(load_config(cfg).store.url).session(readonly=True) as s:
        run = s.get(RcaRun, out["rca_run_id"])
        assert run is not None
        phases = [p["phase"] for p in run.results["phases"]]
    assert phases == ["statistical", "component", "model_behaviour", "environmental", "deploy_log"]


def test_an_unknown_phase_in_the_config_fails_the_run_before_it_starts(workdir: Path) -> None:
    cfg = _config(workdir, {"lineage_v2": {"weight": 2}})
    state = rca(config=cfg, component="gateway", metric="latency_p95_ms", end=DEMO_END, return_state=True)
    assert state.is_failed()
    with pytest.raises(ConfigError, match=r"rca\.phases\.lineage_v2: no RCA phase is registered as 'lineage_v2'"):
        state.result()
    with Store.from_url(load_config(cfg).store.url).session(readonly=True) as s:
        assert s.query(RcaRun).count() == 0  # no run was opened
