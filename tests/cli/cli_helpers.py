"""Helpers shared by the CLI tests: an incident opened and triaged in a real SQLite store."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from rcaflows.incidents import Incident, NewIncident, Store, open_or_touch
from rcaflows.incidents import triage as triage_incident
from rcaflows.timeutil import now_utc


def open_incident(
    url: str,
    *,
    component: str = "gateway",
    title: str | None = None,
    severity: str = "high",
    priority: str = "P2",
    team: str = "sre",
    fingerprint: str | None = None,
    detected_at: datetime | None = None,
    triage: bool = True,
    then: Callable[[Any, Incident], object] | None = None,
) -> str:
    """Open a latency incident on ``component`` (triaged unless ``triage=False``) and return its key.

    ``then(session, incident)`` runs in the same transaction, e.g. to plan its escalation.
    """
    with Store.from_url(url).session() as s:
        inc: Incident
        inc, _ = open_or_touch(
            s,
            NewIncident(
                system="fraud-scoring",
                type="performance_availability",
                subtype="latency",
                component=component,
                title=title or f"latency on {component}",
                severity=severity,
                priority=priority,
                team=team,
                fingerprint=fingerprint or f"fp-{len(component)}-{hash(component)}",
                detected_at=detected_at or now_utc() - timedelta(hours=1),
                details={"components": [component]},
            ),
        )
        if triage:
            triage_incident(s, inc, severity, priority, team, "detection")
        if then is not None:
            then(s, inc)
        return inc.key
