"""Deliver incident notifications: one message per incident per channel, updated, never re-posted.

:func:`dispatch` runs *after* the incident's state change has committed. It reads the incident,
delivers to each channel outside any transaction (retried with bounded exponential backoff on
transient errors), then records each outcome in its own transaction: the ``notifications`` row
(ids to edit or thread onto, payload hash, attempts, last error) and one ``notification`` audit
event. A failed delivery is recorded, never raised, so it can neither block nor roll back the
change it reports. An unchanged incident (same content hash) is not sent again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from rcaflows.config.models import ChannelConfig, SystemConfig
from rcaflows.incidents import EventKind, Incident, RcaRun, RcaStatus, Store, events, get_incident, record_event
from rcaflows.incidents.models import IncidentLink, NotificationRecord, NotificationStatus, incident_key
from rcaflows.notify.base import notifier_for, redact, secret_values
from rcaflows.notify.links import executive_update_link, technical_thread_link
from rcaflows.notify.models import (
    Delivered,
    DeliveryError,
    DeliveryMode,
    DeliveryResult,
    EventAction,
    Message,
    NotifyError,
    Previous,
)
from rcaflows.timeutil import now_utc
from rcaflows.vocab import IncidentState

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 30.0
_CLOSED = {IncidentState.RESOLVED, IncidentState.CLOSED}


def dedup_key(incident: Incident) -> str:
    """Return the stable key of an incident's thread on every receiver: ``rcaflows/<system>/INC-0042``."""
    return f"rcaflows/{incident.system}/{incident.key}"


def latest_rca(session: Session, incident_id: int) -> RcaRun | None:
    """Return the incident's most recent completed RCA run, if any."""
    stmt = (
        sa.select(RcaRun)
        .where(RcaRun.incident_id == incident_id, RcaRun.status == RcaStatus.COMPLETED)
        .order_by(RcaRun.started_at.desc(), RcaRun.id.desc())
        .limit(1)
    )
    return session.scalars(stmt).first()


def build_message(
    session: Session, incident: Incident, reason: str = "", config: SystemConfig | None = None
) -> Message:
    """Return the incident's message: its state, triage, latest RCA finding (linked under ``rca.reports_base_url``)."""
    from rcaflows.reporting.storage import report_link  # reporting reads the store through this package

    run = latest_rca(session, incident.id)
    hyps = ((run.results or {}).get("hypotheses") or []) if run is not None else []
    top = hyps[0] if hyps else None
    related_ids = session.scalars(
        sa.select(IncidentLink.related_id).where(IncidentLink.incident_id == incident.id).distinct()
    )
    return Message(
        incident_key=incident.key,
        dedup_key=dedup_key(incident),
        system=incident.system,
        title=incident.title,
        state=incident.state.value,
        severity=incident.severity.value,
        priority=incident.priority.value,
        team=incident.team,
        component=incident.component,
        detected_at=incident.detected_at,
        top_cause=(f"{top['component']} ({top.get('kind', '?')})" if top else None),
        confidence=top.get("confidence") if top else None,
        report=report_link(run.report_html, config) if run is not None and run.report_html else None,
        related=[incident_key(i) for i in sorted(related_ids)],
        action=EventAction.RESOLVE if incident.state in _CLOSED else EventAction.TRIGGER,
        reason=reason,
    )


def notifications(session: Session, incident: Incident | int | str) -> list[NotificationRecord]:
    """Return the incident's notification records, one per channel, by channel name."""
    inc = incident if isinstance(incident, Incident) else get_incident(session, incident)
    stmt = (
        sa.select(NotificationRecord)
        .where(NotificationRecord.incident_id == inc.id)
        .order_by(NotificationRecord.channel)
    )
    return list(session.scalars(stmt))


def _resolve_channels(
    channels: Sequence[ChannelConfig | str], config: SystemConfig | None, records: dict[str, NotificationRecord]
) -> list[ChannelConfig | str]:
    """Return each channel's config; a name that nothing declares stays a str (recorded as an error)."""
    declared = {c.name: c for c in config.notifications} if config is not None else {}
    out: list[ChannelConfig | str] = []
    for ch in channels:
        if isinstance(ch, ChannelConfig):
            out.append(ch)
        elif ch in declared:
            out.append(declared[ch])
        elif ch in records and records[ch].channel_config:
            out.append(ChannelConfig.model_validate(records[ch].channel_config))
        else:
            out.append(ch)
    return list({(c.name if isinstance(c, ChannelConfig) else c): c for c in out}.values())


