"""Functions over the incident store: open or dedup, transition, record, query, RCA runs.

Every function takes a :class:`~sqlalchemy.orm.Session` from :meth:`Store.session`, which is one
transaction: call them inside one ``with store.session() as s:`` block per unit of work, and either
all of it is written or none of it. A change queues one typed event
(:mod:`~rcaflows.incidents.lifecycle_events`), published to the subscribers only after that commit.
"""

from __future__ import annotations

import functools
import hashlib
import re
import subprocess
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

import rcaflows
from rcaflows.errors import NotFoundError, TransitionError
from rcaflows.incidents import lifecycle, lifecycle_events
from rcaflows.incidents.db import mask_url
from rcaflows.incidents.lifecycle import Action
from rcaflows.incidents.models import (
    EscalationStep,
    EventKind,
    Incident,
    IncidentEvent,
    RcaRun,
    RcaStatus,
    StepStatus,
    incident_key,
)
from rcaflows.timeutil import now_utc, utc
from rcaflows.vocab import OPEN_STATES, IncidentState, IncidentType, Priority, Severity

_STAMP_FIELDS = tuple(lifecycle.timestamp_field(s) for s in IncidentState)


def fingerprint_for(
    system: str, type: IncidentType | str, subtype: str, component: str, metric: str | None = None
) -> str:
    """Return the dedup fingerprint of an incident: sha256 hex (first 16) of its identifying fields.

    Use it only when the source gives none: a fingerprint that comes from upstream (an
    Alertmanager or a vendor monitor) must be kept verbatim, so the incident stays correlated
    with the source (Keep #2312 re-hashed them and lost that).
    """
    parts = [system, str(getattr(type, "value", type)), subtype, component, metric or ""]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


def fit(value: str, limit: int) -> str:
    """Return ``value``, or, if longer than ``limit``, its head and a hash of the whole (still unique, fits)."""
    if len(value) <= limit:
        return value
    digest = hashlib.sha256(value.encode()).hexdigest()[:16]
    return f"{value[: limit - 18]}…~{digest}"


def _limit(column: str) -> int:
    column_type = Incident.__table__.c[column].type
    assert isinstance(column_type, sa.String) and column_type.length is not None
    return column_type.length


class NewIncident(BaseModel):
    """What detection (after triage scoring) knows about a new or repeated incident."""

    model_config = ConfigDict(frozen=True)

    system: str = Field(min_length=1, description="Monitored system the incident belongs to.")
    type: IncidentType = Field(description="Kind of AI incident.")
    subtype: str = Field(description="Finer kind, e.g. 'latency', 'accuracy_drop', 'null_rate'.")
    component: str = Field(description="Component the incident is about.")
    metric: str | None = Field(None, description="Metric, column or quantity that moved.")
    title: str = Field(min_length=1, description="One readable line.")
    severity: Severity = Field(description="Impact.")
    priority: Priority = Field(description="Urgency.")
    team: str = Field(description="Owning team.")
    fingerprint: str = Field(
        "",
        description="Dedup key; kept verbatim when given by the source, else computed by fingerprint_for.",
    )
    detected_at: datetime = Field(description="When the deviation was detected (aware; stored as UTC).")
    details: dict[str, Any] = Field(default_factory=dict, description="Evidence, JSON-serializable.")

    @field_validator("detected_at", mode="before")
    @classmethod
    def _aware_utc(cls, value: Any) -> datetime:
        return utc(value)

    @field_validator("system", "subtype", "component", "metric", "team", "title", "fingerprint")
    @classmethod
    def _fits_the_store(cls, value: str | None, info: ValidationInfo) -> str | None:
        # A name from the data (the config's are validated) may exceed a column: store a unique short form
        # rather than fail the incident on PostgreSQL (SQLite would keep it whole: one rule on both stores).
        return fit(value, _limit(str(info.field_name))) if value is not None else None

    @model_validator(mode="after")
    def _default_fingerprint(self) -> NewIncident:
        if not self.fingerprint:
            fp = fingerprint_for(self.system, self.type, self.subtype, self.component, self.metric)
            object.__setattr__(self, "fingerprint", fp)
        return self


