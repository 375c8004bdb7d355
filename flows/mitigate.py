"""The ``mitigate`` flow: propose the runbook actions for an incident, wait for approval in the Prefect UI, run them.

Thin wrapper over :mod:`rcaflows.mitigation.service`. The flow proposes the actions of the runbook
matching the incident's top hypothesis, runs those flagged ``auto`` for its severity at once, and
suspends with ``suspend_flow_run(wait_for_input=MitigationApproval)``: the Prefect UI shows the
evidence (Markdown) and a form to approve, edit or reject each action. Resuming re-runs the flow
from the top (Prefect's suspend semantics; the deployment has its results persisted): proposing is
idempotent, and an action runs only once, so the re-run only applies the operator's decisions and
runs what was approved.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, suspend_flow_run
from prefect.context import get_run_context
from prefect.input import RunInput
from pydantic import BaseModel, Field

from flows.common import publish_board, resolve_config, store_for
from rcaflows.incidents import get_incident
from rcaflows.incidents.models import MitigationStatus
from rcaflows.mitigation.service import (
    MitigationError,
    action_dict,
    actions_of,
    ask_approval,
    auto_approve,
    decide,
    evidence_markdown,
    propose,
    run_approved,
)


class ActionDecision(BaseModel):
    """The operator's decision on one proposed action."""

    name: str = Field(description="The proposed action (leave as proposed).")
    approve: bool = Field(False, description="Run this action.")
    parameters: dict[str, Any] = Field(
        default_factory=dict, description="Edited parameters (deployment) or body fields (webhook); empty keeps them."
    )


class MitigationApproval(RunInput):
    """The approval form the Prefect UI shows for a suspended ``mitigate`` run."""

    approver: str = Field(min_length=1, description="Who decides (name or e-mail); recorded in the audit log.")
    decisions: list[ActionDecision] = Field(default_factory=list, description="One decision per proposed action.")
    comment: str = Field("", description="Why (recorded with each decision).")


def _actor() -> str:
    ctx = get_run_context()
    run = getattr(ctx, "flow_run", None)
    return f"mitigate:{run.id}" if run is not None else "mitigate"


@flow(name="mitigate", persist_result=True)
def mitigate(incident: str, config: str | None = None, approval_timeout_s: int = 86400) -> dict[str, Any]:
    """Propose, approve (from the Prefect UI) and run the runbook actions of one incident; return them.

    Args:
        incident: The incident, e.g. ``INC-0042``.
        config: System YAML (default ``$RCAFLOWS_CONFIG``).
        approval_timeout_s: How long the run waits suspended for a decision before it fails.
    """
    log = get_run_logger()
    cfg = resolve_config(config)
    store = store_for(cfg)
    actor = _actor()
    with store.session() as s:
        key = get_incident(s, incident).key
        hyp, rows = propose(s, cfg, key, actor)
        auto = auto_approve(s, key, "auto:severity")
    if auto:
        log.info("%s: running %s without approval (auto for its severity)", key, ", ".join(auto))
    run_approved(store, cfg, key, actor)
    with store.session(readonly=True) as s:
        proposed = [r.name for r in actions_of(s, key) if r.status is MitigationStatus.PROPOSED]
    if proposed and getattr(getattr(get_run_context(), "flow_run", None), "deployment_id", None) is None:
        # Prefect resumes a suspended run by re-running it from its deployment; without one it cannot wait.
        raise MitigationError(
            f"{key}: {', '.join(proposed)} await approval, but this run has no deployment to resume from; "
            "run the mitigate/approve deployment, or approve with `rcaflows incidents mitigate --action`"
        )
    with store.session() as s:
        rows = actions_of(s, key)
        # On the re-run after a resume: the actions the form showed, even if someone decided one meanwhile.
        pending = ask_approval(s, key, actor, proposed)
        description = evidence_markdown(key, hyp, rows)
        defaults = [
            ActionDecision(name=r.name, parameters=r.parameters.get("parameters") or r.parameters.get("body") or {})
            for r in rows
            if r.name in pending
        ]
    if pending:
        log.info("%s: waiting for a decision on %s", key, ", ".join(pending))
        form = MitigationApproval.with_initial_data(description=description, decisions=defaults)
        answer = suspend_flow_run(wait_for_input=form, timeout=approval_timeout_s, key=f"approve-{key.lower()}")
        who = f"user:{answer.approver.strip()}"
        for d in answer.decisions:
            if d.name not in pending:
                continue
            with store.session() as s:
                shown = next(r.parameters for r in actions_of(s, key) if r.name == d.name)
                current = shown.get("parameters") or shown.get("body") or {}
                edits = {k: v for k, v in d.parameters.items() if current.get(k) != v}
                out = decide(s, key, d.name, who, approve=d.approve, parameters=edits or None, comment=answer.comment)
            if out.refused:
                log.warning("%s: %s", key, out.refused)
        run_approved(store, cfg, key, actor)
    publish_board(cfg)
    with store.session(readonly=True) as s:
        return {"incident": key, "actions": [action_dict(a) for a in actions_of(s, key)]}