def deliver_with_retries(
    channel: ChannelConfig,
    message: Message,
    previous: Previous | None,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[Delivered | None, int, str | None]:
    """Send through the channel's notifier, retrying transient errors with bounded exponential backoff.

    Returns:
        ``(delivered or None, attempts, last error)``.
    """
    attempts = 0
    error: str | None = None
    secrets = secret_values(channel)  # errors are stored and shown: a receiver may echo a secret back
    try:
        notifier = notifier_for(channel)
    except NotifyError as exc:
        return None, 0, redact(str(exc), secrets)
    for attempt in range(channel.retries + 1):
        attempts = attempt + 1
        try:
            return notifier.send(message, previous), attempts, None
        except DeliveryError as exc:
            error = redact(str(exc), secrets)
            if not exc.transient or attempt == channel.retries:
                break
        except Exception as exc:  # a transport bug must not lose the notification silently
            error = redact(f"{type(exc).__name__}: {exc}", secrets)
            break
        sleep(min(channel.backoff * 2**attempt, MAX_BACKOFF_SECONDS))
    return None, attempts, error


def dispatch(
    store: Store,
    incident_ref: Incident | int | str,
    channels: Sequence[ChannelConfig | str],
    reason: str,
    actor: str,
    *,
    config: SystemConfig | None = None,
    sleep: Callable[[float], None] = time.sleep,
    force: bool = False,
) -> list[DeliveryResult]:
    """Post, update or resolve the incident's one message on each channel, and record each outcome.

    Call it after the state change it reports has committed. A channel is a
    :class:`ChannelConfig`, or a name looked up in ``config.notifications`` (then in the config
    recorded with an earlier delivery). Delivery failures are recorded, never raised.

    Args:
        store: The incident store.
        incident_ref: The incident, its id or key.
        channels: Channels to deliver to.
        reason: Why (shown in the message and the audit event), e.g. ``"opened"``, ``"escalation level 2"``.
        actor: Who sends, e.g. ``"detection"``, ``"escalation"``.
        config: The system config, to resolve channel names.
        sleep: Called between retries (tests pass a no-op).
        force: Send even when the message content is unchanged (an escalation must reach its targets).

    Raises:
        NotFoundError: If the incident does not exist.
    """
    with store.session(readonly=True) as s:
        inc = get_incident(s, incident_ref)
        incident_id, key = inc.id, inc.key
        base = build_message(s, inc, reason, config)
        log_ = events(s, inc)
        executive = executive_update_link(inc, log_, config, base.report)
        thread_of = {  # per channel: a thread never links to itself
            name: technical_thread_link(inc, log_, config, base.report, exclude=name)
            for name in {c.name if isinstance(c, ChannelConfig) else c for c in channels}
        }
        records = {r.channel: r for r in notifications(s, inc)}
        resolved = _resolve_channels(channels, config, records)
        prior = {
            name: (
                Previous(external_id=r.external_id, thread_id=r.thread_id, deliveries=r.deliveries)
                if r.deliveries > 0
                else None,
                r.last_payload_hash if r.status is NotificationStatus.SENT else None,
            )
            for name, r in records.items()
        }
    results: list[DeliveryResult] = []
    for ch in resolved:
        if isinstance(ch, str):
            names = ", ".join(c.name for c in config.notifications) if config is not None else "none (no config given)"
            unknown = f"unknown notification channel {ch!r}; declared channels: {names}"
            result = DeliveryResult(
                incident=key,
                channel=ch,
                kind="unknown",
                action=base.action,
                mode=DeliveryMode.FAILED,
                ok=False,
                attempts=0,
                error=unknown,
            )
            _record(store, incident_id, None, base, result, None, actor)
            results.append(result)
            continue
        previous, last_hash = prior.get(ch.name, (None, None))
        action = base.action if base.action is EventAction.RESOLVE or previous is None else EventAction.UPDATE
        thread = thread_of.get(ch.name)
        links = {
            "technical_link": thread.url if thread is not None else None,
            "executive_link": executive.url if executive is not None else None,
        }
        message = base.model_copy(update={"action": action, **links})
        if not force and previous is not None and last_hash == message.content_hash():
            results.append(
                DeliveryResult(
                    incident=key,
                    channel=ch.name,
                    kind=str(ch.kind),
                    action=action,
                    mode=DeliveryMode.SKIPPED,
                    ok=True,
                    attempts=0,
                    external_id=previous.external_id,
                )
            )
            continue
        delivered, attempts, error = deliver_with_retries(ch, message, previous, sleep=sleep)
        result = DeliveryResult(
            incident=key,
            channel=ch.name,
            kind=str(ch.kind),
            action=action,
            mode=delivered.mode if delivered else DeliveryMode.FAILED,
            ok=delivered is not None,
            attempts=attempts,
            error=error,
            external_id=delivered.external_id if delivered else (previous.external_id if previous else None),
        )
        _record(store, incident_id, ch, message, result, delivered, actor)
        if not result.ok:
            log.warning("notification of %s on %s failed after %d attempt(s): %s", key, ch.name, attempts, error)
        results.append(result)
    return results


def _record(
    store: Store,
    incident_id: int,
    channel: ChannelConfig | None,
    message: Message,
    result: DeliveryResult,
    delivered: Delivered | None,
    actor: str,
) -> None:
    """Record one delivery outcome (its row and its audit event) in a transaction of its own."""
    at = now_utc()
    with store.session() as s:
        if channel is not None:
            rec = s.scalars(
                sa.select(NotificationRecord).where(
                    NotificationRecord.incident_id == incident_id, NotificationRecord.channel == channel.name
                )
            ).first()
            if rec is None:
                rec = NotificationRecord(
                    incident_id=incident_id,
                    channel=channel.name,
                    kind=str(channel.kind),
                    status=NotificationStatus.FAILED,
                    attempts=0,
                    deliveries=0,
                    created_at=at,
                    updated_at=at,
                    last_message={},
                )
                s.add(rec)
            rec.channel_config = channel.model_dump(mode="json")
            rec.attempts += result.attempts
            rec.updated_at = at
            if delivered is not None:
                rec.status = NotificationStatus.SENT
                rec.deliveries += 1
                rec.sent_at = at
                rec.last_error = None
                rec.last_payload_hash = message.content_hash()
                rec.last_message = message.content()
                rec.external_id = delivered.external_id or rec.external_id
                if delivered.mode is not DeliveryMode.REPLY or rec.thread_id is None:
                    rec.thread_id = delivered.thread_id or rec.thread_id
            else:
                rec.status = NotificationStatus.FAILED
                rec.last_error = (result.error or "")[:2000]
            s.flush()
        payload: dict[str, Any] = {
            "channel": result.channel,
            "kind": result.kind,
            "action": result.action.value,
            "mode": result.mode.value,
            "ok": result.ok,
            "attempts": result.attempts,
            "error": result.error,
            "external_id": result.external_id,
            "link": delivered.link if delivered is not None else None,
            "reason": message.reason,
        }
        record_event(s, incident_id, EventKind.NOTIFICATION, actor, payload, at=at)


def notify_incident_changed(
    store: Store,
    incident_ref: Incident | int | str,
    *,
    config: SystemConfig | None = None,
    reason: str = "incident changed",
    actor: str = "notify",
    sleep: Callable[[float], None] = time.sleep,
) -> list[DeliveryResult]:
    """Update the incident's message on every channel it was already notified on (unchanged ones are skipped)."""
    with store.session(readonly=True) as s:
        inc = get_incident(s, incident_ref)
        names = [r.channel for r in notifications(s, inc)]
    if not names:
        return []
    return dispatch(store, incident_ref, names, reason, actor, config=config, sleep=sleep)


def last_sent(store: Store, incident_ref: Incident | int | str) -> dict[str, dict[str, Any]]:
    """Return, per channel, the content of the last message delivered for the incident."""
    with store.session(readonly=True) as s:
        return {r.channel: dict(r.last_message or {}) for r in notifications(s, incident_ref) if r.deliveries}


def notify_new_incident(
    store: Store,
    incident_ref: Incident | int | str,
    *,
    config: SystemConfig | None = None,
    actor: str = "detection",
    sleep: Callable[[float], None] = time.sleep,
) -> list[DeliveryResult]:
    """Post a new incident to the channels its triage decision chose (``details["channels"]``)."""
    with store.session(readonly=True) as s:
        inc = get_incident(s, incident_ref)
        channels = list((inc.details or {}).get("channels") or [])
    if not channels:
        return []
    return dispatch(store, incident_ref, channels, "opened", actor, config=config, sleep=sleep)


def notify_if_severity_changed(
    store: Store,
    incident_ref: Incident | int | str,
    *,
    config: SystemConfig | None = None,
    actor: str = "detection",
    sleep: Callable[[float], None] = time.sleep,
) -> list[DeliveryResult]:
    """Update a re-detected incident's messages only where the severity differs from the one last sent."""
    with store.session(readonly=True) as s:
        inc = get_incident(s, incident_ref)
        severity = inc.severity.value
        stale = [
            r.channel for r in notifications(s, inc) if r.deliveries and r.last_message.get("severity") != severity
        ]
    if not stale:
        return []
    return dispatch(store, incident_ref, stale, f"severity now {severity}", actor, config=config, sleep=sleep)
