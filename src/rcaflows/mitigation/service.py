"""Proposals, approvals and runs of runbook actions, each one guarded step with one audit event.

Every function works inside the caller's session (one transaction), like
:mod:`rcaflows.incidents.operations`; :func:`run_approved` is the exception: it runs actions,
which take time, between short transactions of its own. An action row moves

::

    proposed ─► approved ─► running ─► succeeded | failed
        │           └──────────────► cancelled   (the incident was resolved before it ran)
        └─► rejected
    invalid   (its parameters could not be filled from the incident; never runs)

Only the session that moves a row from ``approved`` to ``running`` runs it (SQLite write
transactions are serial; the row's version counter refuses a stale update on PostgreSQL), so an
action never runs twice. A decision or run refused because the incident or the action is in the
wrong state is not an exception: it returns an :class:`Outcome` with ``refused`` set, and its
audit event (``step: refused``) is written in the same transaction.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from rcaflows.errors import StoreError
from rcaflows.incidents import lifecycle
from rcaflows.incidents.lifecycle import Action
from rcaflows.incidents.models import (
    EventKind,
    Incident,
    IncidentEvent,
    MitigationAction,
    MitigationStatus,
    RcaRun,
    RcaStatus,
)
from rcaflows.incidents.operations import mitigate
from rcaflows.incidents.service import _attached, _flush, get_incident, record_event
from rcaflows.mitigation.models import ActionKind, RunbookAction, WatchPolicy
from rcaflows.mitigation.runbooks import Hypothesis, TemplateError, filled, hypothesis_of, runbooks_for, select
from rcaflows.timeutil import now_utc
from rcaflows.vocab import OPEN_STATES

if TYPE_CHECKING:
    from rcaflows.config.models import SystemConfig
    from rcaflows.incidents import Store
    from rcaflows.mitigation.executors import ExecutionResult

_S = MitigationStatus


class MitigationError(StoreError):
    """A mitigation step cannot be taken (no runbook matches, an unknown action, a closed incident)."""


@dataclass(frozen=True)
class Outcome:
    """What a decision or run did; ``refused`` says why nothing changed."""

    action: str
    status: str
    refused: str | None = None


def latest_rca(session: Session, incident: Incident) -> dict[str, Any] | None:
    """Return the results of the incident's latest completed RCA run, if any."""
    stmt = (
        sa.select(RcaRun.results)
        .where(RcaRun.incident_id == incident.id, RcaRun.status == RcaStatus.COMPLETED)
        .order_by(RcaRun.started_at.desc(), RcaRun.id.desc())
        .limit(1)
    )
    return session.scalars(stmt).first()


def actions_of(session: Session, incident: Incident | int | str) -> list[MitigationAction]:
    """Return the incident's mitigation actions in proposal order."""
    inc = incident if isinstance(incident, Incident) else get_incident(session, incident)
    stmt = sa.select(MitigationAction).where(MitigationAction.incident_id == inc.id).order_by(MitigationAction.id)
    return list(session.scalars(stmt))


def _event(
    session: Session, inc: Incident, actor: str, step: str, act: MitigationAction, at: datetime, **kw: Any
) -> None:
    payload = {"step": step, "action": act.name, "runbook": act.runbook, "kind": act.kind, "status": act.status.value}
    record_event(session, inc, EventKind.MITIGATION, actor, {**payload, **kw}, at=at)


def _open(inc: Incident) -> str | None:
    if inc.state not in OPEN_STATES:
        return f"{inc.key} is {inc.state.value}; mitigations apply to open incidents only"
    return None


