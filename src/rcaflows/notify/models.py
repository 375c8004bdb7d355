"""What a notification carries and what a delivery returns.

::

    RcaflowsError
    └── NotifyError              a channel is misconfigured or its secret is missing
        └── DeliveryError        the receiver refused or could not be reached (``transient`` → retried)
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from rcaflows.errors import RcaflowsError


class NotifyError(RcaflowsError):
    """A channel is misconfigured, unknown, or its secret is missing."""


class DeliveryError(NotifyError):
    """A receiver refused a message or could not be reached.

    ``transient`` errors (connection failures, timeouts, HTTP 429 and 5xx, SMTP 4xx) are retried;
    the others (HTTP 4xx, SMTP 5xx, a missing secret) are not, as retrying cannot fix them.
    """

    def __init__(self, message: str, *, transient: bool) -> None:
        self.transient = transient
        super().__init__(message)


class EventAction(StrEnum):
    """What a message does to the incident's thread (PagerDuty Events v2 vocabulary)."""

    TRIGGER = "trigger"
    UPDATE = "update"
    RESOLVE = "resolve"


class DeliveryMode(StrEnum):
    """How a receiver got a message."""

    POST = "post"  # the first message
    EDIT = "edit"  # the first message was edited in place (chat.update)
    REPLY = "reply"  # a threaded follow-up (email reply, Slack thread reply, file/console update line)
    EVENT = "event"  # a keyed event the receiver dedups (generic webhook)
    SKIPPED = "skipped"  # nothing changed since the last delivery
    FAILED = "failed"


class Message(BaseModel):
    """One incident's notification content; the same for every channel, rendered per transport."""

    model_config = ConfigDict(frozen=True)

    incident_key: str = Field(description="Readable incident key, e.g. INC-0042.")
    dedup_key: str = Field(description="Stable key of the incident's thread on every receiver.")
    system: str
    title: str
    state: str
    severity: str
    priority: str
    team: str
    component: str
    detected_at: datetime
    top_cause: str | None = Field(None, description="Top-ranked root cause of the latest RCA run.")
    confidence: float | None = None
    report: str | None = Field(None, description="Path of the latest RCA report.")
    related: list[str] = Field(default_factory=list, description="Similar past incidents.")
    action: EventAction = EventAction.TRIGGER
    reason: str = Field("", description="Why this message is sent (not part of the content hash).")
    technical_link: str | None = Field(
        None, description="Where the incident's technical thread is (a permalink, else the report URL)."
    )
    executive_link: str | None = Field(
        None, description="Where the latest executive update is (a permalink or message link, else the report URL)."
    )

    def content(self) -> dict[str, Any]:
        """Return the fields whose change warrants an update (not the action, the reason or the cross-links).

        A new executive update moves ``executive_link``; re-posting every technical thread for it would be
        noise, so the links ride along with the next update that is due anyway.
        """
        return self.model_dump(mode="json", exclude={"action", "reason", "technical_link", "executive_link"})

    def links(self) -> dict[str, str]:
        """Return the message's links by label: the report, the technical thread, the latest executive update."""
        pairs = (
            ("RCA report", self.report),
            ("Technical thread", self.technical_link),
            ("Latest executive update", self.executive_link),
        )
        out: dict[str, str] = {}
        for label, url in pairs:
            if url and url not in out.values():
                out[label] = url
        return out

    def content_hash(self) -> str:
        """Return the sha256 of :meth:`content`: an unchanged incident is not re-sent."""
        return hashlib.sha256(json.dumps(self.content(), sort_keys=True).encode()).hexdigest()

    def subject(self) -> str:
        """Return the one-line headline, the same for the first message and its updates."""
        return f"[{self.severity.upper()}/{self.priority}] {self.incident_key} {self.title}"

    def text(self) -> str:
        """Return the full plain-text body."""
        lines = [
            self.subject(),
            f"state: {self.state} · team: {self.team} · component: {self.component} · system: {self.system}",
            f"detected: {self.detected_at.isoformat()}",
        ]
        if self.top_cause:
            conf = f" (confidence {self.confidence:.0%})" if self.confidence is not None else ""
            lines.append(f"top root cause: {self.top_cause}{conf}")
        if self.report:
            lines.append(f"report: {self.report}")
        if self.related:
            lines.append(f"similar past incidents: {', '.join(self.related)}")
        links = self.links()
        if "Technical thread" in links:
            lines.append(f"technical thread: {links['Technical thread']}")
        if "Latest executive update" in links:
            lines.append(f"executive update: {links['Latest executive update']}")
        if self.reason:
            lines.append(f"why: {self.reason}")
        return "\n".join(lines)

    def compact(self) -> str:
        """Return the short update line posted in-thread where the first message cannot be edited."""
        parts = [f"{self.incident_key} update: {self.state}", f"severity {self.severity}/{self.priority}"]
        if self.top_cause:
            parts.append(f"top cause {self.top_cause}")
        if self.report:
            parts.append(f"report {self.report}")
        if "Latest executive update" in (links := self.links()):
            parts.append(f"executive update {links['Latest executive update']}")
        if self.reason:
            parts.append(self.reason)
        return " · ".join(parts)


class Delivered(BaseModel):
    """What a receiver returned for one message: ids to edit or thread onto later."""

    mode: DeliveryMode
    external_id: str | None = Field(None, description="Id of the first message (Slack ts, Message-ID, dedup key).")
    thread_id: str | None = Field(None, description="Where follow-ups go (Slack channel + ts, email References).")
    link: str | None = Field(
        None, description="URL of the delivered message where the receiver gives one (Slack permalink, mid: URL)."
    )


class Previous(BaseModel):
    """What the store remembers of the incident's first message on a channel."""

    external_id: str | None = None
    thread_id: str | None = None
    deliveries: int = 0


class DeliveryResult(BaseModel):
    """The outcome of one channel's delivery for one incident, as recorded in the store."""

    incident: str
    channel: str
    kind: str
    action: EventAction
    mode: DeliveryMode
    ok: bool
    attempts: int
    error: str | None = None
    external_id: str | None = None
