"""Post-mortem states: draft → in review → published, each move guarded and audited on the incident.

The state is not a column: it is the last ``report`` event of the incident whose payload names a
``postmortem_state`` (the first draft's write records ``draft``; every move records ``from``,
``to``, who and why), so the audit log alone replays it. Allowed moves::

    draft ──► review ──► published
      ▲         │  ▲         │
      └─────────┘  └─────────┘   (sent back for changes; re-opened for another review)

A published post-mortem is frozen: refreshing it is refused until it is moved back to review,
except that a post-mortem whose incident was resolved again after publication goes back to
review by itself (the new facts need a review).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from rcaflows.errors import TransitionError
from rcaflows.incidents import EventKind, Incident, IncidentEvent, events, get_incident, record_event

__all__ = [
    "TRANSITIONS",
    "PostmortemState",
    "last_state_event",
    "move_postmortem",
    "postmortem_state",
    "resolved_after",
]


class PostmortemState(StrEnum):
    """Where a post-mortem is in its review."""

    DRAFT = "draft"
    REVIEW = "review"
    PUBLISHED = "published"

    @property
    def label(self) -> str:
        """Return the label the documents show."""
        return {"draft": "draft", "review": "in review", "published": "published"}[self.value]


#: FROM → the states it may move to.
TRANSITIONS: dict[PostmortemState, frozenset[PostmortemState]] = {
    PostmortemState.DRAFT: frozenset({PostmortemState.REVIEW}),
    PostmortemState.REVIEW: frozenset({PostmortemState.DRAFT, PostmortemState.PUBLISHED}),
    PostmortemState.PUBLISHED: frozenset({PostmortemState.REVIEW}),
}


def last_state_event(log: list[IncidentEvent]) -> IncidentEvent | None:
    """Return the latest ``report`` event that set the post-mortem's state, if any."""
    return next(
        (e for e in reversed(log) if e.kind is EventKind.REPORT and (e.payload or {}).get("postmortem_state")), None
    )


def postmortem_state(session: Session, incident: Incident | int | str) -> PostmortemState | None:
    """Return the incident's post-mortem state, or None when no draft was written yet."""
    ev = last_state_event(events(session, get_incident(session, incident)))
    return PostmortemState(ev.payload["postmortem_state"]) if ev is not None else None


def resolved_after(log: list[IncidentEvent], at: datetime) -> bool:
    """Return whether the incident was resolved (again) after ``at``."""
    return any(
        e.kind is EventKind.TRANSITION and (e.payload or {}).get("action") == "resolve" and e.at > at for e in log
    )


def move_postmortem(
    session: Session,
    incident: Incident | int | str,
    to: PostmortemState | str,
    actor: str,
    *,
    comment: str = "",
    extra: dict[str, Any] | None = None,
) -> PostmortemState:
    """Move the incident's post-mortem to ``to`` and audit it; return the new state.

    Raises:
        TransitionError: If there is no draft yet, the move is not in :data:`TRANSITIONS`, or a
            post-mortem of an incident that is still open would be published.
        ValueError: If ``to`` is not a post-mortem state.
    """
    try:
        target = PostmortemState(to)
    except ValueError:
        raise ValueError(
            f"unknown post-mortem state {to!r}; expected one of {', '.join(s.value for s in PostmortemState)}"
        ) from None
    inc = get_incident(session, incident)
    # Two reviewers moving it at once: the row lock makes the second read the first one's move (PostgreSQL;
    # SQLite serializes writers anyway), so its guard sees the new state instead of recording a second move.
    session.execute(sa.select(Incident.id).where(Incident.id == inc.id).with_for_update())
    current = postmortem_state(session, inc)
    if current is None:
        raise TransitionError(
            f"{inc.key} has no post-mortem draft yet; write it first with 'rcaflows postmortem {inc.key}'"
        )
    if target not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(s.value for s in TRANSITIONS[current]))
        raise TransitionError(
            f"{inc.key}: post-mortem is {current.value}; it can move to {allowed}, not {target.value}"
        )
    if target is PostmortemState.PUBLISHED and inc.is_open:
        raise TransitionError(
            f"{inc.key} is {inc.state.value}; a post-mortem is published once the incident is resolved"
        )
    payload: dict[str, Any] = {"postmortem_state": target.value, "from": current.value, **(extra or {})}
    if comment:
        payload["comment"] = comment
    record_event(session, inc, EventKind.REPORT, actor, payload)
    return target