def propose(
    session: Session, cfg: SystemConfig, ref: Incident | int | str, actor: str, *, at: datetime | None = None
) -> tuple[Hypothesis, list[MitigationAction]]:
    """Propose the actions of the runbook matching the incident's top hypothesis; return them.

    Proposing again changes nothing (the ``mitigate`` flow re-runs from the top after a resume):
    an action already on record is returned as it is. An action whose parameters name a field the
    incident lacks is recorded ``invalid`` with the reason, and never runs.

    Raises:
        MitigationError: If the incident is not open, or no runbook matches it.
    """
    inc = _attached(session, ref)
    if why := _open(inc):
        raise MitigationError(f"cannot propose mitigations: {why}")
    when = at or now_utc()
    hyp = hypothesis_of(cfg, inc, latest_rca(session, inc))
    book = select(runbooks_for(cfg), hyp)
    if book is None:
        cause = f"{hyp.cause_kind} on {hyp.fields.get('cause_component')}" if hyp.cause_kind else "no RCA hypothesis"
        raise MitigationError(
            f"no runbook matches {inc.key} ({cause}, {inc.type.value} on {inc.component}); "
            "add one under mitigation.runbooks in the system config"
        )
    existing = {a.name: a for a in actions_of(session, inc)}
    out: list[MitigationAction] = []
    for spec in book.actions:
        if spec.name in existing:
            out.append(existing[spec.name])
            continue
        row = MitigationAction(
            incident_id=inc.id,
            runbook=book.name,
            name=spec.name,
            kind=spec.kind.value,
            spec=spec.model_dump(mode="json"),
            parameters={},
            status=_S.PROPOSED,
            auto=inc.severity in spec.auto,
            proposed_at=when,
            proposed_by=actor,
            attempts=0,
            result={},
        )
        try:
            row.parameters = filled(spec, hyp.fields)
        except TemplateError as exc:
            row.status, row.error = _S.INVALID, str(exc)
        session.add(row)
        session.flush()
        extra: dict[str, Any] = {"parameters": row.parameters, "auto": row.auto, "cause": hyp.cause_kind}
        if row.error:
            extra["error"] = row.error
        _event(session, inc, actor, "proposed", row, when, **extra)
        out.append(row)
    return hyp, out


def _action(session: Session, inc: Incident, name: str) -> MitigationAction:
    row = session.scalars(
        sa.select(MitigationAction).where(MitigationAction.incident_id == inc.id, MitigationAction.name == name)
    ).first()
    if row is None:
        names = ", ".join(a.name for a in actions_of(session, inc)) or "none yet; propose them first"
        raise MitigationError(f"{inc.key} has no proposed action {name!r}; its actions: {names}")
    return row


def decide(
    session: Session,
    ref: Incident | int | str,
    name: str,
    actor: str,
    *,
    approve: bool,
    parameters: dict[str, Any] | None = None,
    comment: str = "",
    at: datetime | None = None,
) -> Outcome:
    """Approve (optionally with edited parameters) or reject one proposed action.

    A decision on an action that is no longer ``proposed`` (another operator decided first), or
    on an incident that is no longer open, changes nothing and is recorded as ``refused``.

    Raises:
        MitigationError: If the incident has no such action.
    """
    inc = _attached(session, ref)
    row = _action(session, inc, name)
    when = at or now_utc()
    refused = _open(inc)
    if refused is None and row.status is not _S.PROPOSED:
        by = f" by {row.decided_by} at {row.decided_at.isoformat()}" if row.decided_by and row.decided_at else ""
        refused = f"action {name} of {inc.key} is already {row.status.value}{by}"
    if refused is not None:
        _event(session, inc, actor, "refused", row, when, refused=refused, wanted="approve" if approve else "reject")
        return Outcome(name, row.status.value, refused)
    edited: dict[str, Any] = {}
    if approve and parameters:
        key = "parameters" if row.kind == ActionKind.DEPLOYMENT.value else "body"
        if key not in row.parameters:
            raise MitigationError(f"action {name} ({row.kind}) takes no parameters to edit")
        edited = {k: v for k, v in parameters.items() if row.parameters[key].get(k) != v}
        row.parameters = {**row.parameters, key: {**row.parameters[key], **parameters}}
    row.status = _S.APPROVED if approve else _S.REJECTED
    row.decided_by, row.decided_at = actor, when
    _flush(session, inc)  # a concurrent decision on this row (PostgreSQL) fails here, before the event
    session.flush()
    _event(session, inc, actor, "approved" if approve else "rejected", row, when, comment=comment, edited=edited)
    return Outcome(name, row.status.value)


