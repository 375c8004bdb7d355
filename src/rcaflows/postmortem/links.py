"""Recurrence: link an incident to similar earlier incidents of its system, and store the links."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from rcaflows.incidents import Incident, RcaRun, RcaStatus, get_incident
from rcaflows.incidents.models import IncidentLink
from rcaflows.timeutil import now_utc

REASONS = ("fingerprint", "component", "root_cause")


def top_causes(session: Session, incident_ids: list[int]) -> dict[int, str]:
    """Return the top root-cause component of each incident's latest completed RCA run."""
    if not incident_ids:
        return {}
    stmt = (
        sa.select(RcaRun.incident_id, RcaRun.results)
        .where(RcaRun.incident_id.in_(incident_ids), RcaRun.status == RcaStatus.COMPLETED)
        .order_by(RcaRun.started_at, RcaRun.id)
    )
    out: dict[int, str] = {}
    for incident_id, results in session.execute(stmt):
        hyps = (results or {}).get("hypotheses") or []
        if incident_id is not None and hyps:
            out[incident_id] = str(hyps[0]["component"])  # later runs overwrite earlier ones
    return out


def link_similar(session: Session, incident: Incident | int | str) -> list[IncidentLink]:
    """Link the incident to every earlier incident of its system with the same fingerprint, component or top cause.

    Idempotent: existing links are kept, missing ones added (call it again once the RCA has
    named a root cause). Returns all of the incident's links.
    """
    inc = get_incident(session, incident)
    earlier = list(
        session.scalars(
            sa.select(Incident).where(
                Incident.system == inc.system,
                Incident.id != inc.id,
                sa.or_(
                    Incident.detected_at < inc.detected_at,
                    sa.and_(Incident.detected_at == inc.detected_at, Incident.id < inc.id),
                ),
            )
        )
    )
    causes = top_causes(session, [inc.id, *(e.id for e in earlier)])
    mine = causes.get(inc.id)
    existing = {
        (link.related_id, link.reason)
        for link in session.scalars(sa.select(IncidentLink).where(IncidentLink.incident_id == inc.id))
    }
    now = now_utc()
    for other in earlier:
        found: list[tuple[str, str]] = []
        if other.fingerprint == inc.fingerprint:
            found.append(("fingerprint", f"same fingerprint {inc.fingerprint}"))
        if other.component == inc.component:
            found.append(("component", f"same component {inc.component}"))
        if mine is not None and causes.get(other.id) == mine:
            found.append(("root_cause", f"same top root cause {mine}"))
        for reason, detail in found:
            if (other.id, reason) not in existing:
                session.add(
                    IncidentLink(incident_id=inc.id, related_id=other.id, reason=reason, detail=detail, created_at=now)
                )
    session.flush()
    return links_of(session, inc)


def links_of(session: Session, incident: Incident | int | str) -> list[IncidentLink]:
    """Return the incident's stored recurrence links, most recent related incident first."""
    inc = get_incident(session, incident)
    stmt = (
        sa.select(IncidentLink)
        .where(IncidentLink.incident_id == inc.id)
        .order_by(IncidentLink.related_id.desc(), IncidentLink.reason)
    )
    return list(session.scalars(stmt))
