"""Reconstruct an incident's timeline and response metrics from its audit log and RCA runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rcaflows.incidents import EventKind, Incident, IncidentEvent, RcaRun
from rcaflows.postmortem.models import ResponseMetrics, TimelineItem
from rcaflows.timeutil import utc

_ACTION_CATEGORY = {
    "triage": "triage",
    "acknowledge": "acknowledgement",
    "investigate": "investigation",
    "mitigate": "mitigation",
    "resolve": "resolution",
    "close": "closure",
    "reopen": "reopened",
}


def _scalars(payload: dict[str, Any], limit: int = 4) -> str:
    parts = [f"{k}={v}" for k, v in payload.items() if v is not None and not isinstance(v, list | dict)]
    return ", ".join(parts[:limit])


def _transition(p: dict[str, Any]) -> str:
    action = p.get("action", "?")
    text = f"{p.get('from')} → {p.get('to')}"
    if action == "triage":
        text += f": {p.get('severity')}/{p.get('priority')}, team {p.get('team')}"
    extra = [str(p[k]) for k in ("resolution", "reason", "comment", "note") if p.get(k)]
    return text + (f" ({'; '.join(extra)})" if extra else "")


def describe(event: IncidentEvent) -> tuple[str, str] | None:
    """Return ``(category, summary)`` of an audit event, or None for events the timeline leaves out."""
    p = event.payload or {}
    kind = event.kind
    if kind is EventKind.DETECTED:
        return "detection", f"detected: {p.get('title', '')} (severity {p.get('severity')})"
    if kind is EventKind.TRANSITION:
        return _ACTION_CATEGORY.get(str(p.get("action")), str(p.get("action"))), _transition(p)
    if kind is EventKind.TRIAGED:
        return "triage", f"re-triaged: {_scalars(p)}"
    if kind is EventKind.ESCALATION:
        return "escalation", _scalars(p, 6) or "escalated"
    if kind is EventKind.NOTIFICATION:
        if p.get("ok"):
            return "notification", f"{p.get('channel')}: {p.get('action')} ({p.get('mode')})"
        return (
            "notification",
            f"{p.get('channel')}: delivery FAILED after {p.get('attempts')} attempt(s): {p.get('error')}",
        )
    if kind is EventKind.DUPLICATE:
        return "signal", f"seen again ({p.get('occurrences')} occurrences)"
    if kind is EventKind.RCA_STARTED:
        return "rca", f"RCA run {p.get('rca_run_id')} started"
    if kind is EventKind.RCA_PHASE:
        if p.get("status") == "ok":
            return None  # per-phase successes are noise in a timeline; failures stay
        return "rca", f"RCA phase {p.get('phase')} {p.get('status')}: {p.get('error')}"
    if kind is EventKind.RCA_COMPLETED:
        conf = p.get("confidence")
        conf_text = f" (confidence {conf:.0%})" if isinstance(conf, int | float) else ""
        return "rca finding", f"RCA run {p.get('rca_run_id')}: top cause {p.get('top') or 'none'}{conf_text}"
    if kind is EventKind.RCA_FAILED:
        return "rca", f"RCA run {p.get('rca_run_id')} failed: {p.get('error')}"
    if kind is EventKind.REPORT:
        if p.get("from") and p.get("postmortem_state"):  # a review step (rcaflows.postmortem.states)
            why = f": {p['comment']}" if p.get("comment") else ""
            return "post-mortem", f"post-mortem {p['from']} → {p['postmortem_state']}{why}"
        return "report", str(p.get("postmortem") or p.get("html") or _scalars(p))
    if kind is EventKind.NOTE:
        return "note", str(p.get("message") or p.get("note") or _scalars(p))
    if kind is EventKind.MITIGATION:  # what was tried (rcaflows.mitigation)
        why = p.get("error") or p.get("refused") or p.get("comment") or ""
        run = f", flow run {p['flow_run_id']}" if p.get("flow_run_id") else ""
        text = f"{p.get('kind')} action {p.get('action')} {p.get('step')}{run}"
        return "mitigation", text + (f": {why}" if why else "")
    if kind is EventKind.VALIDATION:  # whether it worked: the watch after the fix
        detail = p.get("detail") or (f"{p.get('clean_runs')} clean detection runs" if p.get("clean_runs") else "")
        return "validation", f"fix {p.get('step')}" + (f": {detail}" if detail else "")
    return str(kind), _scalars(p) or str(kind)


def build_timeline(incident: Incident, events: list[IncidentEvent], runs: list[RcaRun]) -> list[TimelineItem]:
    """Return the incident's timeline: the onset, every described audit event, and RCA run completions."""
    items: list[TimelineItem] = []
    onset = onset_of(incident)
    if onset is not None:
        items.append(
            TimelineItem(at=onset, category="onset", actor="detector", summary="impact began (deviation onset)")
        )
    for ev in events:
        described = describe(ev)
        if described is not None:
            items.append(TimelineItem(at=ev.at, category=described[0], actor=ev.actor, summary=described[1]))
    logged_runs = {(ev.payload or {}).get("rca_run_id") for ev in events if ev.kind is EventKind.RCA_COMPLETED}
    for run in runs:  # runs whose completion was not logged (older or ad-hoc recording) still appear
        if run.finished_at is not None and run.id not in logged_runs and run.status.value == "completed":
            hyps = (run.results or {}).get("hypotheses") or []
            top = hyps[0]["component"] if hyps else "none"
            items.append(
                TimelineItem(
                    at=run.finished_at,
                    category="rca finding",
                    actor="rca",
                    summary=f"RCA run {run.id}: top cause {top}",
                )
            )
    items.sort(key=lambda i: i.at)
    return items


