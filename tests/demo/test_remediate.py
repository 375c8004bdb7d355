"""``demo --remediate`` without Prefect: the demo runbooks' webhooks reach the control plane (a real localhost
server), which ends the faults they fix in the simulated world; detection over the watch period then validates a
fix that worked and re-opens (escalated) an incident whose action did not end the fault."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from rcaflows import pipeline
from rcaflows.config import load_config
from rcaflows.demo.remediate import ControlPlane, remediate_scenario, write_remediation_config
from rcaflows.demo.simulator import DEMO_END, remedied_faults
from rcaflows.incidents import Store, finish_rca_run, start_rca_run
from rcaflows.rca.service import plan_for_incident
from rcaflows.sources import load_sources


def test_control_plane_records_what_an_action_ends(tmp_path: Path) -> None:
    assert remedied_faults("drift_and_deploy", "rollback", "scoring_api") == ["deploy_latency"]
    assert remedied_faults("poisoned_retrain", "quarantine_batch", "training_store") == ["poisoned_retrain"]
    assert remedied_faults("poisoned_retrain", "rollback", "fraud_model") == []  # the deploy is not the cause
    assert remedied_faults("drifting_source", "pause_ingest", "txn_ingest") == []
    assert remedied_faults("deploy_latency", "rollback", "fraud_model") == []  # the wrong component: nothing ends
    with ControlPlane(tmp_path).running() as plane:
        plane.clock = DEMO_END + timedelta(minutes=5)
        ok = httpx.post(f"{plane.url}/deploy_latency/rollback", json={"target": "scoring_api", "incident": "INC-1"})
        bad = httpx.post(f"{plane.url}/deploy_latency/rollback", json={"incident": "INC-1"})
    assert ok.status_code == 200 and ok.json() == {"ended": ["deploy_latency"]}
    assert bad.status_code == 400
    (entry,) = json.loads(plane.file("deploy_latency").read_text())
    assert entry["fixes"] == ["deploy_latency"] and entry["at"] == (DEMO_END + timedelta(minutes=5)).isoformat()


def test_demo_source_serves_the_world_with_the_fault_ended(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    plane = ControlPlane(tmp_path / "rem")
    cfg = load_config(write_remediation_config("deploy_latency", tmp_path / "configs", plane))

    def latency_after(end_hours: int) -> float:
        end = DEMO_END + timedelta(hours=end_hours)
        m = load_sources(cfg, end - timedelta(hours=1), end).metrics
        sel = m[(m["component"] == "scoring_api") & (m["metric"] == "latency_p95_ms")]
        return float(sel["value"].mean())

    broken = latency_after(2)
    plane.directory.mkdir(parents=True)
    plane.apply("deploy_latency", "rollback", "scoring_api", "INC-0001")
    fixed = latency_after(2)
    assert broken > 2 * fixed  # +150 % while the bad deploy stays, back to normal once rolled back


def _detect_and_investigate(store: Store, config: Path) -> list[str]:
    cfg = load_config(config)
    run = pipeline.detect_and_open(store, cfg, DEMO_END)
    keys = [o.key for o in run.outcome.incidents]
    for key in keys:
        plan = plan_for_incident(store, cfg, key)
        result = pipeline.investigate(
            pipeline.investigation(cfg, plan, pipeline.load_window(cfg, plan.start, plan.end))
        )
        with store.session() as s:
            rca = start_rca_run(s, incident=key, flow_run_id=None, inputs_fingerprint="t", code_version="t")
            finish_rca_run(s, rca.id, status="completed", results=result.model_dump(mode="json"))
    return keys


def test_fix_validated_and_failed_fix_reopened(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RCAFLOWS_STORE_URL", f"sqlite:///{tmp_path / 'incidents.db'}")
    rows = []
    with ControlPlane(tmp_path / "rem").running() as plane:
        for scenario in ("deploy_latency", "drifting_source"):
            config = write_remediation_config(scenario, tmp_path / "configs", plane)
            store = Store.from_url(load_config(config).store.url)
            assert len(_detect_and_investigate(store, config)) == 1

            def detect(c: str, at: object, store: Store = store) -> None:
                pipeline.detect_and_open(store, load_config(c), at)  # type: ignore[arg-type]

            rows += remediate_scenario(scenario, config, plane, detect)
    fixed, drifting = rows
    assert (fixed.cause, fixed.actions, fixed.ended) == (
        "deploy on scoring_api",
        ["rollback: succeeded"],
        ["deploy_latency"],
    )
    assert (fixed.verdict, fixed.state, fixed.escalated) == ("validated", "resolved", False)
    # pausing the ingest ran fine but does not end a drift: never validated, re-opened and escalated
    assert drifting.actions == ["pause_ingest: succeeded"] and drifting.ended == []
    assert (drifting.verdict, drifting.state, drifting.escalated) == ("regressed", "triaged", True)


def test_quarantining_the_poisoned_batch_rolls_the_model_back_and_is_validated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RCAFLOWS_STORE_URL", f"sqlite:///{tmp_path / 'incidents.db'}")
    with ControlPlane(tmp_path / "rem").running() as plane:
        config = write_remediation_config("poisoned_retrain", tmp_path / "configs", plane)
        store = Store.from_url(load_config(config).store.url)
        assert len(_detect_and_investigate(store, config)) == 1

        def detect(c: str, at: object) -> None:
            pipeline.detect_and_open(store, load_config(c), at)  # type: ignore[arg-type]

        (row,) = remediate_scenario("poisoned_retrain", config, plane, detect)
    assert (row.cause, row.actions, row.ended) == (
        "training_batch on training_store",
        ["quarantine_batch: succeeded"],
        ["poisoned_retrain"],
    )
    assert (row.verdict, row.state, row.escalated) == ("validated", "resolved", False)