def auto_approve(session: Session, ref: Incident | int | str, actor: str, *, at: datetime | None = None) -> list[str]:
    """Approve every proposed action flagged ``auto`` for the incident's severity; return their names."""
    inc = _attached(session, ref)
    return [
        a.name
        for a in actions_of(session, inc)
        if a.status is _S.PROPOSED
        and a.auto
        and not decide(session, inc, a.name, actor, approve=True, comment="auto for its severity", at=at).refused
    ]


def claim(session: Session, ref: Incident | int | str, name: str, actor: str, *, at: datetime | None = None) -> Outcome:
    """Move an approved action to ``running`` for this caller, who alone then runs it."""
    inc = _attached(session, ref)
    row = _action(session, inc, name)
    when = at or now_utc()
    if row.status is not _S.APPROVED:
        refused = f"action {name} of {inc.key} is {row.status.value}, not approved; it is not run (again)"
        _event(session, inc, actor, "refused", row, when, refused=refused, wanted="run")
        return Outcome(name, row.status.value, refused)
    if why := _open(inc):
        row.status, row.finished_at = _S.CANCELLED, when
        session.flush()
        _event(session, inc, actor, "cancelled", row, when, refused=why)
        return Outcome(name, row.status.value, why)
    row.status, row.started_at = _S.RUNNING, when
    session.flush()
    _event(session, inc, actor, "started", row, when)
    return Outcome(name, row.status.value)


def record_attempt(
    session: Session,
    ref: Incident | int | str,
    name: str,
    actor: str,
    result: ExecutionResult,
    *,
    final: bool,
    watch: WatchPolicy | None = None,
    at: datetime | None = None,
) -> Outcome:
    """Record one attempt of a running action; the final one sets its status and, on success, mitigates.

    A success moves the incident to ``mitigated`` when the lifecycle allows it (from triaged,
    acknowledged or investigating) and starts its watch period; a failure leaves the incident's
    state as it was.
    """
    from rcaflows.mitigation.watch import start_watch

    inc = _attached(session, ref)
    row = _action(session, inc, name)
    when = at or now_utc()
    row.attempts += 1
    if result.flow_run_id:
        row.flow_run_id = result.flow_run_id
    info = {"attempt": row.attempts, "flow_run_id": result.flow_run_id, "detail": result.detail}
    if not result.ok and not final:
        session.flush()
        _event(session, inc, actor, "attempt_failed", row, when, error=result.error, **info)
        return Outcome(name, row.status.value)
    row.status = _S.SUCCEEDED if result.ok else _S.FAILED
    row.finished_at, row.result, row.error = when, dict(result.detail), result.error
    session.flush()
    _event(session, inc, actor, "succeeded" if result.ok else "failed", row, when, error=result.error, **info)
    if result.ok:
        if inc.state in lifecycle.TRANSITIONS[Action.MITIGATE].from_states:
            mitigate(session, inc, actor, comment=f"runbook action {name} ({row.runbook}) succeeded", at=at)
        start_watch(session, inc, actor, policy=watch or WatchPolicy(), reason=f"action {name}", at=when)
    return Outcome(name, row.status.value)


Executor = Callable[[MitigationAction], "ExecutionResult"]


def run_approved(
    store: Store,
    cfg: SystemConfig,
    ref: int | str,
    actor: str,
    execute: Executor | None = None,
    *,
    at: datetime | None = None,
) -> list[Outcome]:
    """Run every approved action of the incident once, in order, retrying each per its policy.

    Each action is claimed in one transaction, executed outside any transaction (a deployment
    run or a webhook takes time), and each attempt recorded in a transaction of its own. ``at``
    records the steps at that time instead of now (a simulated clock: the demo, a back-fill).
    """
    from rcaflows.mitigation.executors import execute_action

    run = execute or execute_action
    with store.session(readonly=True) as s:
        inc = get_incident(s, ref)
        policy = cfg.mitigation.watch_for(inc.type)
        names = [a.name for a in actions_of(s, inc) if a.status is _S.APPROVED]
    out: list[Outcome] = []
    for name in names:
        with store.session() as s:
            claimed = claim(s, ref, name, actor, at=at)
        if claimed.refused:
            out.append(claimed)
            continue
        with store.session(readonly=True) as s:
            row = _action(s, get_incident(s, ref), name)
            spec = RunbookAction.model_validate(row.spec)
            s.expunge(row)
        for attempt in range(spec.retries + 1):
            result = run(row)
            final = result.ok or attempt == spec.retries
            with store.session() as s:
                outcome = record_attempt(s, ref, name, actor, result, final=final, watch=policy, at=at)
            if final:
                out.append(outcome)
                break
            time.sleep(spec.retry_delay_s)
    return out


