"""Silences and per-fingerprint check history: what keeps a failing candidate from opening an incident.

A :class:`~rcaflows.incidents.models.Silence` holds matchers (system, incident type, component,
fingerprint; shell-style patterns, None matches anything), a time span, an author and a reason;
:func:`match_silence` finds the active one that matches a candidate and counts the match. Expiring
a silence ends it now and records who did it. Snoozing one incident is a silence with only a
fingerprint matcher (:func:`add_silence` with ``fingerprint=incident.fingerprint``).

:func:`record_run` writes one detection run's failing fingerprints; :func:`failure_history` reads
the last N runs of one fingerprint back for the pending rule (M failing out of N).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from rcaflows.errors import NotFoundError, StoreError
from rcaflows.incidents.models import CheckHistory, Silence
from rcaflows.timeutil import now_utc, utc
from rcaflows.vocab import IncidentType

MATCHERS = ("system", "incident_type", "component", "fingerprint")
_RUN_MARKER = ""


def add_silence(
    session: Session,
    *,
    author: str,
    reason: str,
    system: str | None = None,
    incident_type: IncidentType | str | None = None,
    component: str | None = None,
    fingerprint: str | None = None,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    duration: timedelta | None = None,
) -> Silence:
    """Create a silence and return it (flushed, so it has an id).

    Args:
        session: The unit of work.
        author: Who silences, e.g. ``"user:alice"``.
        reason: Why; shown wherever the silence is listed.
        system, incident_type, component, fingerprint: Matchers (shell-style patterns); at least
            one must be set, and every set one must match.
        starts_at: Start (default now).
        ends_at: Expiry; give this or ``duration``.
        duration: Length from ``starts_at``.

    Raises:
        StoreError: If no matcher is set, author or reason is empty, the incident type is
            unknown, or the span is empty.
    """
    if not author.strip():
        raise StoreError("silence: author is empty; say who silences (e.g. 'user:alice')")
    if not reason.strip():
        raise StoreError("silence: reason is empty; say why the alerts are silenced")
    matchers = {"system": system, "incident_type": incident_type, "component": component, "fingerprint": fingerprint}
    if all(v is None or str(v) == "" for v in matchers.values()):
        raise StoreError("silence: no matcher; set at least one of system, incident_type, component, fingerprint")
    itype = None if incident_type is None else str(getattr(incident_type, "value", incident_type))
    if itype is not None and not any(ch in itype for ch in "*?[") and itype not in {t.value for t in IncidentType}:
        raise StoreError(
            f"silence: incident_type {itype!r} is unknown; expected one of {', '.join(t.value for t in IncidentType)}"
        )
    start = utc(starts_at) if starts_at is not None else now_utc()
    if ends_at is None and duration is None:
        raise StoreError("silence: no expiry; give ends_at or duration")
    end = utc(ends_at) if ends_at is not None else start + (duration or timedelta(0))
    if end <= start:
        raise StoreError(f"silence: expiry {end.isoformat()} is not after its start {start.isoformat()}")
    silence = Silence(
        system=system or None,
        incident_type=itype,
        component=component or None,
        fingerprint=fingerprint or None,
        starts_at=start,
        ends_at=end,
        author=author,
        reason=reason,
        created_at=now_utc(),
        matched_count=0,
    )
    session.add(silence)
    session.flush()
    return silence


def get_silence(session: Session, silence_id: int) -> Silence:
    """Return one silence.

    Raises:
        NotFoundError: If there is no such silence.
    """
    silence = session.get(Silence, silence_id)
    if silence is None:
        raise NotFoundError(f"no silence {silence_id!r}; list them with `rcaflows silence list --all`")
    return silence


def list_silences(
    session: Session, *, system: str | None = None, active_at: datetime | None = None, include_expired: bool = False
) -> list[Silence]:
    """Return silences, newest first: those active at ``active_at`` (default now) unless ``include_expired``.

    ``system`` keeps silences whose system matcher is unset or matches it.
    """
    at = utc(active_at) if active_at is not None else now_utc()
    stmt = sa.select(Silence).order_by(Silence.created_at.desc(), Silence.id.desc())
    if not include_expired:
        stmt = stmt.where(Silence.starts_at <= at, Silence.ends_at > at)
    out = list(session.scalars(stmt))
    if system is not None:
        out = [s for s in out if s.system is None or fnmatchcase(system, s.system)]
    return out


def expire_silence(session: Session, silence_id: int, actor: str, *, at: datetime | None = None) -> Silence:
    """End a silence now (it stops matching) and record who ended it.

    Raises:
        NotFoundError: If there is no such silence.
        StoreError: If it has already ended.
    """
    silence = get_silence(session, silence_id)
    when = utc(at) if at is not None else now_utc()
    if silence.ends_at <= when:
        raise StoreError(f"silence {silence_id} already ended at {silence.ends_at.isoformat()}")
    silence.ends_at = max(when, silence.starts_at)
    silence.expired_at = when
    silence.expired_by = actor
    session.flush()
    return silence


def silence_matches(
    silence: Silence, *, system: str, incident_type: str, component: str, fingerprint: str, at: datetime
) -> bool:
    """Return True when ``silence`` is active at ``at`` and every set matcher matches."""
    if not (silence.starts_at <= at < silence.ends_at):
        return False
    values = {"system": system, "incident_type": incident_type, "component": component, "fingerprint": fingerprint}
    for name in MATCHERS:
        pattern = getattr(silence, name)
        if pattern is not None and not fnmatchcase(values[name], pattern):
            return False
    return True


def match_silence(
    session: Session, *, system: str, incident_type: str, component: str, fingerprint: str, at: datetime
) -> Silence | None:
    """Return the oldest active silence that matches, with its match count and time bumped; else None."""
    at = utc(at)
    stmt = sa.select(Silence).where(Silence.starts_at <= at, Silence.ends_at > at).order_by(Silence.id)
    for silence in session.scalars(stmt):
        if silence_matches(
            silence, system=system, incident_type=incident_type, component=component, fingerprint=fingerprint, at=at
        ):
            silence.matched_count += 1
            silence.last_matched_at = at if silence.last_matched_at is None else max(silence.last_matched_at, at)
            session.flush()
            return silence
    return None


def idle_silences(session: Session, *, system: str | None = None, at: datetime | None = None) -> list[Silence]:
    """Return active silences that have matched nothing yet (likely a typo in a matcher)."""
    return [s for s in list_silences(session, system=system, active_at=at) if s.matched_count == 0]


def silence_dict(silence: Silence) -> dict[str, Any]:
    """Return a JSON-serializable view of a silence."""

    def iso(ts: datetime | None) -> str | None:
        return ts.isoformat() if ts is not None else None

    return {
        "id": silence.id,
        **{name: getattr(silence, name) for name in MATCHERS},
        "starts_at": iso(silence.starts_at),
        "ends_at": iso(silence.ends_at),
        "author": silence.author,
        "reason": silence.reason,
        "created_at": iso(silence.created_at),
        "expired_at": iso(silence.expired_at),
        "expired_by": silence.expired_by,
        "matched_count": silence.matched_count,
        "last_matched_at": iso(silence.last_matched_at),
    }


# -- check history (pending period) -----------------------------------------------------------


def record_run(
    session: Session, system: str, run_at: datetime, failing: Mapping[str, Mapping[str, Any]] | None = None
) -> None:
    """Record one detection run of ``system`` and the fingerprints that failed in it.

    Re-running the same hour replaces that hour's record, so a retried run never counts twice.
    """
    at = utc(run_at)
    session.execute(sa.delete(CheckHistory).where(CheckHistory.system == system, CheckHistory.run_at == at))
    rows = [CheckHistory(system=system, run_at=at, fingerprint=_RUN_MARKER, failed=False, details={})]
    rows += [
        CheckHistory(system=system, run_at=at, fingerprint=fp, failed=True, details=dict(d))
        for fp, d in (failing or {}).items()
    ]
    session.add_all(rows)
    session.flush()


def failure_history(session: Session, system: str, fingerprint: str, *, runs: int, until: datetime) -> list[bool]:
    """Return, oldest first, whether ``fingerprint`` failed in each of the last ``runs`` runs up to ``until``."""
    at = utc(until)
    times = list(
        session.scalars(
            sa.select(CheckHistory.run_at)
            .where(
                CheckHistory.system == system,
                CheckHistory.fingerprint == _RUN_MARKER,
                CheckHistory.run_at <= at,
            )
            .order_by(CheckHistory.run_at.desc())
            .limit(runs)
        )
    )
    if not times:
        return []
    failed = set(
        session.scalars(
            sa.select(CheckHistory.run_at).where(
                CheckHistory.system == system,
                CheckHistory.fingerprint == fingerprint,
                CheckHistory.failed.is_(True),
                CheckHistory.run_at.in_(times),
            )
        )
    )
    return [t in failed for t in reversed(times)]
