"""The reaper as a task of the detection flow: fail dead or overrun RCA runs, then restart the re-queued ones.

:func:`rcaflows.incidents.reaper.reap` does the work; here it also asks Prefect for the state of
each run's flow run (a crashed or cancelled flow run fails its RCA run at once, without waiting
for the time limit), and :func:`requeue` starts the RCA of each re-queued incident the way the
detection flow starts a new one (a subflow, or an event for the rca deployment's trigger).
"""

from __future__ import annotations

import uuid
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NONE
from prefect.client.orchestration import get_client
from prefect.events import emit_event

from flows.common import store_for
from rcaflows.config import SystemConfig
from rcaflows.incidents import reaper
from rcaflows.incidents.reaper import ReapResult, reap

#: Event that starts the RCA of a re-queued incident in ``rca.mode: event`` (prefect.yaml, flows/serve.py).
REQUEUED_EVENT = "rcaflows.incident.rca-requeued"


def prefect_flow_states(ids: list[str]) -> dict[str, str]:
    """Return the state type (CRASHED, RUNNING, ...) of each flow run Prefect knows, by id."""
    out: dict[str, str] = {}
    with get_client(sync_client=True) as client:
        for run_id in ids:
            try:
                run = client.read_flow_run(uuid.UUID(run_id))
            except Exception:  # unknown id, another server, no API: the time limit still applies
                continue
            if run.state is not None:
                out[run_id] = run.state.type.value
    return out


@task(name="reap-rca-runs", retries=1, retry_delay_seconds=2, cache_policy=NONE)
def reap_runs(cfg: SystemConfig) -> ReapResult:
    """Fail the RCA runs that died or overran, move their incidents back, and return the re-queued incidents."""
    log = get_run_logger()
    result = reap(store_for(cfg), cfg, actor="detection", flow_states=prefect_flow_states)
    for r in result.reaped:
        log.warning(
            "RCA run %d of %s failed by the reaper: %s; %s",
            r.run_id,
            r.incident or "(ad hoc)",
            r.detail,
            "re-queued" if r.requeued else "not re-queued",
        )
    if result.queued:
        log.info("incidents waiting for a re-queued RCA: %s", ", ".join(result.queued))
    return result


def uninvestigated(cfg: SystemConfig, keys: list[str]) -> list[str]:
    """Return the open incidents among ``keys`` that never had an RCA run."""
    return reaper.uninvestigated(store_for(cfg), keys)


def requeue(cfg: SystemConfig, keys: list[str], mode: str, config_path: str | None) -> list[dict[str, Any]]:
    """Start the RCA of each re-queued incident: as a subflow (returning its results) or by an event."""
    from flows.rca import rca as rca_flow

    log = get_run_logger()
    out: list[dict[str, Any]] = []
    for key in keys:
        if mode == "event":
            emit_event(
                event=REQUEUED_EVENT,
                resource={
                    "prefect.resource.id": f"rcaflows.incident.{key}",
                    "rcaflows.incident.id": key,
                    "rcaflows.system": cfg.system.name,
                    "rcaflows.rca.mode": mode,
                },
                payload={"config": config_path},
            )
            continue
        if mode != "subflow":
            continue
        state = rca_flow(incident=key, config=config_path, return_state=True)
        if state.is_completed():
            out.append(state.result())
        else:
            log.error("re-queued RCA of %s did not complete: %s", key, state.message)
            out.append({"incident": key, "error": state.message})
    return out
