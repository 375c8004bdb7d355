"""The mitigate flow against a real Prefect API: it suspends for approval, is resumed through the API with
the input the UI's form sends, and runs the approved action as a run of another deployment."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from flows.mitigate import mitigate
from prefect import flow, resume_flow_run
from prefect.client.orchestration import get_client
from prefect.deployments import run_deployment
from prefect.exceptions import Pause
from prefect.flow_engine import run_flow

from rcaflows.config import load_config
from rcaflows.config.loader import demo_config_path
from rcaflows.incidents import (
    EventKind,
    NewIncident,
    Store,
    events,
    finish_rca_run,
    get_incident,
    open_or_touch,
    start_rca_run,
    triage,
)
from rcaflows.incidents.models import MitigationStatus
from rcaflows.mitigation.service import actions_of, decide, propose, run_approved
from rcaflows.timeutil import now_utc
from rcaflows.vocab import IncidentState

MITIGATION = """
mitigation:
  runbooks:
    - name: bad_model_deploy
      when: {cause_kinds: [deploy]}
      actions:
        - name: rollback_model
          kind: deployment
          deployment: model-rollback/rollback-test
          parameters: {model: "{cause_component}", to_version: "{previous_version}", incident: "{incident}"}
        - name: tell_owners
          kind: manual
          instructions: "Tell the owners of {component}."
        - name: missing_deployment
          kind: deployment
          deployment: model-rollback/does-not-exist
"""

RCA = {
    "hypotheses": [{"rank": 1, "component": "fraud_model", "kind": "deploy", "confidence": 0.8, "supporting": ["x"]}],
    "phases": [
        {
            "findings": [
                {
                    "component": "fraud_model",
                    "kind": "deploy",
                    "details": {"change_time": "2026-03-01T11:00:00+00:00", "description": "v12 -> v13"},
                }
            ]
        }
    ],
}


@flow(name="model-rollback")
def model_rollback(model: str, to_version: str, incident: str) -> str:
    """Stand-in for an operator's rollback deployment (it is created, never run, in this test)."""
    return f"{model}@{to_version}"


def _setup(workdir: Path) -> tuple[str, Store, str]:
    cfg_path = workdir / "system.yaml"
    cfg_path.write_text(Path(demo_config_path()).read_text() + MITIGATION)
    cfg = load_config(cfg_path)
    store = Store.from_url(cfg.store.url)
    new = NewIncident(
        system=cfg.system.name,
        type="quality_degradation",
        subtype="accuracy_drop",
        component="scoring_api",
        metric="precision",
        title="precision dropped",
        severity="high",
        priority="P2",
        team="ml-platform",
        detected_at=now_utc(),
    )
    with store.session() as s:
        inc, _ = open_or_touch(s, new)
        triage(s, inc, "high", "P2", "ml-platform", "detection")
        run = start_rca_run(s, incident=inc, flow_run_id=None, inputs_fingerprint="x", code_version="t")
        finish_rca_run(s, run.id, status="completed", results=RCA)
        key = inc.key

    async def deploy() -> None:
        async with get_client() as client:
            fid = await client.create_flow(mitigate)
            await client.create_deployment(flow_id=fid, name="approve-test", entrypoint="flows/mitigate.py:mitigate")
            rid = await client.create_flow(model_rollback)
            await client.create_deployment(flow_id=rid, name="rollback-test", entrypoint="tests:model_rollback")

    asyncio.run(deploy())
    return str(cfg_path), store, key


def _run(flow_run: Any, params: dict[str, Any]) -> Any:
    """Execute a scheduled flow run in this process, as a worker would; a suspension ends it with Pause."""
    try:
        return run_flow(mitigate, flow_run=flow_run, parameters=params, return_type="state")
    except Pause as paused:
        return paused.state