# -- lookups ---------------------------------------------------------------------------------

_KEY = re.compile(r"^\s*(?:INC-?)?0*(\d+)\s*$", re.IGNORECASE)


def _where(session: Session) -> str:
    bind = session.get_bind()
    return mask_url(bind.engine.url)


_MAX_ID = 2**63 - 1


def get_incident(session: Session, ref: int | str | Incident, *, for_update: bool = False) -> Incident:
    """Return the incident ``ref`` names: ``42``, ``"42"`` or ``"INC-0042"``.

    ``for_update`` locks its row until the transaction ends on PostgreSQL (``SELECT ... FOR
    UPDATE``), so a unit that reads the state and then writes serializes with other writers of
    that incident, as SQLite's ``BEGIN IMMEDIATE`` already makes every writer do.

    Raises:
        NotFoundError: If ``ref`` is not an incident reference, or no such incident exists.
    """
    if isinstance(ref, Incident):
        ref = ref.id
    incident_id: int | None = None
    if isinstance(ref, int) and not isinstance(ref, bool):
        incident_id = ref
    elif isinstance(ref, str) and (m := _KEY.match(ref)):
        incident_id = int(m.group(1))
    if incident_id is None:
        raise NotFoundError(f"{ref!r} is not an incident reference; expected e.g. 42, '42' or 'INC-0042'")
    lock = True if for_update and session.get_bind().dialect.name == "postgresql" else None
    # ids are positive 64-bit integers on every store: a larger number names no incident (and would
    # overflow the driver's integer parameter)
    exists = 0 < incident_id <= _MAX_ID
    incident = session.get(Incident, incident_id, with_for_update=lock) if exists else None
    if incident is None:
        raise NotFoundError(f"no incident {ref!r} in {_where(session)}")
    return incident


def list_incidents(
    session: Session,
    *,
    system: str | None = None,
    states: Iterable[IncidentState | str] | None = None,
    limit: int = 100,
) -> list[Incident]:
    """Return incidents, newest detection first, optionally of one system and in some states."""
    stmt = sa.select(Incident).order_by(Incident.detected_at.desc(), Incident.id.desc()).limit(limit)
    if system is not None:
        stmt = stmt.where(Incident.system == system)
    if states is not None:
        stmt = stmt.where(Incident.state.in_([IncidentState(s) for s in states]))
    return list(session.scalars(stmt))


def events(session: Session, incident: Incident | int | str) -> list[IncidentEvent]:
    """Return the incident's audit log in time order."""
    incident_id = incident.id if isinstance(incident, Incident) else get_incident(session, incident).id
    stmt = (
        sa.select(IncidentEvent)
        .where(IncidentEvent.incident_id == incident_id)
        .order_by(IncidentEvent.at, IncidentEvent.id)
    )
    return list(session.scalars(stmt))


def _attached(session: Session, incident: Incident | int | str) -> Incident:
    """Return the incident as loaded in ``session`` (an object from another session is re-read)."""
    if isinstance(incident, Incident) and incident in session:
        return incident
    return get_incident(session, incident, for_update=True)  # callers write: serialize on PostgreSQL


# -- writes ----------------------------------------------------------------------------------


def record_event(
    session: Session,
    incident: Incident | int | str,
    kind: EventKind | str,
    actor: str,
    payload: dict[str, Any] | None = None,
    *,
    at: datetime | None = None,
) -> IncidentEvent:
    """Append one event to the incident's audit log and return it (flushed, so it has an id)."""
    inc = _attached(session, incident)
    ev = IncidentEvent(
        incident_id=inc.id,
        at=utc(at) if at is not None else now_utc(),
        actor=actor,
        kind=EventKind(kind),
        payload=dict(payload or {}),
    )
    session.add(ev)
    session.flush()
    return ev


