"""Remind owners of overdue post-mortem action items through the notification channels.

An open action item whose due date has passed is sent to its owner: the owner names a team
(its ``channels``), a person of ``oncall.people`` (their ``contacts``) or a declared channel,
optionally prefixed ``team:``, ``user:`` or ``person:``. The reminder is a message of its own
(dedup key ``rcaflows/<system>/<INC>/action-<id>``, so it never edits the incident's thread),
delivered with the notify service's retries; every attempt is a ``note`` event on the incident.
An item is reminded again only after ``every`` (default one day) since its last delivered reminder.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, Field

from rcaflows.config.models import ChannelConfig, SystemConfig
from rcaflows.incidents import EventKind, Incident, Store, events, get_incident, record_event
from rcaflows.incidents.models import ActionItem, ActionItemStatus
from rcaflows.timeutil import now_utc, utc

__all__ = ["Reminder", "owner_channels", "remind_overdue"]

_PREFIXES = ("team:", "user:", "person:")


class Reminder(BaseModel):
    """One reminder of one overdue action item on one channel (or why it could not be sent)."""

    item: int
    incident: str
    owner: str
    channel: str | None = Field(None, description="Channel name, None when the owner resolves to none.")
    ok: bool
    skipped: bool = Field(False, description="Reminded less than `every` ago: not sent again.")
    error: str | None = None


def owner_channels(config: SystemConfig, owner: str) -> list[ChannelConfig]:
    """Return the declared channels that reach ``owner`` (a team, a person or a channel name).

    Raises:
        LookupError: naming the owner and what was looked up when nothing matches.
    """
    name = owner.strip()
    for prefix in _PREFIXES:
        if name.startswith(prefix):
            name = name[len(prefix) :]
            break
    declared = {c.name: c for c in config.notifications}
    team = next((t for t in config.teams if t.name == name), None)
    person = next((p for p in config.oncall.people if p.name == name), None)
    names = team.channels if team is not None else person.contacts if person is not None else [name]
    found = [declared[n] for n in names if n in declared]
    if not found:
        raise LookupError(
            f"owner {owner!r} is not a team with channels, a person with contacts or a declared channel "
            f"(teams: {', '.join(t.name for t in config.teams) or 'none'}; "
            f"channels: {', '.join(declared) or 'none'})"
        )
    return found


def _last_reminded(log: list[Any], item_id: int) -> datetime | None:
    """Return when the item's last delivered reminder was judged (``reminded_at``; the event time if absent)."""
    sent = [
        utc(e.payload.get("reminded_at") or e.at)
        for e in log
        if e.kind is EventKind.NOTE and (e.payload or {}).get("reminder") == item_id and e.payload.get("ok")
    ]
    return max(sent) if sent else None


def remind_overdue(
    store: Store,
    config: SystemConfig,
    *,
    now: datetime | None = None,
    every: timedelta = timedelta(days=1),
    actor: str = "reminders",
    sleep: Callable[[float], None] = time.sleep,
) -> list[Reminder]:
    """Send a reminder to the owner of every open action item of the config's system due before ``now``.

    Delivery failures and unknown owners are recorded (a ``note`` event with the error) and
    returned, never raised.
    """
    from rcaflows.notify import EventAction, build_message, deliver_with_retries

    at = utc(now) if now is not None else now_utc()
    with store.session(readonly=True) as s:
        items = list(
            s.scalars(
                sa.select(ActionItem)
                .join(Incident, Incident.id == ActionItem.incident_id)
                .where(
                    Incident.system == config.system.name,
                    ActionItem.status == ActionItemStatus.OPEN,
                    ActionItem.due_at.is_not(None),
                    ActionItem.due_at < at,
                )
                .order_by(ActionItem.due_at, ActionItem.id)
            )
        )
        todo = []
        for item in items:
            inc = get_incident(s, item.incident_id)
            last = _last_reminded(events(s, inc), item.id)
            assert item.due_at is not None
            due = utc(item.due_at)
            late = at - due
            reason = f"action item {item.id} overdue by {_days(late)} (due {due:%Y-%m-%d %H:%M} UTC): {item.title}"
            base = build_message(s, inc, reason, config).model_copy(
                update={
                    "title": f"Overdue action item {item.id}: {item.title} (owner {item.owner})",
                    "dedup_key": f"rcaflows/{inc.system}/{inc.key}/action-{item.id}",
                    "action": EventAction.TRIGGER,
                }
            )
            todo.append((item.id, inc.id, inc.key, item.owner, last, base))
    out: list[Reminder] = []
    for item_id, incident_id, key, owner, last, message in todo:
        if last is not None and at - utc(last) < every:
            out.append(Reminder(item=item_id, incident=key, owner=owner, ok=True, skipped=True))
            continue
        try:
            channels = owner_channels(config, owner)
        except LookupError as exc:
            out.append(Reminder(item=item_id, incident=key, owner=owner, ok=False, error=str(exc)))
            with store.session() as s:
                record_event(
                    s,
                    incident_id,
                    EventKind.NOTE,
                    actor,
                    {
                        "reminder": item_id,
                        "owner": owner,
                        "ok": False,
                        "error": str(exc),
                        "message": f"reminder of overdue action item {item_id} not sent: {exc}",
                    },
                )
            continue
        for ch in channels:
            delivered, attempts, error = deliver_with_retries(ch, message, None, sleep=sleep)
            ok = delivered is not None
            out.append(Reminder(item=item_id, incident=key, owner=owner, channel=ch.name, ok=ok, error=error))
            note = f"reminder of overdue action item {item_id} to {owner} on {ch.name}: " + (
                "sent" if ok else f"FAILED after {attempts} attempt(s): {error}"
            )
            with store.session() as s:
                record_event(
                    s,
                    incident_id,
                    EventKind.NOTE,
                    actor,
                    {
                        "reminder": item_id,
                        "owner": owner,
                        "channel": ch.name,
                        "ok": ok,
                        "error": error,
                        "reminded_at": at.isoformat(),
                        "message": note,
                    },
                )
    return out


def _days(td: timedelta) -> str:
    hours = int(td.total_seconds() // 3600)
    return f"{hours // 24}d {hours % 24}h" if hours >= 24 else f"{hours}h"
