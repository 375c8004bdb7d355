"""Escalation: a policy snapshot planned as rows of ``escalation_steps``, and the engine that fires due ones.

When an incident opens, :func:`plan_escalation` copies its team's policy (with the levels of the
policies it continues into, ``then``) onto the incident (``details["escalation"]``) and inserts one
``pending`` step per planned escalation, so config edits never reach open incidents:

========== ==================================================== ======== =====
kind        when                                                 until    page
========== ==================================================== ======== =====
immediate   severity at or worse than ``page_at_once``: at once  ack      yes
level       unacknowledged ``after`` each level                  ack      level
management  unresolved after ``unresolved_after``                resolve  no
coordinator ``coordinator_at`` or more components or teams       resolve  no
executive   compliance or revenue impact (``executive_for``)     resolve  no
========== ==================================================== ======== =====

A ``suspected`` incident gets no paging step. :func:`on_transition` subscribes to the lifecycle
events (:mod:`rcaflows.wiring`): after an acknowledgement commits it cancels the ``until=ack``
steps, after a resolution or closing every pending step, and after a reopen it plans the
snapshot again from the reopening. Nothing escalates after an ack or a resolution even before
(or without) that subscriber: the engine re-reads the incident under its lock and never fires
an ``until=ack`` step of an acknowledged incident, nor any step of a closed one; it cancels them
instead. An acknowledgement with an expiry lapses (:func:`lapse_acknowledgements`): the incident
returns to ``triaged`` and the cancelled steps are planned again with the time they had left. A
snoozed incident's steps wait until the snooze ends.

:func:`escalate_due` fires the due steps: each firing is a conditional update of the step
(``pending`` -> ``fired``) and one ``escalation`` audit event in one transaction that also
re-reads the incident's state; then, after the commit, the targets go to
``rcaflows.notify.dispatch`` (a delivery failure never undoes the escalation).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from rcaflows.config.models import EscalationLevel, EscalationPolicy, SystemConfig
from rcaflows.errors import ConfigError
from rcaflows.incidents import (
    Action,
    EventKind,
    Incident,
    Store,
    cancel_escalations,
    get_incident,
    record_event,
    transition,
)
from rcaflows.incidents.lifecycle_events import Context, IncidentReopened, IncidentTransitioned
from rcaflows.incidents.models import EscalationStep, StepStatus
from rcaflows.timeutil import format_duration, now_utc, parse_duration, utc
from rcaflows.vocab import OPEN_STATES, IncidentState, Severity

log = logging.getLogger(__name__)

ACTOR = "escalation"


def policy_chain(config: SystemConfig, name: str) -> list[EscalationPolicy]:
    """Return the policy ``name`` followed by the policies it continues into via ``then``.

    Raises:
        ConfigError: If a policy is unknown or the chain has a cycle (the loader refuses both first).
    """
    by_name = {p.name: p for p in config.escalation}
    chain: list[EscalationPolicy] = []
    current: str | None = name
    while current is not None:
        if current not in by_name:
            raise ConfigError(f"escalation: unknown escalation policy {current!r}; expected one of {sorted(by_name)}")
        if any(p.name == current for p in chain):
            names = " -> ".join([*(p.name for p in chain), current])
            raise ConfigError(f"escalation: policies form a cycle ({names}); break it")
        chain.append(by_name[current])
        current = by_name[current].then
    return chain


def snapshot_policy(config: SystemConfig, name: str) -> dict[str, Any]:
    """Return the JSON snapshot of policy ``name``: its settings, with the ``then`` chain's levels appended.

    A continued policy's levels start after the previous policy's last level.
    """
    chain = policy_chain(config, name)
    levels: list[dict[str, Any]] = []
    offset = timedelta(0)
    for p in chain:
        for lvl in p.levels:
            levels.append({"after": format_duration(offset + lvl.after), "notify": list(lvl.notify), "page": lvl.page})
        if p.levels:
            offset += p.levels[-1].after
    head = chain[0]
    snap = head.model_dump(mode="json", exclude={"levels", "then"})
    return {**snap, "levels": levels, "chain": [p.name for p in chain]}


def resolve_targets(targets: Sequence[str], config: SystemConfig | None) -> list[str]:
    """Return the channel names of ``targets``: ``team:<name>`` expands to the team's channels."""
    out: list[str] = []
    teams = {t.name: t for t in config.teams} if config is not None else {}
    for tgt in targets:
        names = list(teams[tgt[5:]].channels) if tgt.startswith("team:") and tgt[5:] in teams else [tgt]
        out += [n for n in names if n not in out]
    return out


