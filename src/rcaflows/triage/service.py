"""Turn grouped detection candidates into triaged, persisted incidents (one transaction each)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import networkx as nx
from pydantic import BaseModel

from rcaflows.config import topology_graph
from rcaflows.config.models import SystemConfig
from rcaflows.detection.engine import IncidentCandidate
from rcaflows.incidents import NewIncident, Store, fingerprint_for, open_or_touch
from rcaflows.incidents import triage as triage_incident
from rcaflows.triage.policy import triage


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


def symptom_of(cand: IncidentCandidate, config: SystemConfig) -> tuple[str, str | None]:
    """Return the (component, metric) an RCA should explain: the group's most downstream failure.

    A candidate is named after its root-ward member (that is what it is fingerprinted and routed
    by); the symptom is the failure closest to users, the member that depends on the most others.
    """
    g = topology_graph(config)
    members = set(cand.components)

    def reach(component: str) -> int:
        return len(nx.descendants(g, component) & members) if component in g else 0

    failed = [c for c in cand.checks if c.failed] or list(cand.checks)
    if not failed:
        return cand.component, cand.metric
    best = max(failed, key=lambda c: (reach(c.component), c.score))
    return best.component, best.metric


def open_incidents(
    store: Store,
    config: SystemConfig,
    candidates: list[IncidentCandidate],
    detected_at: datetime,
    *,
    actor: str = "detection",
    origin: dict[str, Any] | None = None,
) -> list[IncidentOutcome]:
    """Open (or update the duplicate of) one incident per candidate, triaged and audited.

    The fingerprint covers system, incident type and the group's root-ward component, so a
    latency shift and an error-rate shift of one component land on one incident. ``origin``
    records how to reload the data (config path, demo scenario) for later RCA runs.
    """
    outcomes = []
    for cand in candidates:
        decision = triage(cand.incident_type, cand.subtype, cand.component, cand.score, len(cand.components), config)
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
            fingerprint=fingerprint_for(config.system.name, cand.incident_type, "", cand.component),
            detected_at=detected_at,
            details={
                "score": cand.score,
                "onset": cand.onset.isoformat() if cand.onset else None,
                "components": list(cand.components),
                "symptom": dict(zip(("component", "metric"), symptom_of(cand, config), strict=True)),
                "checks": [c.model_dump(mode="json") for c in cand.checks],
                "channels": decision.channels,
                "escalation_policy": decision.escalation_policy,
                "route": decision.route,
                "origin": origin or {},
            },
        )
        with store.session() as s:
            inc, created = open_or_touch(s, new, actor=actor)
            if created:
                triage_incident(s, inc, decision.severity, decision.priority, decision.team, actor, decision.reasons)
            outcomes.append(
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
                )
            )
    return outcomes