def _find_open_duplicate(session: Session, system: str, fingerprint: str) -> Incident | None:
    stmt = (
        sa.select(Incident)
        .where(
            Incident.system == system,
            Incident.fingerprint == fingerprint,
            Incident.state.in_(sorted(OPEN_STATES)),
        )
        .order_by(Incident.detected_at.desc(), Incident.id.desc())
        .limit(1)
    )
    return session.scalars(stmt).first()


def _serialize_dedup(session: Session, system: str, fingerprint: str) -> None:
    """Serialize concurrent open_or_touch calls for one fingerprint until this transaction ends.

    SQLite needs nothing: write sessions begin IMMEDIATE, so they are already serial. PostgreSQL
    takes a transaction-scoped advisory lock on the fingerprint.
    """
    if session.get_bind().dialect.name == "postgresql":
        key = int.from_bytes(hashlib.sha256(f"{system}\x1f{fingerprint}".encode()).digest()[:8], "big", signed=True)
        session.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


def _already_seen(session: Session, incident: Incident, seen_at: datetime) -> bool:
    """Return True if the incident was detected, or seen again, at exactly ``seen_at`` before."""
    if seen_at in (incident.detected_at, incident.last_seen_at):
        return True
    if seen_at > incident.last_seen_at:  # the usual case, a new hour: no need to read the log
        return False
    stamp = seen_at.isoformat()
    stmt = sa.select(IncidentEvent.payload).where(
        IncidentEvent.incident_id == incident.id, IncidentEvent.kind == EventKind.DUPLICATE
    )
    return any((payload or {}).get("seen_at") == stamp for payload in session.scalars(stmt))


def open_or_touch(session: Session, new: NewIncident, actor: str = "detection") -> tuple[Incident, bool]:
    """Return the open incident with ``new``'s fingerprint, touched, or a new one.

    A duplicate (an open incident of the same system and fingerprint) gets ``last_seen_at`` and
    ``occurrences`` bumped and a ``duplicate`` event, unless it was already seen at that very time
    (a detection run repeated for the same hour changes nothing); otherwise a new incident is inserted in state
    ``detected`` with a ``detected`` event carrying the details. A resolved or closed incident is
    never touched: the same fingerprint then opens a new incident.

    Returns:
        ``(incident, created)``.
    """
    _serialize_dedup(session, new.system, new.fingerprint)
    existing = _find_open_duplicate(session, new.system, new.fingerprint)
    seen_at = new.detected_at
    if existing is not None and _already_seen(session, existing, seen_at):
        return existing, False  # the same detection run again (a retry, a re-run of the hour): nothing new
    if existing is not None:
        existing.last_seen_at = max(existing.last_seen_at, seen_at)
        existing.occurrences += 1
        _flush(session, existing)
        ev = record_event(
            session,
            existing,
            EventKind.DUPLICATE,
            actor,
            {
                "fingerprint": new.fingerprint,
                "occurrences": existing.occurrences,
                "seen_at": seen_at.isoformat(),
                "title": new.title,
                "severity": new.severity.value,
                "details": new.details,
            },
        )
        lifecycle_events.queue(
            session,
            lifecycle_events.IncidentDeduplicated(
                incident_id=existing.id,
                key=existing.key,
                actor=actor,
                at=ev.at,
                occurrences=existing.occurrences,
                severity=existing.severity.value,
            ),
        )
        return existing, False
    incident = Incident(
        system=new.system,
        type=new.type,
        subtype=new.subtype,
        title=new.title,
        component=new.component,
        metric=new.metric,
        severity=new.severity,
        priority=new.priority,
        team=new.team,
        fingerprint=new.fingerprint,
        state=IncidentState.DETECTED,
        detected_at=seen_at,
        last_seen_at=seen_at,
        occurrences=1,
        details=dict(new.details),
    )
    session.add(incident)
    session.flush()
    record_event(
        session,
        incident,
        EventKind.DETECTED,
        actor,
        {
            "fingerprint": new.fingerprint,
            "title": new.title,
            "severity": new.severity.value,
            "priority": new.priority.value,
            "team": new.team,
            "details": new.details,
        },
        at=seen_at,
    )
    lifecycle_events.queue(
        session, lifecycle_events.IncidentOpened(incident_id=incident.id, key=incident.key, actor=actor, at=seen_at)
    )
    return incident, True


