"""Cross-links between an incident's technical thread and its executive updates.

Engineers read the technical thread (the triage channels' messages, the technical audience);
managers read the executive updates. Each side links to the other, the way Dispatch links its
tactical and executive reports: an executive or management message carries the link to the
technical thread, a technical message the link to the latest executive update.

A link is the message's own URL where its channel gave one when it was delivered (a Slack
permalink, the ``mid:`` URL of a mail), read back from the ``notification`` events' ``link``;
otherwise the URL of the incident's latest RCA report (``rca.reports_base_url``); otherwise, before
any report exists, the link names where the thread is (channel names), so nobody is left without it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from rcaflows.config.models import SystemConfig
from rcaflows.incidents import EventKind, Incident, IncidentEvent

__all__ = ["COMMUNICATION_ACTOR", "CrossLink", "executive_update_link", "technical_channels", "technical_thread_link"]

#: The actor of the audience deliveries (``notify.audiences``); every other actor's deliveries are channel threads.
COMMUNICATION_ACTOR = "communication"


class CrossLink(BaseModel):
    """Where the other side of the conversation is: a URL where one exists, else a description."""

    model_config = ConfigDict(frozen=True)

    label: str
    url: str | None = None
    via: Literal["permalink", "report", "none"] = "none"
    channel: str | None = None
    at: datetime | None = None

    def __str__(self) -> str:
        """Return the URL, or the label when there is none (templates print the link this way)."""
        return self.url or self.label


def _audience_kinds(config: SystemConfig | None) -> dict[str, str]:
    return {a.name: a.kind for a in config.communication.audiences} if config is not None else {}


def technical_channels(incident: Incident, config: SystemConfig | None) -> set[str]:
    """Return the channels of the technical thread: the triage channels and those of technical audiences."""
    out = {str(c) for c in (incident.details or {}).get("channels") or []}
    if config is not None:
        out |= {ch for a in config.communication.audiences if a.kind == "technical" for ch in a.channels}
    return out


def _ok(e: IncidentEvent) -> bool:
    return e.kind is EventKind.NOTIFICATION and bool((e.payload or {}).get("ok"))


def technical_thread_link(
    incident: Incident,
    log: Sequence[IncidentEvent],
    config: SystemConfig | None,
    report: str | None,
    *,
    exclude: str | None = None,
) -> CrossLink:
    """Return the link to the incident's technical thread (the first delivery with a permalink on its channels).

    Args:
        incident: The incident.
        log: Its audit events, oldest first.
        config: The system config (audiences and their kinds).
        report: URL of the latest RCA report, the fallback.
        exclude: A channel not to link to (the one the message goes to: a thread never links to itself).
    """
    channels = technical_channels(incident, config)
    kinds = _audience_kinds(config)
    for e in log:
        p = e.payload or {}
        ch = str(p.get("channel") or "")
        if not _ok(e) or not p.get("link") or ch == exclude:
            continue
        audience = p.get("audience")
        on_thread = kinds.get(str(audience)) == "technical" if audience else e.actor != COMMUNICATION_ACTOR
        if on_thread and (ch in channels or ch.split(":", 1)[0] in channels or audience):
            return CrossLink(
                label=f"technical thread on {ch}", url=str(p["link"]), via="permalink", channel=ch, at=e.at
            )
    if report:
        return CrossLink(label="technical report", url=report, via="report")
    where = ", ".join(sorted(channels - {exclude} if exclude else channels)) or "the team's channels"
    return CrossLink(label=f"technical thread of {incident.key} on {where}")


def executive_update_link(
    incident: Incident, log: Sequence[IncidentEvent], config: SystemConfig | None, report: str | None
) -> CrossLink | None:
    """Return the link to the latest executive update delivered, or None when none was sent yet.

    An update edited in place (Slack ``chat.update``) keeps the permalink of its first post, so the
    link is the newest one recorded on that update's thread.
    """
    kinds = _audience_kinds(config)
    latest: IncidentEvent | None = None
    for e in log:
        p = e.payload or {}
        if _ok(e) and e.actor == COMMUNICATION_ACTOR and kinds.get(str(p.get("audience"))) == "executive":
            latest = e
    if latest is None:
        return None
    lp = latest.payload or {}
    label = f"executive update of {latest.at:%Y-%m-%d %H:%M} UTC on {lp.get('channel')}"
    for e in reversed(log):
        p = e.payload or {}
        same_thread = (
            p.get("audience") == lp.get("audience")
            and p.get("channel") == lp.get("channel")
            and p.get("external_id") == lp.get("external_id")
        )
        if _ok(e) and e.actor == COMMUNICATION_ACTOR and same_thread and p.get("link") and e.at <= latest.at:
            return CrossLink(
                label=label, url=str(p["link"]), via="permalink", channel=str(lp.get("channel")), at=latest.at
            )
    if report:
        return CrossLink(label=label, url=report, via="report", channel=str(lp.get("channel")), at=latest.at)
    return CrossLink(label=label, channel=str(lp.get("channel")), at=latest.at)