def action_dict(a: MitigationAction) -> dict[str, Any]:
    """Return a JSON-serializable view of an action."""

    def iso(ts: datetime | None) -> str | None:
        return ts.isoformat() if ts is not None else None

    return {
        "name": a.name,
        "runbook": a.runbook,
        "kind": a.kind,
        "status": a.status.value,
        "auto": a.auto,
        "parameters": a.parameters,
        "proposed_at": iso(a.proposed_at),
        "decided_by": a.decided_by,
        "decided_at": iso(a.decided_at),
        "started_at": iso(a.started_at),
        "finished_at": iso(a.finished_at),
        "attempts": a.attempts,
        "flow_run_id": a.flow_run_id,
        "result": a.result,
        "error": a.error,
        "effective": a.effective,
    }


def evidence_markdown(key: str, hyp: Hypothesis, rows: list[MitigationAction]) -> str:
    """Return the Markdown an approver reads: the top hypothesis, its evidence, and each proposed action."""
    f = hyp.fields
    lines = [f"## Mitigation of {key}: {f.get('type', '')} on {f.get('component', '')} ({f.get('severity', '')})", ""]
    if hyp.cause_kind:
        conf = f" (confidence {hyp.confidence:.0%})" if hyp.confidence is not None else ""
        lines += [f"**Top hypothesis:** {hyp.cause_kind} on `{f.get('cause_component')}`{conf}", ""]
        lines += [f"- {s}" for s in hyp.evidence[:5]] or ["- (no supporting sentences)"]
    else:
        lines += ["**No RCA hypothesis**: the runbook matched on the incident alone."]
    lines += ["", "| action | kind | status | what it does |", "|---|---|---|---|"]
    for r in rows:
        what = r.parameters.get("instructions") or r.parameters.get("deployment") or r.parameters.get("url") or ""
        params = r.parameters.get("parameters") or r.parameters.get("body")
        if params:
            what = f"{what} `{params}`"
        if r.error:
            what = f"{what} — cannot run: {r.error}"
        lines.append(f"| {r.name} | {r.kind} | {r.status.value} | {str(what).replace('|', '/')} |")
    lines += [
        "",
        "Set **approve** on each action to run, edit its **parameters** if needed, and fill in **approver**.",
        "Approving a manual step records that you did it.",
    ]
    return "\n".join(lines)


def ask_approval(session: Session, ref: Incident | int | str, actor: str, names: list[str]) -> list[str]:
    """Record that ``actor`` (a ``mitigate`` flow run) asks for a decision on ``names``; return what it asked.

    The flow re-runs from the top when it is resumed: the second call returns the names of the first
    (read back from the log), so the operator's answer is applied to exactly the actions the form
    showed, including any another operator decided meanwhile (those decisions are then refused, and
    recorded as such).
    """
    inc = _attached(session, ref)
    stmt = sa.select(IncidentEvent.payload).where(
        IncidentEvent.incident_id == inc.id, IncidentEvent.kind == EventKind.MITIGATION, IncidentEvent.actor == actor
    )
    for payload in session.scalars(stmt):
        if (payload or {}).get("step") == "awaiting":
            return list(payload.get("actions") or [])
    if names:
        payload = {"step": "awaiting", "kind": "approval", "action": ", ".join(names), "actions": list(names)}
        record_event(session, inc, EventKind.MITIGATION, actor, payload)
    return list(names)