def _flush(session: Session, incident: Incident) -> None:
    key = incident.key  # read now: a failed flush expires the object
    try:
        session.flush()
    except StaleDataError:
        raise TransitionError(
            f"{key} changed concurrently (another operation updated it first); retry the operation in a new session"
        ) from None


def cancel_escalations(
    session: Session, incident: Incident, until: Iterable[str], actor: str, at: datetime | None = None
) -> int:
    """Cancel the incident's pending escalation steps whose ``until`` is in ``until``; return how many."""
    stmt = (
        sa.update(EscalationStep)
        .where(
            EscalationStep.incident_id == incident.id,
            EscalationStep.status == StepStatus.PENDING,
            EscalationStep.until.in_(list(until)),
        )
        .values(status=StepStatus.CANCELLED, closed_at=at or now_utc(), closed_by=actor)
        .execution_options(synchronize_session="fetch")
    )
    return int(getattr(session.execute(stmt), "rowcount", 0) or 0)


MAX_CLOCK_SKEW = timedelta(minutes=5)
"""How far in the future a given operation time may lie (clocks of hosts disagree a little)."""


# Steps the engine takes on its own clock right after detection or on an RCA run: a simulated or back-filled
# history (detection at data time, `--at` for people) must not be measured against their wall-clock times.
_ENGINE_STEPS = frozenset({Action.TRIAGE.value, Action.INVESTIGATE.value, Action.ABANDON.value})


def last_change_at(session: Session, incident: Incident) -> datetime | None:
    """Return when the incident was detected or last acknowledged, mitigated, resolved, closed or reopened."""
    stmt = sa.select(IncidentEvent.at, IncidentEvent.kind, IncidentEvent.payload).where(
        IncidentEvent.incident_id == incident.id,
        IncidentEvent.kind.in_([EventKind.DETECTED, EventKind.TRANSITION]),
    )
    times = [
        at
        for at, kind, payload in session.execute(stmt)
        if kind is EventKind.DETECTED or (payload or {}).get("action") not in _ENGINE_STEPS
    ]
    return max(times, default=None)


def check_time(session: Session, incident: Incident, at: datetime, *, future: bool = True) -> datetime:
    """Return ``at`` (aware UTC) if it is a possible time for an operation on ``incident``.

    Raises:
        TransitionError: If ``at`` precedes the incident's detection or its last acknowledgement,
            mitigation, resolution, closing or reopening (history would run backwards: a negative
            time to acknowledge or resolve), or, with ``future``, lies more than
            :data:`MAX_CLOCK_SKEW` ahead of now.
    """
    at = utc(at)
    if future and at > now_utc() + MAX_CLOCK_SKEW:
        raise TransitionError(f"{incident.key}: time {at.isoformat()} is in the future; give a time up to now (UTC)")
    last = last_change_at(session, incident)
    if last is not None and at < last:
        raise TransitionError(
            f"{incident.key}: time {at.isoformat()} precedes its last change at {last.isoformat()}; "
            "operations are recorded in time order"
        )
    return at


