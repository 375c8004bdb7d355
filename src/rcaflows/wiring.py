"""The one place where the side effects of incident changes are wired to the lifecycle events.

The incident store publishes typed events after each commit (:mod:`rcaflows.incidents.lifecycle_events`);
this module subscribes the packages that react to them, so none of them is called by the store
or by the callers that change incidents (flows, CLI):

=============== ===================================== ==================================================
subscriber      events                                effect
=============== ===================================== ==================================================
escalation      IncidentTransitioned (ack, resolve,   cancel the steps the change ends; re-plan the
                close), IncidentReopened              policy snapshot from a reopening
notify          IncidentOpened                        link similar past incidents, post to the triage
                                                      channels
                IncidentDeduplicated                  update the messages whose severity changed
                IncidentTransitioned, IncidentUpdated update the incident's messages (not for the
                                                      engine's own triage / investigate steps)
                RcaCompleted                          link by root cause, update the messages
postmortem      IncidentTransitioned to resolved      draft the post-mortem (not for a merged duplicate)
audiences       every event                           send each audience (executive, users, regulators)
                                                      the update a change made due (its cadence and
                                                      state rules decide), regulatory drafts once
roles           IncidentOpened                        a P1/P2 gets an incident commander and a comms
                                                      lead from who is on call
responders      RcaCompleted                          the top cause's team joins as responder, told why
=============== ===================================== ==================================================

Escalation is bookkeeping and runs on every commit once :func:`install` ran. Notification and
post-mortem are outbound: they run only inside :func:`scope`, which a caller opens with its
system config, and each of their failures is audited on the incident without undoing anything.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rcaflows.config.models import SystemConfig
from rcaflows.incidents import Store
from rcaflows.incidents.lifecycle_events import (
    Bus,
    Context,
    IncidentDeduplicated,
    IncidentOpened,
    IncidentTransitioned,
    IncidentUpdated,
    LifecycleEvent,
    RcaCompleted,
    Scope,
    bus,
    side_effects,
)
from rcaflows.notify import (
    DeliveryResult,
    audiences,
    notify_if_severity_changed,
    notify_incident_changed,
    notify_new_incident,
)
from rcaflows.postmortem import link_similar, write_postmortem
from rcaflows.postmortem.models import PostmortemPaths
from rcaflows.triage import roles
from rcaflows.triage.escalation import on_transition
from rcaflows.vocab import IncidentState

# The engine's own steps right after detection and on an RCA run: their messages go out with the
# opening and with the RCA's result, not once more for the step itself.
_QUIET_ACTIONS = frozenset({"triage", "investigate"})
_RESOLVED = "resolved"


def _link(store: Store, incident_id: int) -> None:
    with store.session() as s:
        link_similar(s, incident_id)


def notify(event: LifecycleEvent, ctx: Context) -> list[DeliveryResult]:
    """Subscriber: keep the incident's one message per channel in step with a committed change."""
    store, cfg = ctx.store, ctx.config
    if isinstance(event, IncidentOpened):
        _link(store, event.incident_id)  # the first message already names the recurrences
        return notify_new_incident(store, event.incident_id, config=cfg, actor=event.actor)
    if isinstance(event, IncidentDeduplicated):
        return notify_if_severity_changed(store, event.incident_id, config=cfg, actor=event.actor)
    if isinstance(event, RcaCompleted):
        _link(store, event.incident_id)  # by root cause, now that there is one
        return notify_incident_changed(store, event.incident_id, config=cfg, reason="RCA completed", actor="rca")
    if isinstance(event, IncidentTransitioned):
        if event.action in _QUIET_ACTIONS:
            return []
        reason = _RESOLVED if event.to_state is IncidentState.RESOLVED else "incident changed"
        return notify_incident_changed(store, event.incident_id, config=cfg, reason=reason, actor="notify")
    if isinstance(event, IncidentUpdated):
        return notify_incident_changed(
            store, event.incident_id, config=cfg, reason="incident changed", actor="notify"
        )
    return []


def assign_roles(event: IncidentOpened, ctx: Context) -> list[dict[str, Any]]:
    """Subscriber: give a new P1/P2 incident its incident commander and comms lead from the on-call."""
    if not isinstance(ctx.config, SystemConfig):
        return []
    return roles.assign_roles(ctx.store, ctx.config, event.incident_id, at=event.at)


def draft_postmortem(event: IncidentTransitioned, ctx: Context) -> PostmortemPaths | None:
    """Subscriber: draft the post-mortem of an incident whose resolution committed (not of a merged duplicate)."""
    if event.to_state is not IncidentState.RESOLVED or event.resolution == "duplicate":
        return None
    cfg: SystemConfig | None = ctx.config
    out_dir = cfg.rca.reports_dir if cfg is not None else "rcaflows-reports"  # a directory or an fsspec URL
    _pm, paths = write_postmortem(ctx.store, event.incident_id, out_dir, config=cfg, actor="postmortem")
    return paths


_lock = threading.Lock()


def install(target: Bus = bus) -> Bus:
    """Subscribe escalation, notification and post-mortem drafting on ``target`` (idempotent)."""
    with _lock:
        target.subscribe(IncidentTransitioned, on_transition, name="escalation")
        target.subscribe(LifecycleEvent, notify, name="notify", outbound=True)
        target.subscribe(IncidentTransitioned, draft_postmortem, name="postmortem", outbound=True)
        target.subscribe(LifecycleEvent, audiences.on_lifecycle, name="audiences", outbound=True)
        target.subscribe(IncidentOpened, assign_roles, name="roles", outbound=True)
        target.subscribe(RcaCompleted, roles.on_rca_completed, name="responders", outbound=True)
    return target


@contextmanager
def scope(config: SystemConfig | None) -> Iterator[Scope]:
    """Install the subscribers and run the outbound ones for the commits made inside, with ``config``."""
    install()
    with side_effects(config) as sc:
        yield sc


def summary(sc: Scope) -> dict[str, Any]:
    """Return what a scope's subscribers did, JSON-ready: deliveries per subscriber and the failures."""
    per: dict[str, int] = {}
    for d in sc.deliveries:
        per[d.subscriber] = per.get(d.subscriber, 0) + 1
    return {
        "deliveries": per,
        "failures": [{"subscriber": d.subscriber, "incident": d.event.key, "error": d.error} for d in sc.failures()],
    }


__all__ = ["assign_roles", "draft_postmortem", "install", "notify", "scope", "summary"]