@dataclass(frozen=True)
class PlannedStep:
    """One step to insert: level, kind, offset from the plan's start, reason, targets, page, until."""

    level: int
    kind: str
    after: timedelta
    reason: str
    targets: list[str]
    page: bool
    until: str


def planned_steps(
    snapshot: dict[str, Any],
    *,
    severity: Severity,
    suspected: bool,
    n_components: int,
    n_teams: int,
    impact: dict[str, float],
    incident_type: str = "",
) -> list[PlannedStep]:
    """Return the steps a policy snapshot plans for an incident (pure; see the module table)."""
    levels = [EscalationLevel.model_validate(lvl) for lvl in snapshot.get("levels", [])]
    out: list[PlannedStep] = []
    page_at = snapshot.get("page_at_once")
    if page_at is not None and severity.rank <= Severity(page_at).rank and not suspected:
        targets = list(snapshot.get("immediate") or (levels[0].notify if levels else []))
        if targets:
            out.append(
                PlannedStep(0, "immediate", timedelta(0), f"severity {severity}: page at once", targets, True, "ack")
            )
    for i, lvl in enumerate(levels, start=1):
        if lvl.page and suspected:
            continue
        why = f"unacknowledged for {format_duration(lvl.after)}: level {i}"
        out.append(PlannedStep(i, "level", lvl.after, why, list(lvl.notify), lvl.page, "ack"))
    top = len(levels) + 1
    if snapshot.get("unresolved_after") and snapshot.get("management"):
        after = parse_duration(snapshot["unresolved_after"])
        why = f"unresolved for {format_duration(after)}: management"
        out.append(PlannedStep(top, "management", after, why, list(snapshot["management"]), False, "resolve"))
    k = snapshot.get("coordinator_at")
    if k is not None and snapshot.get("coordinator") and max(n_components, n_teams) >= k:
        why = f"{n_components} components / {n_teams} teams involved (>= {k}): cross-team coordinator"
        out.append(PlannedStep(top, "coordinator", timedelta(0), why, list(snapshot["coordinator"]), False, "resolve"))
    impacts = []
    if "compliance" in snapshot.get("executive_for", []) and impact.get("compliance", 0) > 0:
        impacts.append(f"compliance ({incident_type})" if incident_type else "compliance")
    if "revenue" in snapshot.get("executive_for", []) and impact.get("business", 0) >= snapshot.get("revenue_at", 0.9):
        impacts.append(f"revenue (business impact {impact.get('business', 0):.2f})")
    if impacts and snapshot.get("executive"):
        why = f"business impact: {', '.join(impacts)}: executive notice"
        out.append(PlannedStep(top, "executive", timedelta(0), why, list(snapshot["executive"]), False, "resolve"))
    return out


def _insert(
    session: Session, incident: Incident, steps: Sequence[PlannedStep], start: datetime
) -> list[EscalationStep]:
    now = now_utc()
    rows = [
        EscalationStep(
            incident_id=incident.id,
            level=st.level,
            kind=st.kind,
            due_at=start + st.after,
            reason=st.reason,
            targets=list(st.targets),
            page=st.page,
            until=st.until,
            status=StepStatus.PENDING,
            created_at=now,
        )
        for st in steps
    ]
    session.add_all(rows)
    session.flush()
    return rows


