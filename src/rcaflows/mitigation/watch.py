"""The watch period after a fix: re-check the incident's fingerprint in every detection run.

A watch starts when a runbook action succeeds (:func:`start_watch`), or, started by the next
detection run, when an incident is mitigated by hand or resolved as fixed or mitigated. Each detection run
records which fingerprints failed (``check_history``); :func:`evaluate_watches`, called by
detection right after that record and before any candidate is opened, reads the runs since the
watch began:

* the fingerprint failed again within the first ``runs`` runs: the fix did not work. A mitigated
  incident goes back to triaged (``regress``), a resolved one is re-opened (``reopen``); either
  way its escalation is planned again from now (escalated), its succeeded actions are marked not
  effective, and the failing check is the evidence. The failing candidate of this very run then
  deduplicates into it instead of opening a new incident.
* ``runs`` clean runs: validated; the actions are marked effective and, with ``auto_resolve``, a
  mitigated incident is resolved.

The verdict is computed from the check history, so re-running a detection hour never counts a
run twice, and each watch ends exactly once (its status leaves ``watching``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from rcaflows.incidents.lifecycle import Action
from rcaflows.incidents.models import CheckHistory, EventKind, Incident, MitigationAction, MitigationStatus
from rcaflows.incidents.operations import Resolution, reopen, resolve
from rcaflows.incidents.service import _flush, last_change_at, record_event, transition
from rcaflows.mitigation.models import WatchPolicy
from rcaflows.timeutil import utc
from rcaflows.vocab import IncidentState

if TYPE_CHECKING:
    from rcaflows.config.models import SystemConfig

_MARKER = ""  # check_history's run-marker fingerprint
_RESOLVED_WATCHED = {Resolution.FIXED.value, Resolution.MITIGATED.value}


@dataclass(frozen=True)
class WatchOutcome:
    """What one detection run concluded about one watched incident."""

    key: str
    verdict: str  # "watching", "regressed" or "validated"
    clean_runs: int
    detail: str = ""


def start_watch(session: Session, inc: Incident, actor: str, *, policy: WatchPolicy, reason: str, at: datetime) -> None:
    """Start (or restart) the incident's watch period from ``at``."""
    watch = {
        "since": utc(at).isoformat(),
        "runs": policy.runs,
        "auto_resolve": policy.auto_resolve,
        "status": "watching",
        "reason": reason,
    }
    inc.details = {**inc.details, "watch": watch}
    _flush(session, inc)
    record_event(session, inc, EventKind.VALIDATION, actor, {"step": "started", **watch}, at=at)


