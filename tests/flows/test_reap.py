"""The reaper asks the real Prefect API: an RCA run whose flow run crashed is failed at once."""

from __future__ import annotations

from pathlib import Path

from flows.reap import prefect_flow_states
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.states import Crashed

from rcaflows.demo import demo_config
from rcaflows.incidents import Action, NewIncident, Store, open_or_touch, start_rca_run, transition, triage
from rcaflows.incidents.reaper import reap
from rcaflows.timeutil import now_utc


@flow(name="rca-stand-in")
def _stand_in() -> None:
    """A flow whose runs stand for RCA flow runs."""


def test_a_crashed_prefect_flow_run_fails_its_rca_run(workdir: Path) -> None:
    with get_client(sync_client=True) as client:
        crashed = client.create_flow_run(_stand_in)
        client.set_flow_run_state(crashed.id, Crashed(message="killed"), force=True)
        running = client.create_flow_run(_stand_in)
    ids = [str(crashed.id), str(running.id), "00000000-0000-4000-8000-000000000000"]
    states = prefect_flow_states(ids)
    assert states[str(crashed.id)] == "CRASHED" and str(running.id) in states and ids[2] not in states

    cfg = demo_config()
    store = Store(f"sqlite:///{workdir / 'reap.db'}")
    store.create_all()
    with store.session() as s:
        for flow_run_id in ids[:2]:
            inc, _ = open_or_touch(
                s,
                NewIncident(
                    system=cfg.system.name,
                    type="performance_availability",
                    subtype="latency",
                    component="gateway",
                    title=f"latency ({flow_run_id[:8]})",
                    severity="high",
                    priority="P2",
                    team="sre",
                    fingerprint=f"fp-{flow_run_id}",
                    detected_at=now_utc(),
                ),
            )
            triage(s, inc, "high", "P2", "sre", "detection")
            transition(s, inc, Action.INVESTIGATE, "rca:test")
            start_rca_run(s, incident=inc, flow_run_id=flow_run_id, inputs_fingerprint="fp", code_version="t")
    result = reap(store, cfg, flow_states=prefect_flow_states)
    assert [(r.run_id, r.reason) for r in result.reaped] == [(1, "flow_run_crashed")]
    store.dispose()