def test_suspend_resume_runs_the_approved_action(workdir: Path) -> None:
    config, store, key = _setup(workdir)
    params = {"incident": key, "config": config}
    created = run_deployment("mitigate/approve-test", parameters=params, timeout=0)
    state = _run(created, params)
    assert state.is_paused()

    with get_client(sync_client=True) as client:
        suspended = client.read_flow_run(created.id)
        assert suspended.state is not None and suspended.state.name == "Suspended"
        keyset = suspended.state.state_details.run_input_keyset
        assert keyset is not None
        description = client.read_flow_run_input(created.id, keyset["description"])
    assert "Top hypothesis:** deploy on `fraud_model`" in description and "rollback_model" in description
    with store.session(readonly=True) as s:
        assert {a.name: a.status for a in actions_of(s, key)} == {
            "rollback_model": MitigationStatus.PROPOSED,
            "tell_owners": MitigationStatus.PROPOSED,
            "missing_deployment": MitigationStatus.PROPOSED,
        }

    # Meanwhile another operator approves one of the actions from the shell.
    with store.session() as s:
        assert decide(s, key, "tell_owners", "user:bob", approve=True).refused is None
    # The UI's form posts run_input to /flow_runs/{id}/resume; an input the schema refuses is refused there.
    with pytest.raises(Exception, match=r"(?i)approver|invalid|validation"):
        resume_flow_run(created.id, run_input={"decisions": []})
    resume_flow_run(
        created.id,
        run_input={
            "approver": "alice",
            "comment": "roll back",
            "decisions": [
                {"name": "rollback_model", "approve": True, "parameters": {"to_version": "v11"}},
                {"name": "tell_owners", "approve": False, "parameters": {}},
                {"name": "missing_deployment", "approve": True, "parameters": {}},
            ],
        },
    )
    with get_client(sync_client=True) as client:
        resumed = client.read_flow_run(created.id)
    final = _run(resumed, params)
    assert final.is_completed(), final

    with store.session(readonly=True) as s:
        rows = {a.name: a for a in actions_of(s, key)}
        assert rows["rollback_model"].status is MitigationStatus.SUCCEEDED
        assert rows["tell_owners"].status is MitigationStatus.SUCCEEDED  # bob's approval stands, alice's is refused
        assert rows["missing_deployment"].status is MitigationStatus.FAILED
        assert "does not exist on the Prefect API" in (rows["missing_deployment"].error or "")
        child_id = rows["rollback_model"].flow_run_id
        assert get_incident(s, key).state is IncidentState.MITIGATED
        audit = [(e.actor, e.payload.get("step"), e.payload.get("action")) for e in events(s, key)]
    assert ("user:alice", "approved", "rollback_model") in audit
    assert ("user:bob", "approved", "tell_owners") in audit and ("user:alice", "refused", "tell_owners") in audit
    assert sum(1 for _, step, _ in audit if step == "awaiting") == 1  # asked once, though the flow ran twice
    assert sum(1 for _, step, name in audit if step == "started" and name == "rollback_model") == 1

    with get_client(sync_client=True) as client:
        child = client.read_flow_run(UUID(child_id))
        dep = client.read_deployment_by_name("model-rollback/rollback-test")
    assert child.deployment_id == dep.id
    assert child.parameters == {"model": "fraud_model", "to_version": "v11", "incident": key}  # the operator's edit


def test_approval_twice_runs_once(workdir: Path) -> None:
    config, store, key = _setup(workdir)
    cfg = load_config(config)
    with store.session() as s:
        propose(s, cfg, key, "cli")
        assert decide(s, key, "rollback_model", "user:a", approve=True).refused is None
        assert "already approved by user:a" in (decide(s, key, "rollback_model", "user:b", approve=True).refused or "")
    first = run_approved(store, cfg, key, "cli")
    again = run_approved(store, cfg, key, "cli")
    assert [o.status for o in first] == ["succeeded"] and again == []
    with store.session(readonly=True) as s:
        kinds = [e.payload.get("step") for e in events(s, key) if e.kind is EventKind.MITIGATION]
    assert kinds.count("started") == 1 and kinds.count("refused") == 1


def test_a_run_without_deployment_says_how_to_approve(workdir: Path) -> None:
    from rcaflows.mitigation.service import MitigationError

    config, store, key = _setup(workdir)
    with pytest.raises(MitigationError, match="no deployment to resume from; run the mitigate/approve deployment"):
        mitigate(incident=key, config=config)
    with store.session(readonly=True) as s:  # proposed and left for an approval by other means
        assert {a.status for a in actions_of(s, key)} == {MitigationStatus.PROPOSED}