def plan_escalation(
    session: Session,
    incident: Incident,
    config: SystemConfig,
    policy: str | None,
    *,
    confidence: str = "detected",
    teams_involved: Sequence[str] = (),
    impact: dict[str, float] | None = None,
) -> list[EscalationStep]:
    """Copy ``policy`` onto a newly opened incident and insert its pending steps, due from detection.

    With no policy the incident records ``{"policy": None}`` and gets no steps.
    """
    if policy is None:
        incident.details = {**incident.details, "escalation": {"policy": None}}
        session.flush()
        return []
    snap = snapshot_policy(config, policy)
    comps = incident.details.get("components") or [incident.component]
    ctx: dict[str, Any] = {
        "confidence": confidence,
        "n_components": len(comps),
        "n_teams": len(set(teams_involved)),
        "impact": dict(impact or {}),
    }
    incident.details = {**incident.details, "escalation": {"policy": policy, "snapshot": snap, "context": ctx}}
    session.flush()
    steps = planned_steps(
        snap,
        severity=incident.severity,
        suspected=confidence == "suspected",
        n_components=ctx["n_components"],
        n_teams=ctx["n_teams"],
        impact=ctx["impact"],
        incident_type=str(incident.type),
    )
    return _insert(session, incident, steps, incident.detected_at)


def replan_escalation(session: Session, incident: Incident, start: datetime) -> list[EscalationStep]:
    """Plan the incident's snapshot again from ``start`` (a reopen, a regression); pending steps are cancelled first.

    An earlier acknowledgement no longer holds the new ``until=ack`` steps: it is marked ``replanned_at``.
    """
    esc = incident.details.get("escalation") or {}
    if not esc.get("snapshot"):
        return []
    cancel_escalations(session, incident, ("ack", "resolve"), ACTOR, start)
    ack = incident.details.get("ack")
    if ack and not ack.get("lapsed_at") and not ack.get("replanned_at"):
        incident.details = {**incident.details, "ack": {**ack, "replanned_at": start.isoformat()}}
    ctx = esc.get("context", {})
    steps = planned_steps(
        esc["snapshot"],
        severity=incident.severity,
        suspected=ctx.get("confidence") == "suspected",
        n_components=int(ctx.get("n_components", 1)),
        n_teams=int(ctx.get("n_teams", 1)),
        impact=dict(ctx.get("impact", {})),
        incident_type=str(incident.type),
    )
    return _insert(session, incident, steps, start)


# What ends which pending steps: entering ``acknowledged`` the ``until=ack`` ones, entering
# ``resolved`` / ``closed`` every one.
CANCELS: dict[IncidentState, tuple[str, ...]] = {
    IncidentState.ACKNOWLEDGED: ("ack",),
    IncidentState.RESOLVED: ("ack", "resolve"),
    IncidentState.CLOSED: ("ack", "resolve"),
}


def on_transition(event: IncidentTransitioned, ctx: Context) -> int:
    """Subscriber: cancel the steps a committed ack/resolve/close ends, or re-plan a reopened incident.

    The cancellation is stamped with the transition's time (a lapsing ack restores the steps it
    cancelled by that time) and audited as one ``note`` with the count. Returns the steps cancelled
    or planned.
    """
    if not isinstance(event, IncidentReopened) and event.to_state not in CANCELS:
        return 0
    with ctx.store.session() as s:
        inc = get_incident(s, event.incident_id, for_update=True)
        if inc.state is not event.to_state:
            return 0  # a later change already superseded this one; its own event handles the steps
        if isinstance(event, IncidentReopened):
            return len(replan_escalation(s, inc, event.at))
        n = cancel_escalations(s, inc, CANCELS[event.to_state], ACTOR, event.at)
        if n:
            record_event(
                s,
                inc,
                EventKind.NOTE,
                ACTOR,
                {"cancelled_steps": n, "after": event.action, "until": list(CANCELS[event.to_state])},
                at=event.at,
            )
        return n


def steps_of(session: Session, incident: Incident | int | str) -> list[EscalationStep]:
    """Return the incident's escalation steps in due order."""
    inc = get_incident(session, incident) if not isinstance(incident, Incident) else incident
    stmt = (
        sa.select(EscalationStep)
        .where(EscalationStep.incident_id == inc.id)
        .order_by(EscalationStep.due_at, EscalationStep.id)
    )
    return list(session.scalars(stmt))


