"""Lifecycle operations people run on an incident: acknowledge, assign, note, mitigate, resolve, reopen, merge, snooze.

Each operation is one guarded step and one audit event, inside the caller's session (one
transaction): a state change goes through :func:`~rcaflows.incidents.service.transition` (the
transition table), an operation that keeps the state is checked against
:data:`~rcaflows.incidents.lifecycle.OPERATIONS` and queues an
:class:`~rcaflows.incidents.lifecycle_events.IncidentUpdated`. Side effects (cancelling or re-planning
escalation steps, messages, post-mortems) are the subscribers' (:mod:`rcaflows.wiring`), after
the commit.
Concurrent operations on one incident serialize (SQLite ``BEGIN IMMEDIATE``; the version
counter elsewhere), so they never interleave into a state the audit log cannot explain.

=============== ================ ===========================================================
operation       event            effect
=============== ================ ===========================================================
acknowledge     transition       -> acknowledged; ``details.ack`` (by, at, comment, expires_at)
assign          triaged          ``details.assignee`` (and ``team`` when given)
note            note             nothing but the event
mitigate        transition       -> mitigated
resolve         transition       -> resolved with ``resolution`` (:class:`Resolution`)
reopen          transition       -> triaged; escalation planned again from now (subscriber)
merge           transition, note the duplicate -> resolved (duplicate, ``merged_into``); the
                                 survivor gets a ``merge`` note and the duplicate's count
snooze          note             an incident-scoped silence (fingerprint) until the expiry;
                                 its escalation waits until then
set_severity    triaged          severity (and priority) pinned: re-triage keeps them
=============== ================ ===========================================================
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session

from rcaflows.errors import StoreError, TransitionError
from rcaflows.incidents import lifecycle, lifecycle_events
from rcaflows.incidents.lifecycle import Action, Operation
from rcaflows.incidents.models import EventKind, Incident
from rcaflows.incidents.service import _attached, _flush, check_time, record_event, transition
from rcaflows.timeutil import now_utc, utc
from rcaflows.vocab import Priority, Severity


class Resolution(StrEnum):
    """Why an incident was resolved."""

    FIXED = "fixed"
    MITIGATED = "mitigated"  # the symptom is gone, the cause is not fixed
    FALSE_POSITIVE = "false_positive"
    BENIGN = "benign"  # a real change that needs no action (a planned migration)
    DUPLICATE = "duplicate"
    EXPECTED = "expected"  # a known, scheduled condition
    WONT_FIX = "wont_fix"


def _when(session: Session, inc: Incident, at: datetime | None) -> datetime:
    """Return the operation's time: now, or ``at`` if it neither precedes the last change nor lies ahead."""
    return check_time(session, inc, at) if at is not None else now_utc()


def _need(value: str, what: str) -> str:
    if not value or not value.strip():
        raise StoreError(f"{what} is empty; {what} is required")
    return value.strip()


def acknowledge(
    session: Session,
    ref: Incident | int | str,
    actor: str,
    *,
    comment: str = "",
    expires_in: timedelta | None = None,
    at: datetime | None = None,
) -> Incident:
    """Acknowledge (escalation then cancels the ``until=ack`` steps); with ``expires_in`` the ack lapses then."""
    inc = _attached(session, ref)
    lifecycle.check(inc.state, Action.ACKNOWLEDGE, subject=inc.key)
    when = _when(session, inc, at)
    if expires_in is not None and expires_in <= timedelta(0):
        raise StoreError(f"acknowledge {inc.key}: expiry {expires_in} must be positive")
    expires = (when + expires_in).isoformat() if expires_in is not None else None
    inc.details = {
        **inc.details,
        "ack": {"by": actor, "at": when.isoformat(), "comment": comment, "expires_at": expires},
    }
    return transition(session, inc, Action.ACKNOWLEDGE, actor, at=when, comment=comment, expires_at=expires)


def _operation(
    session: Session,
    inc: Incident,
    op: Operation,
    kind: EventKind,
    actor: str,
    payload: dict[str, Any],
    at: datetime,
) -> Incident:
    _flush(session, inc)  # a concurrent change to the incident fails here, before the event
    record_event(session, inc, kind, actor, {**payload, "action": op.value, "state": inc.state.value}, at=at)
    _updated(session, inc, op, actor, at)
    return inc


