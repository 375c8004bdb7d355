"""Carry out one approved action: run a Prefect deployment, call a webhook, or record a manual step.

Each executor returns an :class:`ExecutionResult` and never raises for the action's own failure
(an unknown deployment, a timeout, an HTTP error): the caller records it, retries per the
action's policy, and the incident's state stays as it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from rcaflows.incidents.models import MitigationAction
from rcaflows.mitigation.models import ActionKind, RunbookAction

if TYPE_CHECKING:
    from prefect.client.schemas.objects import FlowRun


@dataclass(frozen=True)
class ExecutionResult:
    """The outcome of one attempt."""

    ok: bool
    detail: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    flow_run_id: str | None = None


def run_deployment_action(spec: RunbookAction, deployment: str, parameters: dict[str, Any]) -> ExecutionResult:
    """Start a flow run of ``deployment`` (and, with ``wait``, wait for it to finish)."""
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment
    from prefect.exceptions import ObjectNotFound

    try:
        with get_client(sync_client=True) as client:
            client.read_deployment_by_name(deployment)
    except ObjectNotFound:
        return ExecutionResult(
            False,
            error=f"deployment {deployment!r} does not exist on the Prefect API; deploy it "
            "(`prefect deployment ls` lists them) or fix the runbook's 'deployment'",
        )
    except Exception as exc:  # the API is down or refuses: a retryable failure of this attempt
        return ExecutionResult(False, error=f"cannot reach the Prefect API to find {deployment!r}: {exc}")
    try:
        run: FlowRun = run_deployment(  # type: ignore[assignment]  # a sync call returns the run itself
            deployment, parameters=parameters, timeout=spec.timeout_s if spec.wait else 0
        )
    except Exception as exc:  # parameters the deployment's schema refuses, an API error
        return ExecutionResult(False, error=f"cannot start {deployment!r}: {exc}")
    state = run.state
    detail = {"deployment": deployment, "flow_run": run.name, "state": state.name if state else None}
    if not spec.wait:
        return ExecutionResult(True, detail, flow_run_id=str(run.id))
    if state is None or not state.is_final():
        err = f"{deployment} run {run.name} did not finish within {spec.timeout_s:g} s (it is {detail['state']})"
        return ExecutionResult(False, detail, err, str(run.id))
    if not state.is_completed():
        return ExecutionResult(False, detail, f"{deployment} run {run.name} ended {state.name}", str(run.id))
    return ExecutionResult(True, detail, flow_run_id=str(run.id))


def call_webhook(spec: RunbookAction, url: str, body: dict[str, Any]) -> ExecutionResult:
    """POST ``body`` as JSON to ``url``; a 2xx answer is success."""
    try:
        resp = httpx.post(url, json=body, timeout=spec.timeout_s)
    except httpx.TimeoutException:
        return ExecutionResult(False, {"url": url}, f"webhook {url} timed out after {spec.timeout_s:g} s")
    except httpx.HTTPError as exc:
        return ExecutionResult(False, {"url": url}, f"webhook {url} failed: {exc}")
    detail = {"url": url, "status": resp.status_code, "response": resp.text[:500]}
    if resp.status_code >= 300:
        return ExecutionResult(False, detail, f"webhook {url} answered HTTP {resp.status_code}")
    return ExecutionResult(True, detail)


def execute_action(row: MitigationAction) -> ExecutionResult:
    """Carry out one attempt of ``row`` (its parameters already filled)."""
    spec = RunbookAction.model_validate(row.spec)
    p = row.parameters
    if spec.kind is ActionKind.DEPLOYMENT:
        return run_deployment_action(spec, str(p["deployment"]), dict(p.get("parameters") or {}))
    if spec.kind is ActionKind.WEBHOOK:
        return call_webhook(spec, str(p["url"]), dict(p.get("body") or {}))
    # A manual step is done by the person who approved it: approving it records that it was done.
    return ExecutionResult(True, {"instructions": p.get("instructions", ""), "done_by": row.decided_by})
