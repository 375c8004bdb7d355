"""Turn grouped detection candidates into triaged, persisted incidents (one transaction each)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any, Literal

import networkx as nx
import sqlalchemy as sa
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from rcaflows.config.models import SystemConfig
from rcaflows.detection.engine import IncidentCandidate
from rcaflows.detection.policy import Inhibitor, can_be_inhibited, can_inhibit, inhibitor, pending_ready
from rcaflows.errors import StoreError
from rcaflows.graph import system_graph
from rcaflows.incidents import (
    EventKind,
    Incident,
    NewIncident,
    Store,
    failure_history,
    fingerprint_for,
    idle_silences,
    match_silence,
    open_or_touch,
    record_event,
    record_run,
)
from rcaflows.incidents import triage as triage_incident
from rcaflows.mitigation.watch import evaluate_watches
from rcaflows.timeutil import utc
from rcaflows.triage.escalation import plan_escalation
from rcaflows.triage.policy import triage
from rcaflows.vocab import OPEN_STATES, IncidentType


class IncidentOutcome(BaseModel):
    """What one detection run did with one candidate."""

    key: str
    incident_id: int
    type: str
    subtype: str
    component: str
    metric: str | None
    title: str
    severity: str
    priority: str
    team: str
    created: bool
    occurrences: int
    components: list[str]
    fingerprint: str = ""
    action: Literal["opened", "deduplicated"] = "opened"
    types: list[str] = Field(default_factory=list, description="Every incident type among its signals, primary first.")


class SuppressedCandidate(BaseModel):
    """A candidate that did not open an incident, and why."""

    reason: Literal["silence", "inhibition", "pending"] = Field(description="What held it back.")
    type: str
    subtype: str
    component: str
    title: str
    fingerprint: str
    score: float
    by: str | None = Field(None, description="'silence:<id>' or the inhibiting incident's key.")
    detail: str = Field("", description="One readable line.")


class DetectionOutcome(BaseModel):
    """What one detection run did with all its candidates."""

    incidents: list[IncidentOutcome] = Field(default_factory=list, description="Opened or deduplicated.")
    suppressed: list[SuppressedCandidate] = Field(default_factory=list, description="Not opened, with the reason.")
    counts: dict[str, int] = Field(
        default_factory=dict, description="Candidates per outcome: opened, deduplicated, silence, inhibition, pending."
    )
    idle_silences: list[int] = Field(default_factory=list, description="Active silences that never matched.")
    resolved: list[str] = Field(
        default_factory=list, description="Data-availability incidents resolved because their data returned."
    )

    def types(self, *, include_inhibited: bool = True) -> set[str]:
        """Return the incident types opened in this run, plus those inhibition explained."""
        out = {o.type for o in self.incidents if o.created}
        if include_inhibited:
            out |= {c.type for c in self.suppressed if c.reason == "inhibition"}
        return out


def symptom_of(cand: IncidentCandidate, config: SystemConfig) -> tuple[str, str | None]:
    """Return the (component, metric) an RCA should explain: the group's most downstream failure of its type.

    A candidate is named after its root-ward member (that is what it is fingerprinted and routed
    by); the symptom is the failure closest to users, the member that depends on the most others,
    among the checks of the candidate's primary type (the RCA's symptom carries that type; the
    related signals of other types are evidence, not the thing to explain).
    """
    topology = system_graph(config).topology
    members = set(cand.components)

    def reach(component: str) -> int:
        return len(nx.ancestors(topology, component) & members) if component in topology else 0

    failed = [c for c in cand.checks if c.failed and c.incident_type == cand.incident_type]
    failed = failed or [c for c in cand.checks if c.failed] or list(cand.checks)
    if not failed:
        return cand.component, cand.metric
    best = max(failed, key=lambda c: (reach(c.component), c.score))
    return best.component, best.metric


def upstream_fingerprint(cand: IncidentCandidate) -> str | None:
    """Return the fingerprint an upstream alert gave every member check (``details['fingerprint']``), kept verbatim."""
    fps = {c.details.get("fingerprint") for c in cand.checks if isinstance(c.details, dict)}
    if len(fps) == 1:
        (fp,) = fps
        if isinstance(fp, str) and fp:
            return fp
    return None


def _new_incident(
    cand: IncidentCandidate, config: SystemConfig, detected_at: datetime, origin: dict[str, Any] | None
) -> tuple[NewIncident, Any]:
    decision = triage(
        cand.incident_type,
        cand.subtype,
        cand.component,
        cand.score,
        list(cand.components),
        config,
        subtypes=[c.subtype for c in cand.checks],
    )
    new = NewIncident(
        system=config.system.name,
        type=cand.incident_type,
        subtype=cand.subtype,
        component=cand.component,
        metric=cand.metric,
        title=cand.title,
        severity=decision.severity,
        priority=decision.priority,
        team=decision.team,
        fingerprint=upstream_fingerprint(cand)
        or fingerprint_for(config.system.name, cand.incident_type, "", cand.component),
        detected_at=detected_at,
        details={
            "score": cand.score,
            "onset": cand.onset.isoformat() if cand.onset else None,
            "components": list(cand.components),
            "types": [str(t) for t in cand.types or [cand.incident_type]],
            "related": [
                {"type": str(c.incident_type), "subtype": c.subtype, "component": c.component, "metric": c.metric}
                for c in cand.related
            ],
            "symptom": dict(zip(("component", "metric"), symptom_of(cand, config), strict=True)),
            "checks": [c.model_dump(mode="json") for c in cand.checks],
            "channels": decision.channels,
            "escalation_policy": decision.escalation_policy,
            "route": decision.route,
            "confidence": decision.confidence.value,
            "impact": decision.impact,
            "urgency": decision.urgency,
            "teams_involved": decision.teams_involved,
            "origin": origin or {},
        },
    )
    return new, decision


def _open_inhibitors(session: Session, system: str, firing_since: datetime) -> list[Inhibitor]:
    """Return the system's open incidents that may inhibit downstream model incidents.

    Only incidents whose signals still fire (seen failing at or after ``firing_since``) inhibit,
    as in Alertmanager, where a resolved source alert inhibits nothing: an incident left open
    after its fault was fixed must not hide the next fault downstream.
    """
    stmt = sa.select(Incident).where(
        Incident.system == system,
        Incident.state.in_(sorted(OPEN_STATES)),
        Incident.last_seen_at >= firing_since,
    )
    out = []
    for inc in session.scalars(stmt.order_by(Incident.id)):
        details = inc.details or {}
        if can_inhibit(inc.type, inc.subtype):
            comps = details.get("components") or [inc.component]
        else:  # a grouped incident inhibits through its related data-quality or missing-data signals
            comps = list(
                dict.fromkeys(
                    c["component"]
                    for c in details.get("checks") or []
                    if isinstance(c, dict)
                    and c.get("incident_type") in set(IncidentType)
                    and can_inhibit(c["incident_type"], str(c.get("subtype", "")))
                )
            )
        if comps:
            out.append(Inhibitor(inc.key, str(inc.type), inc.subtype, tuple(str(c) for c in comps)))
    return out


def _may_inhibit(cand: IncidentCandidate) -> bool:
    """Return True when any signal of the candidate may suppress downstream model incidents."""
    return any(can_inhibit(c.incident_type, c.subtype) for c in cand.checks) or can_inhibit(
        cand.incident_type, cand.subtype
    )


def _continued_incident(
    session: Session, system: str, cand: IncidentCandidate, at: datetime, window: timedelta
) -> Incident | None:
    """Return the open incident of an earlier run that ``cand`` continues, or None.

    A fault seen for hours raises signals one after another: a null share that only crosses its
    test's bar once the hour is mostly nulls, a drift that outlasts the dependency that caused
    it. Such a candidate shares a component with an incident opened by an earlier run that
    still fires (seen in this run or the previous one), and its signal was already on when that
    incident was last seen (its onset is not later): it is that incident's fault, not a new one
    (Alertmanager's grouping while the group is active). A candidate that started after the
    incident's last run is news and opens its own incident, as does anything in the run that
    opened the incident (there, the onset-based grouping of detection decides).
    """
    if cand.onset is None:
        return None
    stmt = (
        sa.select(Incident)
        .where(
            Incident.system == system,
            Incident.state.in_(sorted(OPEN_STATES)),
            Incident.detected_at < at,
            Incident.last_seen_at >= at - window,
            Incident.last_seen_at >= cand.onset,
        )
        .order_by(Incident.last_seen_at.desc(), Incident.id)
    )
    mine = set(cand.components)
    for inc in session.scalars(stmt):
        if mine & set((inc.details or {}).get("components") or [inc.component]):
            return inc
    return None


def _has_open(session: Session, system: str, fingerprint: str) -> bool:
    stmt = sa.select(Incident.id).where(
        Incident.system == system, Incident.fingerprint == fingerprint, Incident.state.in_(sorted(OPEN_STATES))
    )
    return session.scalars(stmt.limit(1)).first() is not None


def handle_candidates(
    store: Store,
    config: SystemConfig,
    candidates: list[IncidentCandidate],
    detected_at: datetime,
    *,
    actor: str = "detection",
    origin: dict[str, Any] | None = None,
) -> DetectionOutcome:
    """Decide, per candidate, whether it opens, deduplicates or is held back; persist and audit it.

    In order: a matching active **silence** holds it back (and counts the match); a model-quality or
    bias candidate explained by an open data-quality / missing-data incident upstream of it that still
    fires (seen failing in this run or the previous one) is **inhibited**, recorded as an ``inhibited``
    event on that incident; an open incident with the same fingerprint is **deduplicated** (last seen
    and count bumped); otherwise it opens only once it failed in ``alerting.pending_failures`` of the
    last ``alerting.pending_runs`` runs, else it stays **pending**. Candidates that can inhibit are
    handled first so they are open before the ones they explain. The fingerprint covers system, incident
    type and the group's root-ward component; ``origin`` records how to reload the data.
    """
    system = config.system.name
    at = utc(detected_at)
    alerting = config.alerting
    prepared = [(cand, *_new_incident(cand, config, at, origin)) for cand in candidates]
    prepared.sort(key=lambda p: not _may_inhibit(p[0]))  # stable
    with store.session() as s:
        record_run(
            s,
            system,
            at,
            {
                new.fingerprint: {"type": str(cand.incident_type), "component": cand.component, "score": cand.score}
                for cand, new, _ in prepared
            },
        )
    # Before any candidate opens: a watched fix that failed again re-opens its incident, which this run's
    # candidate then deduplicates into (rcaflows.mitigation.watch). Its own transaction: a refusal (an operator
    # changed the incident meanwhile) skips the verdict, which the next run reaches from the same history.
    try:
        with store.session() as s:
            evaluate_watches(s, config, at, actor)
    except StoreError as exc:
        logging.getLogger(__name__).warning("%s: watch evaluation at %s skipped: %s", system, at.isoformat(), exc)
    inhibits = alerting.inhibit and any(can_be_inhibited(c.incident_type) for c in candidates)
    graph = system_graph(config).components if inhibits else None
    result = DetectionOutcome()
    counts = dict.fromkeys(("opened", "deduplicated", "silence", "inhibition", "pending"), 0)

    def held(
        cand: IncidentCandidate,
        fp: str,
        reason: Literal["silence", "inhibition", "pending"],
        by: str | None,
        detail: str,
    ) -> None:
        counts[reason] += 1
        result.suppressed.append(
            SuppressedCandidate(
                reason=reason,
                type=str(cand.incident_type),
                subtype=cand.subtype,
                component=cand.component,
                title=cand.title,
                fingerprint=fp,
                score=cand.score,
                by=by,
                detail=detail,
            )
        )

    for cand, new, decision in prepared:
        fp = new.fingerprint
        with store.session() as s:
            silence = match_silence(
                s, system=system, incident_type=str(cand.incident_type), component=cand.component, fingerprint=fp, at=at
            )
            if silence is not None:
                held(cand, fp, "silence", f"silence:{silence.id}", f"silenced by {silence.author}: {silence.reason}")
                continue
            if graph is not None and can_be_inhibited(cand.incident_type):
                # seen in this run or the previous one: one flapping run does not lift the inhibition
                firing = _open_inhibitors(s, system, at - config.window.current)
                inh = inhibitor(cand.incident_type, cand.components, firing, graph)
                if inh is not None:
                    record_event(
                        s,
                        inh.key,
                        EventKind.INHIBITED,
                        actor,
                        {
                            "type": str(cand.incident_type),
                            "subtype": cand.subtype,
                            "component": cand.component,
                            "components": list(cand.components),
                            "title": cand.title,
                            "fingerprint": fp,
                            "score": cand.score,
                            "seen_at": at.isoformat(),
                        },
                        at=at,
                    )
                    held(
                        cand,
                        fp,
                        "inhibition",
                        inh.key,
                        f"explained by {inh.key} ({inh.incident_type} on {', '.join(inh.components)})",
                    )
                    continue
            continued = _continued_incident(s, system, cand, at, config.window.current)
            if continued is not None and continued.fingerprint != fp:
                # a later signal of a fault an earlier run opened: it joins that incident as a duplicate
                new = new.model_copy(update={"fingerprint": continued.fingerprint})
                fp = continued.fingerprint
            if not _has_open(s, system, fp) and (alerting.pending_failures > 1 or alerting.pending_runs > 1):
                history = failure_history(s, system, fp, runs=alerting.pending_runs, until=at)
                if not pending_ready(history, alerting.pending_failures, alerting.pending_runs):
                    n_failed = sum(history)
                    held(
                        cand,
                        fp,
                        "pending",
                        None,
                        f"failed in {n_failed} of the last {len(history)} runs; opens at "
                        f"{alerting.pending_failures} of {alerting.pending_runs}",
                    )
                    continue
            inc, created = open_or_touch(s, new, actor=actor)
            if created:
                triage_incident(
                    s, inc, decision.severity, decision.priority, decision.team, actor, decision.reasons, at=at
                )
                plan_escalation(
                    s,
                    inc,
                    config,
                    decision.escalation_policy,
                    confidence=decision.confidence.value,
                    teams_involved=decision.teams_involved,
                    impact=decision.impact,
                )
            counts["opened" if created else "deduplicated"] += 1
            result.incidents.append(
                IncidentOutcome(
                    key=inc.key,
                    incident_id=inc.id,
                    type=str(inc.type),
                    subtype=inc.subtype,
                    component=inc.component,
                    metric=inc.metric,
                    title=inc.title,
                    severity=str(inc.severity),
                    priority=str(inc.priority),
                    team=inc.team,
                    created=created,
                    occurrences=inc.occurrences,
                    components=list(cand.components),
                    fingerprint=inc.fingerprint,
                    action="opened" if created else "deduplicated",
                    types=[str(t) for t in cand.types or [cand.incident_type]],
                )
            )
    with store.session(readonly=True) as s:
        result.idle_silences = [x.id for x in idle_silences(s, system=system, at=at)]
    result.counts = counts
    return result