def _updated(session: Session, inc: Incident, op: Operation, actor: str, at: datetime) -> None:
    ev = lifecycle_events.IncidentUpdated(incident_id=inc.id, key=inc.key, actor=actor, at=at, operation=op.value)
    lifecycle_events.queue(session, ev)


def assign(
    session: Session,
    ref: Incident | int | str,
    assignee: str,
    actor: str,
    *,
    team: str | None = None,
    at: datetime | None = None,
) -> Incident:
    """Assign the incident to a person (and optionally hand it to another team)."""
    inc = _attached(session, ref)
    lifecycle.check_operation(inc.state, Operation.ASSIGN, subject=inc.key)
    who = _need(assignee, "assignee")
    prev = {"assignee": inc.details.get("assignee"), "team": inc.team}
    inc.details = {**inc.details, "assignee": who}
    if team is not None:
        inc.team = _need(team, "team")
    payload = {"assignee": who, "team": inc.team, "previous": prev}
    return _operation(session, inc, Operation.ASSIGN, EventKind.TRIAGED, actor, payload, _when(session, inc, at))


def note(session: Session, ref: Incident | int | str, text: str, actor: str, *, at: datetime | None = None) -> Incident:
    """Add a note to the incident's log (allowed in every state)."""
    inc = _attached(session, ref)
    lifecycle.check_operation(inc.state, Operation.NOTE, subject=inc.key)
    body = _need(text, "note text")
    when = _when(session, inc, at)
    record_event(
        session, inc, EventKind.NOTE, actor, {"action": "note", "text": body, "state": inc.state.value}, at=when
    )
    _updated(session, inc, Operation.NOTE, actor, when)
    return inc


def mitigate(
    session: Session, ref: Incident | int | str, actor: str, *, comment: str = "", at: datetime | None = None
) -> Incident:
    """Mark the impact contained (the cause may still be there)."""
    inc = _attached(session, ref)  # take the write lock before reading the clock, so the log stays ordered
    return transition(session, inc, Action.MITIGATE, actor, at=_when(session, inc, at), comment=comment)


def resolve(
    session: Session,
    ref: Incident | int | str,
    actor: str,
    *,
    reason: Resolution | str = Resolution.FIXED,
    comment: str = "",
    at: datetime | None = None,
    **extra: Any,
) -> Incident:
    """Resolve with a resolution reason (escalation then cancels every pending step, after the commit)."""
    try:
        why = Resolution(reason)
    except ValueError:
        raise StoreError(
            f"unknown resolution reason {reason!r}; expected one of {', '.join(r.value for r in Resolution)}"
        ) from None
    inc = _attached(session, ref)
    lifecycle.check(inc.state, Action.RESOLVE, subject=inc.key)
    inc.details = {**inc.details, "resolution": {"reason": why.value, "by": actor, "comment": comment}}
    return transition(
        session, inc, Action.RESOLVE, actor, at=_when(session, inc, at), resolution=why.value, comment=comment, **extra
    )


def reopen(
    session: Session, ref: Incident | int | str, actor: str, *, comment: str = "", at: datetime | None = None
) -> Incident:
    """Reopen a resolved incident (escalation then plans its policy snapshot again from this time)."""
    inc = _attached(session, ref)
    lifecycle.check(inc.state, Action.REOPEN, subject=inc.key)
    when = _when(session, inc, at)
    details = {k: v for k, v in inc.details.items() if k not in ("resolution", "ack", "merged_into")}
    inc.details = details
    return transition(session, inc, Action.REOPEN, actor, at=when, comment=comment)


def merge(
    session: Session,
    duplicate: Incident | int | str,
    survivor: Incident | int | str,
    actor: str,
    *,
    comment: str = "",
    at: datetime | None = None,
) -> tuple[Incident, Incident]:
    """Merge ``duplicate`` into ``survivor``: resolve it as a duplicate linked to the survivor; its events stay.

    Returns:
        ``(duplicate, survivor)``.

    Raises:
        TransitionError: If they are the same incident, the survivor is not open, or the duplicate
            cannot be resolved.
    """
    dup = _attached(session, duplicate)
    keep = _attached(session, survivor)
    if dup.id == keep.id:
        raise TransitionError(f"cannot merge {dup.key} into itself")
    lifecycle.check_operation(keep.state, Operation.MERGE, subject=keep.key)
    lifecycle.check(dup.state, Action.RESOLVE, subject=dup.key)
    when = _when(session, keep, _when(session, dup, at) if at is not None else None)
    dup.details = {**dup.details, "merged_into": keep.key}
    resolve(session, dup, actor, reason=Resolution.DUPLICATE, comment=comment, at=when, merged_into=keep.key)
    keep.details = {**keep.details, "merged": [*keep.details.get("merged", []), dup.key]}
    keep.occurrences += dup.occurrences
    keep.last_seen_at = max(keep.last_seen_at, dup.last_seen_at)
    _operation(
        session,
        keep,
        Operation.MERGE,
        EventKind.NOTE,
        actor,
        {"merged": dup.key, "occurrences": keep.occurrences, "comment": comment},
        when,
    )
    return dup, keep