def step_dict(step: EscalationStep) -> dict[str, Any]:
    """Return a JSON-ready view of one step."""
    return {
        "id": step.id,
        "level": step.level,
        "kind": step.kind,
        "due_at": step.due_at.isoformat(),
        "reason": step.reason,
        "targets": list(step.targets),
        "page": step.page,
        "until": step.until,
        "status": step.status.value,
        "closed_at": step.closed_at.isoformat() if step.closed_at else None,
        "closed_by": step.closed_by,
    }


# -- the engine --------------------------------------------------------------------------------


@dataclass(frozen=True)
class FiredStep:
    """A step that fired: which incident, which step, and the channels it goes to."""

    incident: str
    incident_id: int
    step_id: int
    level: int
    kind: str
    reason: str
    targets: list[str]
    channels: list[str]
    page: bool
    event_id: int


def _acknowledged(incident: Incident) -> bool:
    """Return True if the incident is acknowledged now, or was and moved on with the ack still holding.

    An ack stops holding when it lapses or when the escalation is planned anew (a regression).
    """
    ack = incident.details.get("ack") or {}
    holds = ack.get("at") and not ack.get("lapsed_at") and not ack.get("replanned_at")
    return incident.state is IncidentState.ACKNOWLEDGED or bool(holds)


def _snoozed_until(incident: Incident) -> datetime | None:
    raw = (incident.details.get("snooze") or {}).get("until")
    return utc(raw) if raw else None


