"""Incident roles from the on-call schedules, and responders added from the RCA's top cause.

For a P1/P2 incident (``oncall.roles.priorities``) :func:`assign_roles` makes the owning team's
on-call primary the incident commander and the comms team's primary (or the owning team's
secondary) the communications lead. :func:`add_responders_from_rca` adds the team owning the
top-ranked root-cause component, when it is another team, as a responder with the reason, and
pages its on-call person; with ``oncall.roles.on_other_team: reassign`` it hands the incident to
that team instead (:func:`reassign_from_rca`: the audited ``assign`` operation, the new team's
channels and escalation policy, the old team told why, the new one paged). Every assignment is a
``note`` event with ``role``, ``responder`` or ``reassigned_to`` in its payload (who, why, by
whom), so the roles are read back from the audit log (:func:`roles_of`); each is recorded once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from rcaflows.config.models import SystemConfig
from rcaflows.incidents import EventKind, Incident, Store, cancel_escalations, events, get_incident, record_event
from rcaflows.notify import dispatch
from rcaflows.timeutil import now_utc, utc
from rcaflows.triage.oncall import page_dispatch, schedule_for, who_is_on_call

__all__ = [
    "add_responders_from_rca",
    "assign_roles",
    "draft_vendor_ticket",
    "escalate_inconclusive",
    "on_rca_completed",
    "reassign_from_rca",
    "roles_of",
    "vendor_ticket",
]

ACTOR = "roles"


def roles_of(store: Store, incident_ref: Incident | int | str) -> dict[str, Any]:
    """Return the recorded roles, responders and reassignments: ``{"incident_commander": {...}, "responders": []}``."""
    out: dict[str, Any] = {"responders": [], "reassignments": []}
    with store.session(readonly=True) as s:
        for e in events(s, get_incident(s, incident_ref)):
            p = e.payload or {}
            if e.kind is EventKind.NOTE and e.actor == ACTOR:
                if "role" in p:
                    out[p["role"]] = {**p, "at": e.at.isoformat()}
                if "responder" in p:
                    out["responders"].append({**p, "at": e.at.isoformat()})
                if "reassigned_to" in p:
                    out["reassignments"].append({**p, "at": e.at.isoformat()})
    return out


def assign_roles(
    store: Store,
    config: SystemConfig,
    incident_ref: Incident | int | str,
    *,
    at: datetime | None = None,
    base_dir: Path | None = None,
) -> list[dict[str, Any]]:
    """Assign the incident commander and comms lead of a P1/P2 incident from who is on call; return the new ones.

    A role nobody holds is recorded with ``person: None`` and the reason (never silently skipped).
    """
    when = utc(at) if at is not None else now_utc()
    rc = config.oncall.roles
    with store.session(readonly=True) as s:
        inc = get_incident(s, incident_ref)
        key, team, priority = inc.key, inc.team, inc.priority
    if priority not in rc.priorities:
        return []
    have = roles_of(store, key)
    wanted: list[dict[str, Any]] = []
    if "incident_commander" not in have:
        answer = who_is_on_call(config, team, when, base_dir=base_dir)
        held = answer.primary if answer else None
        wanted.append(
            {
                "role": "incident_commander",
                "person": held.person if held else None,
                "why": (
                    f"on-call primary of {team}: {held.why}"
                    if held
                    else f"nobody is on call for {team}"
                    + ("" if answer else " (no schedule)")
                    + f"; {priority.value} needs a commander"
                ),
            }
        )
    if "comms_lead" not in have:
        comms_team = rc.comms_team or team
        answer = who_is_on_call(config, comms_team, when, base_dir=base_dir)
        held = (answer.primary if rc.comms_team else answer.secondary) if answer else None
        what = f"on-call primary of {comms_team}" if rc.comms_team else f"on-call secondary of {team}"
        wanted.append(
            {
                "role": "comms_lead",
                "person": held.person if held else None,
                "why": f"{what}: {held.why}" if held else f"nobody is {what}",
            }
        )
    with store.session() as s:
        for item in wanted:
            record_event(s, key, EventKind.NOTE, ACTOR, {**item, "priority": priority.value}, at=when)
    return wanted


def _owner(config: SystemConfig, component: str) -> str | None:
    comp = config.component(component)
    return comp.team if comp is not None else None


def _other_team(
    store: Store, config: SystemConfig, incident_ref: Incident | int | str
) -> tuple[str, Any, dict[str, Any], Incident, str, str] | None:
    """Return ``(key, run, top, incident, team, reason)`` when the latest RCA's top cause is another team's.

    None when there is no top hypothesis, its component has no team or is the owning team's, or its
    confidence is below ``oncall.roles.min_confidence``.
    """
    rc = config.oncall.roles
    key, run, top, inc = _latest_top(store, incident_ref)
    if top is None:
        return None
    conf = float(top.get("confidence") or 0.0)
    team = _owner(config, str(top["component"]))
    if team is None or team == inc.team or conf < rc.min_confidence:
        return None
    reason = (
        f"RCA ranks {top['component']} ({top.get('kind', '?')}, {conf:.0%} confidence) as the most likely "
        f"root cause; {top['component']} is owned by {team}"
    )
    return key, run, top, inc, team, reason


def _page_target(config: SystemConfig, team: str) -> list[str]:
    """Return how a team is paged: its on-call person when it has a schedule, else its channels."""
    from rcaflows.triage.escalation import resolve_targets

    return [f"oncall:{team}"] if schedule_for(config, team) is not None else resolve_targets([f"team:{team}"], config)


def add_responders_from_rca(
    store: Store,
    config: SystemConfig,
    incident_ref: Incident | int | str,
    *,
    at: datetime | None = None,
    base_dir: Path | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[dict[str, Any]]:
    """Add the team owning the latest RCA's top cause as a responder (when it is another team) and page it.

    With ``oncall.roles.on_other_team: reassign`` the incident is handed to that team instead
    (:func:`reassign_from_rca`). Returns the responders added or the reassignment (empty when the
    top cause is the owning team's, too weak, or already acted on).
    """
    rc = config.oncall.roles
    if not rc.responders_from_rca:
        return []
    when = utc(at) if at is not None else now_utc()
    found = _other_team(store, config, incident_ref)
    if found is None:
        return []
    key, run, top, _inc, team, reason = found
    if rc.on_other_team == "reassign" and not _recorded(store, key, "reassigned_from", team):
        return reassign_from_rca(store, config, key, at=when, base_dir=base_dir, sleep=sleep)
    if any(r.get("responder") == team for r in roles_of(store, key)["responders"]):
        return []
    item = {"responder": team, "reason": reason, "component": top["component"], "rca_run": run.id if run else None}
    with store.session() as s:
        record_event(s, key, EventKind.NOTE, ACTOR, item, at=when)
    page_dispatch(when, base_dir=base_dir)(
        store,
        key,
        _page_target(config, team),
        f"added as responder: {reason}",
        ACTOR,
        config=config,
        sleep=sleep,
        force=True,
    )
    return [item]


def reassign_from_rca(
    store: Store,
    config: SystemConfig,
    incident_ref: Incident | int | str,
    *,
    at: datetime | None = None,
    base_dir: Path | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[dict[str, Any]]:
    """Hand the incident to the team owning the RCA's top cause, as routing would have, and tell both teams.

    In one transaction: the ``assign`` operation (audited, with the previous team and assignee) to the
    new team's on-call primary; the incident's channels and escalation policy become the new team's
    (pending steps of the old policy are cancelled, the new policy is planned from now); a ``roles``
    note records who, from whom and why. After the commit the old team's channels are told why and
    the new team is paged (its on-call person, else its channels). A team the RCA already took the
    incident from is never given it back this way (the caller adds it as a responder instead).

    Returns:
        The reassignment record, or an empty list when there is nothing to reassign or the incident
        is no longer open (the refusal is recorded).
    """
    from rcaflows.errors import TransitionError
    from rcaflows.incidents.operations import assign
    from rcaflows.triage.escalation import replan_escalation, resolve_targets, snapshot_policy

    when = utc(at) if at is not None else now_utc()
    found = _other_team(store, config, incident_ref)
    if found is None:
        return []
    key, run, top, inc, team, reason = found
    old_team = inc.team
    answer = who_is_on_call(config, team, when, base_dir=base_dir)
    assignee = answer.primary.person if answer is not None and answer.primary is not None else f"team:{team}"
    team_cfg = next((t for t in config.teams if t.name == team), None)
    policy = team_cfg.escalation_policy if team_cfg is not None else None
    channels = resolve_targets([f"team:{team}"], config)
    item: dict[str, Any] = {
        "reassigned_to": team,
        "reassigned_from": old_team,
        "assignee": assignee,
        "reason": reason,
        "component": top["component"],
        "rca_run": run.id if run else None,
        "channels": channels,
        "escalation_policy": policy,
    }
    try:
        with store.session() as s:
            live = get_incident(s, key, for_update=True)
            if live.team != old_team:  # a person or another run moved it meanwhile: theirs wins
                return []
            assign(s, live, assignee, ACTOR, team=team, at=when)
            esc = dict(live.details.get("escalation") or {})
            live.details = {
                **live.details,
                "channels": channels,
                "escalation_policy": policy,
                "escalation": {
                    **esc,
                    "policy": policy,
                    "snapshot": snapshot_policy(config, policy) if policy else None,
                },
            }
            planned = len(replan_escalation(s, live, when)) if policy else 0
            if not policy:
                cancel_escalations(s, live, ("ack", "resolve"), ACTOR, when)
            record_event(s, live, EventKind.NOTE, ACTOR, {**item, "planned_steps": planned}, at=when)
    except TransitionError as exc:
        with store.session() as s:
            refused = {"reassign_refused": team, "reason": f"{reason}; not reassigned: {exc}"}
            record_event(s, key, EventKind.NOTE, ACTOR, refused, at=now_utc())
        return []
    told = resolve_targets([f"team:{old_team}"], config) or _page_target(config, old_team)
    if told:
        dispatch(
            store,
            key,
            told,
            f"reassigned from {old_team} to {team}: {reason}",
            ACTOR,
            config=config,
            sleep=sleep,
            force=True,
        )
    page_dispatch(when, base_dir=base_dir)(
        store,
        key,
        _page_target(config, team),
        f"reassigned to {team} (from {old_team}): {reason}",
        ACTOR,
        config=config,
        sleep=sleep,
        force=True,
    )
    return [{**item, "told": told}]


def _latest_top(store: Store, incident_ref: Incident | int | str) -> tuple[str, Any, dict[str, Any] | None, Incident]:
    """Return the incident's key, its latest RCA run, that run's top hypothesis (None without one) and the incident."""
    from rcaflows.notify.service import latest_rca

    with store.session(readonly=True) as s:
        inc = get_incident(s, incident_ref)
        run = latest_rca(s, inc.id)
        hyps = ((run.results or {}).get("hypotheses") or []) if run is not None else []
        s.expunge(inc)
    return inc.key, run, (hyps[0] if hyps else None), inc


def _recorded(store: Store, key: str, field: str, value: Any) -> bool:
    """Return True when a ``roles`` note with ``field == value`` is already on the incident."""
    with store.session(readonly=True) as s:
        return any(
            e.kind is EventKind.NOTE and e.actor == ACTOR and (e.payload or {}).get(field) == value
            for e in events(s, get_incident(s, key))
        )


def escalate_inconclusive(
    store: Store,
    config: SystemConfig,
    incident_ref: Incident | int | str,
    *,
    at: datetime | None = None,
    base_dir: Path | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[dict[str, Any]]:
    """Escalate an RCA whose top hypothesis is below ``oncall.roles.inconclusive_below`` to the specialists, once."""
    rc = config.oncall.roles
    if not rc.specialists:
        return []
    key, run, top, _inc = _latest_top(store, incident_ref)
    if run is None:
        return []
    conf = float(top.get("confidence") or 0.0) if top is not None else 0.0
    if conf >= rc.inconclusive_below or _recorded(store, key, "inconclusive_rca", run.id):
        return []
    best = f"{top['component']} at {conf:.0%}" if top is not None else "no hypothesis"
    reason = f"RCA run {run.id} is inconclusive (top hypothesis {best}, below {rc.inconclusive_below:.0%})"
    item = {"inconclusive_rca": run.id, "escalated_to": list(rc.specialists), "reason": reason}
    when = utc(at) if at is not None else now_utc()
    with store.session() as s:
        record_event(s, key, EventKind.NOTE, ACTOR, item, at=when)
    from rcaflows.triage.escalation import resolve_targets

    page_dispatch(when, base_dir=base_dir)(
        store, key, resolve_targets(rc.specialists, config), reason, ACTOR, config=config, sleep=sleep, force=True
    )
    return [item]


def vendor_ticket(config: SystemConfig, incident: Incident, top: dict[str, Any] | None) -> tuple[Any, str] | None:
    """Return the vendor behind the incident (its RCA's top cause first, then its components) and a ticket draft."""
    details = incident.details or {}
    candidates = [str(top["component"])] if top is not None else []
    candidates += [incident.component, *(details.get("components") or [])]
    vendor, comp = next(((v, c) for c in candidates for v in config.vendors if c in v.components), (None, None))
    if vendor is None:
        return None
    detected = utc(incident.detected_at)
    onset = details.get("onset") or detected.isoformat()
    due = detected + vendor.sla_response
    lines = [
        f"To: {vendor.contact} ({vendor.name})",
        f"Subject: [{incident.severity.value}] {comp} degraded since {onset} (our ref {incident.key})",
        "",
        f"Since {onset} our calls to {comp} are failing or slow: {incident.title}.",
        f"Detected by our monitoring at {detected.isoformat()}; severity {incident.severity.value}, "
        f"priority {incident.priority.value}.",
    ]
    if top is not None and top.get("component") == comp:
        lines.append(
            f"Our root-cause analysis ranks {comp} first ({float(top.get('confidence') or 0):.0%} confidence)."
        )
    lines += [
        f"Under the SLA a response is due by {due.isoformat()} ({vendor.sla_response} after detection).",
        "Escalation path if it is missed: " + (" -> ".join(vendor.escalation) or "none declared") + ".",
        "",
        "DRAFT FOR REVIEW: check the facts and remove internal details before sending.",
    ]
    return vendor, "\n".join(lines)


def draft_vendor_ticket(
    store: Store,
    config: SystemConfig,
    incident_ref: Incident | int | str,
    *,
    at: datetime | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[dict[str, Any]]:
    """Draft, once, the ticket text for the vendor behind a dependency incident; record it and send it for review."""
    if not config.vendors:
        return []
    key, _run, top, inc = _latest_top(store, incident_ref)
    drafted = vendor_ticket(config, inc, top)
    if drafted is None or _recorded(store, key, "vendor", drafted[0].name):
        return []
    vendor, text = drafted
    item = {
        "vendor": vendor.name,
        "contact": vendor.contact,
        "sla_due": (utc(inc.detected_at) + vendor.sla_response).isoformat(),
        "ticket": text,
    }
    when = utc(at) if at is not None else now_utc()
    with store.session() as s:
        record_event(s, key, EventKind.NOTE, ACTOR, item, at=when)
    if vendor.review_channel is not None:
        dispatch(
            store,
            key,
            [vendor.review_channel],
            f"vendor ticket draft for {vendor.name}:\n{text}",
            ACTOR,
            config=config,
            sleep=sleep,
            force=True,
        )
    return [item]


def on_rca_completed(event: Any, ctx: Any) -> list[dict[str, Any]]:
    """Subscriber (:mod:`rcaflows.wiring`, on ``RcaCompleted``): responders, specialists, the vendor ticket."""
    if not isinstance(getattr(ctx, "config", None), SystemConfig):
        return []
    at = getattr(event, "at", None)
    return [
        *add_responders_from_rca(ctx.store, ctx.config, event.incident_id, at=at),
        *escalate_inconclusive(ctx.store, ctx.config, event.incident_id, at=at),
        *draft_vendor_ticket(ctx.store, ctx.config, event.incident_id, at=at),
    ]