def snooze(
    session: Session,
    ref: Incident | int | str,
    actor: str,
    *,
    reason: str,
    duration: timedelta | None = None,
    until: datetime | None = None,
    at: datetime | None = None,
) -> Incident:
    """Snooze until an expiry: an incident-scoped silence (its fingerprint), and its escalation waits."""
    from rcaflows.incidents.suppression import add_silence

    inc = _attached(session, ref)
    lifecycle.check_operation(inc.state, Operation.SNOOZE, subject=inc.key)
    why = _need(reason, "snooze reason")
    when = _when(session, inc, at)
    if (duration is None) == (until is None):
        raise StoreError(f"snooze {inc.key}: give exactly one of a duration or an expiry time")
    end = utc(until) if until is not None else when + (duration or timedelta(0))
    if end <= when:
        raise StoreError(f"snooze {inc.key}: expiry {end.isoformat()} is not after {when.isoformat()}")
    silence = add_silence(
        session, author=actor, reason=why, system=inc.system, fingerprint=inc.fingerprint, starts_at=when, ends_at=end
    )
    inc.details = {
        **inc.details,
        "snooze": {"until": end.isoformat(), "by": actor, "reason": why, "silence": silence.id},
    }
    payload = {"until": end.isoformat(), "reason": why, "silence": silence.id}
    return _operation(session, inc, Operation.SNOOZE, EventKind.NOTE, actor, payload, when)


def set_severity(
    session: Session,
    ref: Incident | int | str,
    severity: Severity | str,
    actor: str,
    *,
    reason: str,
    priority: Priority | str | None = None,
    at: datetime | None = None,
) -> Incident:
    """Override severity (and optionally priority) by hand: pinned, so a later re-triage keeps it."""
    inc = _attached(session, ref)
    lifecycle.check_operation(inc.state, Operation.SET_SEVERITY, subject=inc.key)
    try:
        sev = Severity(severity)
        prio = Priority(priority) if priority is not None else inc.priority
    except ValueError as e:
        raise StoreError(f"set severity of {inc.key}: {e}") from None
    why = _need(reason, "override reason")
    when = _when(session, inc, at)
    previous = {"severity": inc.severity.value, "priority": inc.priority.value}
    inc.severity, inc.priority = sev, prio
    pin = {"severity": sev.value, "priority": prio.value, "by": actor, "at": when.isoformat(), "reason": why}
    inc.details = {**inc.details, "severity_override": pin}
    payload = {"severity": sev.value, "priority": prio.value, "previous": previous, "reason": why, "pinned": True}
    return _operation(session, inc, Operation.SET_SEVERITY, EventKind.TRIAGED, actor, payload, when)


def retriage(
    session: Session,
    ref: Incident | int | str,
    severity: Severity | str,
    priority: Priority | str,
    actor: str,
    *,
    reasons: list[str] | None = None,
    at: datetime | None = None,
) -> Incident:
    """Apply an automatic re-triage; a pinned human override keeps severity and priority (and says so)."""
    inc = _attached(session, ref)
    if inc.state not in lifecycle.OPERATIONS[Operation.SET_SEVERITY]:
        raise TransitionError(f"cannot re-triage {inc.key}: it is {inc.state.value}")
    pin = inc.details.get("severity_override")
    proposed = {"severity": Severity(severity).value, "priority": Priority(priority).value}
    if pin is None:
        inc.severity, inc.priority = Severity(severity), Priority(priority)
    _flush(session, inc)
    payload: dict[str, Any] = {
        "action": "retriage",
        "proposed": proposed,
        "severity": inc.severity.value,
        "priority": inc.priority.value,
        "kept_override": pin is not None,
        "reasons": list(reasons or []),
        "state": inc.state.value,
    }
    record_event(session, inc, EventKind.TRIAGED, actor, payload, at=_when(session, inc, at))
    return inc
