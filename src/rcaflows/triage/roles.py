"""Incident roles from the on-call schedules, and responders added from the RCA's top cause.

For a P1/P2 incident (``oncall.roles.priorities``) :func:`assign_roles` makes the owning team's
on-call primary the incident commander and the comms team's primary (or the owning team's
secondary) the communications lead. :func:`add_responders_from_rca` adds the team owning the
top-ranked root-cause component, when it is another team, as a responder with the reason, and
pages its on-call person. Every assignment is a ``note`` event with ``role`` or ``responder``
in its payload (who, why, by whom), so the roles are read back from the audit log
(:func:`roles_of`); each is recorded once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from rcaflows.config.models import SystemConfig
from rcaflows.incidents import EventKind, Incident, Store, events, get_incident, record_event
from rcaflows.timeutil import now_utc, utc
from rcaflows.triage.oncall import page_dispatch, schedule_for, who_is_on_call

__all__ = ["add_responders_from_rca", "assign_roles", "on_rca_completed", "roles_of"]

ACTOR = "roles"


def roles_of(store: Store, incident_ref: Incident | int | str) -> dict[str, Any]:
    """Return the recorded roles and responders: ``{"incident_commander": {...}, "responders": [...]}``."""
    out: dict[str, Any] = {"responders": []}
    with store.session(readonly=True) as s:
        for e in events(s, get_incident(s, incident_ref)):
            p = e.payload or {}
            if e.kind is EventKind.NOTE and e.actor == ACTOR:
                if "role" in p:
                    out[p["role"]] = {**p, "at": e.at.isoformat()}
                if "responder" in p:
                    out["responders"].append({**p, "at": e.at.isoformat()})
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

    Returns the responders added (empty when the top cause is the owning team's, too weak, or already added).
    """
    from rcaflows.notify.service import latest_rca

    rc = config.oncall.roles
    if not rc.responders_from_rca:
        return []
    when = utc(at) if at is not None else now_utc()
    with store.session(readonly=True) as s:
        inc = get_incident(s, incident_ref)
        key, owner = inc.key, inc.team
        run = latest_rca(s, inc.id)
        hyps = ((run.results or {}).get("hypotheses") or []) if run is not None else []
    if not hyps:
        return []
    top = hyps[0]
    conf = float(top.get("confidence") or 0.0)
    team = _owner(config, str(top["component"]))
    if team is None or team == owner or conf < rc.min_confidence:
        return []
    if any(r.get("responder") == team for r in roles_of(store, key)["responders"]):
        return []
    reason = (
        f"RCA ranks {top['component']} ({top.get('kind', '?')}, {conf:.0%} confidence) as the most likely "
        f"root cause; {top['component']} is owned by {team}"
    )
    item = {"responder": team, "reason": reason, "component": top["component"], "rca_run": run.id if run else None}
    with store.session() as s:
        record_event(s, key, EventKind.NOTE, ACTOR, item, at=when)
    target = f"oncall:{team}" if schedule_for(config, team) is not None else f"team:{team}"
    from rcaflows.triage.escalation import resolve_targets

    channels = [target] if target.startswith("oncall:") else resolve_targets([target], config)
    page_dispatch(when, base_dir=base_dir)(
        store, key, channels, f"added as responder: {reason}", ACTOR, config=config, sleep=sleep, force=True
    )
    return [item]


def on_rca_completed(event: Any, ctx: Any) -> list[dict[str, Any]]:
    """Lifecycle subscriber (for :mod:`rcaflows.wiring`, on ``RcaCompleted``): add the top cause's team."""
    if not isinstance(getattr(ctx, "config", None), SystemConfig):
        return []
    return add_responders_from_rca(ctx.store, ctx.config, event.incident_id, at=getattr(event, "at", None))