def transition(
    session: Session,
    incident_or_key: Incident | int | str,
    action: Action | str,
    actor: str,
    *,
    at: datetime | None = None,
    **payload: Any,
) -> Incident:
    """Apply a lifecycle action: guard it, set state and timestamp, and log one ``transition`` event.

    After the commit, the subscribers get an :class:`~rcaflows.incidents.lifecycle_events.IncidentTransitioned`
    (an :class:`~rcaflows.incidents.lifecycle_events.IncidentReopened` for ``reopen``): escalation cancels
    the steps an acknowledgement or resolution ends, notification updates the messages.

    Args:
        session: The unit of work.
        incident_or_key: The incident, its id or its key; an object from another session is
            re-read here, and the returned object is the one to use.
        action: The lifecycle action.
        actor: Who acts, e.g. ``"user:alice"`` or ``"rca:<flow-run-id>"``.
        at: When (aware; default now).
        **payload: Extra JSON-serializable fields for the event (a comment, reasons, ...).

    Raises:
        TransitionError: If the action is not allowed from the current state, or the incident
            changed concurrently (retry then).
    """
    inc = _attached(session, incident_or_key)
    from_state = inc.state
    to_state = lifecycle.check(from_state, action, subject=inc.key)
    act = Action(action)
    at = check_time(session, inc, at, future=False) if at is not None else now_utc()
    stamps = {f: getattr(inc, f) for f in _STAMP_FIELDS}
    for field, value in lifecycle.timestamp_updates(stamps, act, to_state, at).items():
        setattr(inc, field, value)
    inc.state = to_state
    _flush(session, inc)
    record_event(
        session,
        inc,
        EventKind.TRANSITION,
        actor,
        {**payload, "action": act.value, "from": from_state.value, "to": to_state.value},
        at=at,
    )
    kind = lifecycle_events.IncidentReopened if act is Action.REOPEN else lifecycle_events.IncidentTransitioned
    resolution = payload.get("resolution")
    lifecycle_events.queue(
        session,
        kind(
            incident_id=inc.id,
            key=inc.key,
            actor=actor,
            at=at,
            action=act.value,
            from_state=from_state,
            to_state=to_state,
            resolution=str(resolution) if resolution is not None else None,
        ),
    )
    return inc


def triage(
    session: Session,
    incident: Incident | int | str,
    severity: Severity | str,
    priority: Priority | str,
    team: str,
    actor: str,
    reasons: list[str] | None = None,
    *,
    at: datetime | None = None,
) -> Incident:
    """Set severity, priority and team and apply the ``triage`` transition, with one event.

    The ``transition`` event also carries the triage decision: severity, priority, team, reasons.
    ``at`` is when it happened (default now): a replayed detection run triages at its own time.
    """
    inc = _attached(session, incident)
    # Guard before changing any field, so a refused triage leaves the incident untouched.
    lifecycle.check(inc.state, Action.TRIAGE, subject=inc.key)
    inc.severity, inc.priority, inc.team = Severity(severity), Priority(priority), team
    return transition(
        session,
        inc,
        Action.TRIAGE,
        actor,
        at=at,
        severity=inc.severity.value,
        priority=inc.priority.value,
        team=team,
        reasons=list(reasons or []),
    )


# -- RCA runs --------------------------------------------------------------------------------


def start_rca_run(
    session: Session,
    *,
    incident: Incident | int | str | None,
    flow_run_id: str | None,
    inputs_fingerprint: str,
    code_version: str,
    parameters: dict[str, Any] | None = None,
) -> RcaRun:
    """Insert a new ``running`` RCA run, never reusing an earlier row, and return it (with its id).

    ``incident`` is None for an ad-hoc RCA on a metric window. The audit event (``rca_started``)
    is the caller's to record, with whatever context it has.
    """
    inc = _attached(session, incident) if incident is not None else None
    run = RcaRun(
        incident_id=inc.id if inc is not None else None,
        flow_run_id=flow_run_id,
        inputs_fingerprint=inputs_fingerprint,
        code_version=code_version,
        started_at=now_utc(),
        status=RcaStatus.RUNNING,
        parameters=dict(parameters or {}),
    )
    session.add(run)
    session.flush()
    return run


def get_rca_run(session: Session, run_id: int) -> RcaRun:
    """Return one RCA run.

    Raises:
        NotFoundError: If there is no such run.
    """
    run = session.get(RcaRun, run_id)
    if run is None:
        raise NotFoundError(f"no RCA run {run_id!r} in {_where(session)}")
    return run


