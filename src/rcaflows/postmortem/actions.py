"""Post-mortem action items: add, complete, list; each change is audited on the incident."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from rcaflows.errors import NotFoundError, TransitionError
from rcaflows.incidents import EventKind, Incident, get_incident, record_event
from rcaflows.incidents.models import ActionItem, ActionItemStatus, incident_key
from rcaflows.timeutil import now_utc, utc


def add_action(
    session: Session,
    incident: Incident | int | str,
    title: str,
    owner: str,
    actor: str,
    *,
    due_at: datetime | None = None,
    source: str = "manual",
) -> ActionItem:
    """Add an open action item to the incident's post-mortem and audit it.

    Raises:
        ValueError: If the title or owner is empty.
    """
    if not title.strip() or not owner.strip():
        raise ValueError("an action item needs a non-empty title and owner")
    inc = get_incident(session, incident)
    item = ActionItem(
        incident_id=inc.id,
        title=title.strip(),
        owner=owner.strip(),
        due_at=utc(due_at) if due_at is not None else None,
        status=ActionItemStatus.OPEN,
        source=source,
        created_at=now_utc(),
        created_by=actor,
    )
    session.add(item)
    session.flush()
    record_event(
        session, inc, EventKind.NOTE, actor, {"action_item": item.id, "added": item.title, "owner": item.owner}
    )
    return item


def get_action(session: Session, item_id: int) -> ActionItem:
    """Return one action item.

    Raises:
        NotFoundError: If there is none with that id.
    """
    item = session.get(ActionItem, item_id)
    if item is None:
        raise NotFoundError(f"no action item {item_id}; list them with 'rcaflows actions list'")
    return item


def complete_action(
    session: Session, item_id: int, actor: str, *, status: ActionItemStatus | str = ActionItemStatus.DONE
) -> ActionItem:
    """Close an open action item as done (or won't do) and audit it.

    Raises:
        NotFoundError: If there is no such item.
        TransitionError: If it is already closed, or ``status`` is ``open``.
    """
    item = get_action(session, item_id)
    final = ActionItemStatus(status)
    if final is ActionItemStatus.OPEN:
        raise TransitionError(f"action item {item_id}: close it as 'done' or 'wont_do', not 'open'")
    if item.status is not ActionItemStatus.OPEN:
        raise TransitionError(f"action item {item_id} is already {item.status.value}")
    item.status, item.done_at, item.done_by = final, now_utc(), actor
    session.flush()
    record_event(session, item.incident_id, EventKind.NOTE, actor, {"action_item": item.id, final.value: item.title})
    return item


def list_actions(
    session: Session, *, incident: Incident | int | str | None = None, status: ActionItemStatus | str | None = None
) -> list[ActionItem]:
    """Return action items, open ones with the nearest due date first."""
    stmt = sa.select(ActionItem)
    if incident is not None:
        stmt = stmt.where(ActionItem.incident_id == get_incident(session, incident).id)
    if status is not None:
        stmt = stmt.where(ActionItem.status == ActionItemStatus(status))
    stmt = stmt.order_by(ActionItem.status, ActionItem.due_at.is_(None), ActionItem.due_at, ActionItem.id)
    return list(session.scalars(stmt))


def action_dict(item: ActionItem) -> dict[str, Any]:
    """Return a JSON-serializable view of an action item."""
    return {
        "id": item.id,
        "incident": incident_key(item.incident_id),
        "title": item.title,
        "owner": item.owner,
        "due_at": item.due_at.isoformat() if item.due_at else None,
        "status": item.status.value,
        "source": item.source,
        "created_at": item.created_at.isoformat(),
        "created_by": item.created_by,
        "done_at": item.done_at.isoformat() if item.done_at else None,
        "done_by": item.done_by,
    }