def _runs_since(session: Session, system: str, since: datetime, until: datetime, limit: int) -> list[datetime]:
    stmt = (
        sa.select(CheckHistory.run_at)
        .where(
            CheckHistory.system == system,
            CheckHistory.fingerprint == _MARKER,
            CheckHistory.run_at > since,
            CheckHistory.run_at <= until,
        )
        .order_by(CheckHistory.run_at)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def _failures(session: Session, system: str, fingerprint: str, runs: list[datetime]) -> list[tuple[datetime, Any]]:
    if not runs:
        return []
    stmt = (
        sa.select(CheckHistory.run_at, CheckHistory.details)
        .where(
            CheckHistory.system == system,
            CheckHistory.fingerprint == fingerprint,
            CheckHistory.failed.is_(True),
            CheckHistory.run_at.in_(runs),
        )
        .order_by(CheckHistory.run_at)
    )
    return [(at, details) for at, details in session.execute(stmt)]


def _horizon(session: Session, system: str, until: datetime, runs: int) -> datetime | None:
    """Return the time of the ``runs``-th latest detection run up to ``until`` (older resolutions are past watching)."""
    stmt = (
        sa.select(CheckHistory.run_at)
        .where(CheckHistory.system == system, CheckHistory.fingerprint == _MARKER, CheckHistory.run_at <= until)
        .order_by(CheckHistory.run_at.desc())
        .offset(runs)
        .limit(1)
    )
    return session.scalars(stmt).first()


def _mark_actions(session: Session, inc: Incident, effective: bool) -> list[str]:
    rows = session.scalars(
        sa.select(MitigationAction).where(
            MitigationAction.incident_id == inc.id,
            MitigationAction.status == MitigationStatus.SUCCEEDED,
            MitigationAction.effective.is_(None),
        )
    )
    names = []
    for row in rows:
        row.effective = effective
        names.append(row.name)
    session.flush()
    return names


def _when(session: Session, inc: Incident, run_at: datetime) -> datetime:
    last = last_change_at(session, inc)
    return max(run_at, last) if last is not None else run_at


def evaluate_watches(
    session: Session, cfg: SystemConfig, run_at: datetime, actor: str = "detection"
) -> list[WatchOutcome]:
    """Judge every watched incident of the system after the detection run at ``run_at`` was recorded."""
    from rcaflows.triage.escalation import replan_escalation  # triage builds on incidents and this module

    system, at = cfg.system.name, utc(run_at)
    mit = cfg.mitigation
    longest = max([mit.watch.runs, *(p.runs for p in mit.watch_by_type.values())])
    horizon = _horizon(session, system, at, longest)
    cond = Incident.state == IncidentState.MITIGATED
    resolved = Incident.state == IncidentState.RESOLVED
    if horizon is not None:
        resolved = sa.and_(resolved, Incident.resolved_at > horizon)
    stmt = sa.select(Incident).where(Incident.system == system, sa.or_(cond, resolved)).order_by(Incident.id)
    out: list[WatchOutcome] = []
    for inc in session.scalars(stmt).all():
        watch = inc.details.get("watch")
        policy = mit.watch_for(inc.type)
        # Entering mitigated (by hand too) or resolved as fixed/mitigated starts a watch, unless one is
        # running or already judged this very entry.
        entered = inc.resolved_at if inc.state is IncidentState.RESOLVED else last_change_at(session, inc)
        if entered is not None and (
            watch is None
            or (watch.get("status") == "regressed" and utc(datetime.fromisoformat(watch["since"])) < entered)
        ):
            reason = (inc.details.get("resolution") or {}).get("reason")
            if inc.state is IncidentState.RESOLVED and reason not in _RESOLVED_WATCHED:
                continue
            why = f"resolved ({reason})" if inc.state is IncidentState.RESOLVED else "mitigated"
            start_watch(session, inc, actor, policy=policy, reason=why, at=entered)
            watch = inc.details["watch"]
        if watch is None or watch.get("status") != "watching":
            continue
        since, need = utc(datetime.fromisoformat(watch["since"])), int(watch["runs"])
        runs = _runs_since(session, system, since, at, need)
        failed = _failures(session, system, inc.fingerprint, runs)
        if failed:
            first_at, evidence = failed[0]
            when = _when(session, inc, at)
            names = _mark_actions(session, inc, effective=False)
            detail = f"its checks failed again at {first_at.isoformat()} ({len(runs)} run(s) after the fix)"
            comment = f"fix not effective: {detail}"
            if inc.state is IncidentState.MITIGATED:
                inc = transition(session, inc, Action.REGRESS, actor, at=when, comment=comment, evidence=evidence)
                steps = replan_escalation(session, inc, when)
            else:
                inc = reopen(session, inc, actor, comment=comment, at=when)
                steps = []
            inc.details = {**inc.details, "watch": {**watch, "status": "regressed", "failed_at": first_at.isoformat()}}
            _flush(session, inc)
            record_event(
                session,
                inc,
                EventKind.VALIDATION,
                actor,
                {"step": "regressed", "detail": detail, "evidence": evidence, "not_effective": names},
                at=when,
            )
            record_event(
                session,
                inc,
                EventKind.ESCALATION,
                actor,
                {"action": "escalate", "reason": comment, "steps_planned": len(steps)},
                at=when,
            )
            out.append(WatchOutcome(inc.key, "regressed", len(runs) - 1, detail))
            continue
        if len(runs) < need:
            out.append(WatchOutcome(inc.key, "watching", len(runs)))
            continue
        when = _when(session, inc, at)
        names = _mark_actions(session, inc, effective=True)
        inc.details = {**inc.details, "watch": {**watch, "status": "validated", "validated_at": when.isoformat()}}
        _flush(session, inc)
        record_event(
            session,
            inc,
            EventKind.VALIDATION,
            actor,
            {"step": "validated", "clean_runs": need, "effective": names},
            at=when,
        )
        if watch.get("auto_resolve") and inc.state is IncidentState.MITIGATED:
            resolve(
                session,
                inc,
                actor,
                reason=Resolution.MITIGATED,
                comment=f"validated: {need} clean detection runs",
                at=when,
            )
        out.append(WatchOutcome(inc.key, "validated", need))
    return out