def onset_of(incident: Incident) -> datetime | None:
    """Return the deviation onset the detector recorded, if any."""
    raw = (incident.details or {}).get("onset")
    if not raw:
        return None
    try:
        return utc(raw)
    except ValueError:
        return None


def response_metrics(incident: Incident, events: list[IncidentEvent]) -> ResponseMetrics:
    """Return time to detect / acknowledge / mitigate / resolve and the escalation and notification counts."""

    def first(action: str) -> datetime | None:
        return next(
            (e.at for e in events if e.kind is EventKind.TRANSITION and e.payload.get("action") == action), None
        )

    acked, mitigated = first("acknowledge"), first("mitigate")
    resolves = [e.at for e in events if e.kind is EventKind.TRANSITION and e.payload.get("action") == "resolve"]
    resolved = incident.resolved_at or (resolves[-1] if resolves and not incident.is_open else None)
    escalations = [e.at for e in events if e.kind is EventKind.ESCALATION]
    last_delivery: dict[str, bool] = {}
    sent = 0
    for e in events:
        if e.kind is EventKind.NOTIFICATION:
            last_delivery[str(e.payload.get("channel"))] = bool(e.payload.get("ok"))
            sent += bool(e.payload.get("ok"))
    onset, detected = onset_of(incident), incident.detected_at
    return ResponseMetrics(
        onset=onset,
        detected_at=detected,
        acknowledged_at=acked,
        mitigated_at=mitigated,
        resolved_at=resolved,
        time_to_detect=detected - onset if onset is not None else None,
        time_to_acknowledge=acked - detected if acked else None,
        time_to_mitigate=mitigated - detected if mitigated else None,
        time_to_resolve=resolved - detected if resolved else None,
        escalations=len(escalations),
        escalations_before_ack=sum(1 for t in escalations if acked is None or t < acked),
        notifications_sent=sent,
        notifications_failed=sum(1 for ok in last_delivery.values() if not ok),
        reopened=sum(1 for e in events if e.kind is EventKind.TRANSITION and e.payload.get("action") == "reopen"),
    )