def finish_rca_run(
    session: Session,
    run_id: int,
    *,
    status: RcaStatus | str,
    results: dict[str, Any] | None,
    report_html: str | None = None,
    report_md: str | None = None,
    actor: str = "rca",
) -> RcaRun:
    """Mark a running RCA run completed or failed and store its results and report paths.

    The audit events (``rca_completed`` / ``rca_failed``, ``report``) are the caller's to record; a
    completed run of an incident queues :class:`~rcaflows.incidents.lifecycle_events.RcaCompleted` by ``actor``.

    Raises:
        NotFoundError: If there is no such run.
        TransitionError: If ``status`` is not completed/failed, or the run already finished.
    """
    run = get_rca_run(session, run_id)
    final = RcaStatus(status)
    if final is RcaStatus.RUNNING:
        raise TransitionError(f"cannot finish RCA run {run_id} as running; use completed or failed")
    if run.status is not RcaStatus.RUNNING:
        raise TransitionError(
            f"cannot finish RCA run {run_id}: it is already {run.status.value}; start a new run instead"
        )
    run.status = final
    run.finished_at = now_utc()
    run.results = results
    run.report_html = report_html
    run.report_md = report_md
    session.flush()
    if final is RcaStatus.COMPLETED and run.incident_id is not None:
        hyps = (results or {}).get("hypotheses") or []
        top = hyps[0].get("component") if hyps and isinstance(hyps[0], dict) else None
        inc = session.get(Incident, run.incident_id)
        # The event speaks as of the incident's latest observation (where the data the RCA read ends),
        # not the wall clock: the updates it triggers then count impact over the span the report shows,
        # and a backtest or the demo, whose clock is not the wall's, does not count months of future.
        seen = max(inc.last_seen_at, inc.detected_at) if inc is not None else run.finished_at
        lifecycle_events.queue(
            session,
            lifecycle_events.RcaCompleted(
                incident_id=run.incident_id,
                key=incident_key(run.incident_id),
                actor=actor,
                at=min(utc(seen), run.finished_at),
                rca_run_id=run.id,
                top=top,
            ),
        )
    return run


def rca_runs(session: Session, incident: Incident | int | str) -> list[RcaRun]:
    """Return the incident's RCA runs, oldest first."""
    incident_id = incident.id if isinstance(incident, Incident) else get_incident(session, incident).id
    stmt = sa.select(RcaRun).where(RcaRun.incident_id == incident_id).order_by(RcaRun.started_at, RcaRun.id)
    return list(session.scalars(stmt))


# -- views -----------------------------------------------------------------------------------


def _iso(ts: datetime | None) -> str | None:
    return ts.isoformat() if ts is not None else None


def incident_dict(incident: Incident) -> dict[str, Any]:
    """Return a JSON-serializable view of the incident (key, every field, ISO timestamps)."""
    return {
        "key": incident.key,
        "id": incident.id,
        "system": incident.system,
        "type": incident.type.value,
        "subtype": incident.subtype,
        "title": incident.title,
        "component": incident.component,
        "metric": incident.metric,
        "severity": incident.severity.value,
        "priority": incident.priority.value,
        "team": incident.team,
        "fingerprint": incident.fingerprint,
        "state": incident.state.value,
        "open": incident.is_open,
        **{f: _iso(getattr(incident, f)) for f in _STAMP_FIELDS},
        "last_seen_at": _iso(incident.last_seen_at),
        "occurrences": incident.occurrences,
        "details": incident.details,
        "version": incident.version,
    }


@functools.cache
def code_version() -> str:
    """Return ``rcaflows.__version__``, plus ``+g<shortsha>`` when the package lives in a git checkout."""
    version = rcaflows.__version__
    package_dir = Path(rcaflows.__file__).resolve().parent
    if not any((p / ".git").exists() for p in (package_dir, *package_dir.parents)):
        return version
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=package_dir,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return version
    sha = out.stdout.strip()
    return f"{version}+g{sha}" if sha else version