def _fire_incident(session: Session, incident_id: int, at: datetime, config: SystemConfig | None) -> list[FiredStep]:
    """Fire the incident's due pending steps inside ``session`` (the caller's transaction)."""
    # Lock the incident row (PostgreSQL; SQLite write sessions are serial already), then re-read its
    # state: an ack or resolve that committed first has cancelled the steps, one that comes later waits.
    inc = session.scalars(
        sa.select(Incident)
        .where(Incident.id == incident_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    if inc.state not in OPEN_STATES:
        # Resolved or closed: whatever is still pending never fires (its subscriber may not have run yet).
        cancel_escalations(session, inc, CANCELS[IncidentState.RESOLVED], ACTOR, at)
        return []
    snoozed = _snoozed_until(inc)
    if snoozed is not None and snoozed > at:
        return []
    due = session.scalars(
        sa.select(EscalationStep)
        .where(
            EscalationStep.incident_id == incident_id,
            EscalationStep.status == StepStatus.PENDING,
            EscalationStep.due_at <= at,
        )
        .order_by(EscalationStep.due_at, EscalationStep.id)
        .execution_options(populate_existing=True)
    ).all()
    fired: list[FiredStep] = []
    for step in due:
        if step.until == "ack" and _acknowledged(inc):
            continue  # the ack committed; its subscriber cancels the step (never page an acked incident)
        res = session.execute(
            sa.update(EscalationStep)
            .where(EscalationStep.id == step.id, EscalationStep.status == StepStatus.PENDING)
            .values(status=StepStatus.FIRED, closed_at=at, closed_by=ACTOR)
            .execution_options(synchronize_session=False)
        )
        if getattr(res, "rowcount", 0) != 1:
            continue  # another run fired or cancelled it first
        channels = resolve_targets(step.targets, config)
        ev = record_event(
            session,
            inc,
            EventKind.ESCALATION,
            ACTOR,
            {
                "step": step.id,
                "level": step.level,
                "kind": step.kind,
                "reason": step.reason,
                "targets": list(step.targets),
                "channels": channels,
                "page": step.page,
                "due_at": step.due_at.isoformat(),
            },
            at=at,
        )
        fired.append(
            FiredStep(
                inc.key,
                inc.id,
                step.id,
                step.level,
                step.kind,
                step.reason,
                list(step.targets),
                channels,
                step.page,
                ev.id,
            )
        )
    return fired


def _default_dispatch() -> Callable[..., Any] | None:
    try:
        from rcaflows.notify import dispatch
    except ImportError:
        return None
    return dispatch


def escalate_due(
    store: Store,
    config: SystemConfig | None = None,
    at: datetime | None = None,
    *,
    dispatch: Callable[..., Any] | bool | None = True,
) -> list[FiredStep]:
    """Lapse expired acknowledgements, then fire every due escalation step and hand it to notification.

    Args:
        store: The incident store.
        config: The system config, to expand ``team:`` targets and resolve channels for delivery.
        at: The time to escalate at (default now).
        dispatch: ``True``: ``rcaflows.notify.dispatch`` when importable; ``False``/``None``: record
            only; or a callable with ``dispatch``'s signature.

    Returns:
        The steps fired, in order.
    """
    when = utc(at) if at is not None else now_utc()
    lapse_acknowledgements(store, when)
    with store.session(readonly=True) as s:
        ids = list(
            s.scalars(
                sa.select(EscalationStep.incident_id)
                .where(EscalationStep.status == StepStatus.PENDING, EscalationStep.due_at <= when)
                .distinct()
                .order_by(EscalationStep.incident_id)
            )
        )
    fired: list[FiredStep] = []
    for incident_id in ids:
        with store.session() as s:
            fired += _fire_incident(s, incident_id, when, config)
    send = _default_dispatch() if dispatch is True else (dispatch or None)
    if send is not None:
        for f in fired:
            if not f.channels:
                continue
            try:
                send(
                    store,
                    f.incident_id,
                    f.channels,
                    f"escalation level {f.level}: {f.reason}",
                    ACTOR,
                    config=config,
                    force=True,  # unchanged content must still reach the escalation's targets
                )
            except Exception:  # delivery is recorded by the notifier; never undo the escalation
                log.exception("escalation %s of %s: notification failed", f.step_id, f.incident)
    return fired


def lapse_acknowledgements(store: Store, at: datetime | None = None) -> list[str]:
    """Return to ``triaged`` every acknowledged incident whose ack expired, re-planning its cancelled steps.

    The lapse is recorded at the expiry time, and each re-planned step is due the time it had left
    when the acknowledgement cancelled it after that.
    """
    when = utc(at) if at is not None else now_utc()
    with store.session(readonly=True) as s:
        candidates = [
            i.id
            for i in s.scalars(sa.select(Incident).where(Incident.state == IncidentState.ACKNOWLEDGED))
            if (exp := (i.details.get("ack") or {}).get("expires_at")) and utc(exp) <= when
        ]
    lapsed: list[str] = []
    for incident_id in candidates:
        with store.session() as s:
            inc = s.get(Incident, incident_id, populate_existing=True)
            ack = (inc.details.get("ack") or {}) if inc is not None else {}
            if inc is None or inc.state is not IncidentState.ACKNOWLEDGED or not ack.get("expires_at"):
                continue
            if utc(ack["expires_at"]) > when:
                continue
            acked_at, lapsed_at = utc(ack["at"]), utc(ack["expires_at"])
            cancelled = s.scalars(
                sa.select(EscalationStep).where(
                    EscalationStep.incident_id == inc.id,
                    EscalationStep.status == StepStatus.CANCELLED,
                    EscalationStep.until == "ack",
                    EscalationStep.closed_at == acked_at,
                )
            ).all()
            inc.details = {**inc.details, "ack": {**ack, "lapsed_at": lapsed_at.isoformat()}}
            transition(s, inc, Action.UNACKNOWLEDGE, ACTOR, at=lapsed_at, reason="acknowledgement expired")
            again = [
                PlannedStep(
                    st.level,
                    st.kind,
                    max(st.due_at - acked_at, timedelta(0)),
                    f"{st.reason} (ack by {ack.get('by', '?')} lapsed)",
                    list(st.targets),
                    st.page,
                    st.until,
                )
                for st in cancelled
            ]
            _insert(s, inc, again, lapsed_at)
            lapsed.append(inc.key)
    return lapsed
