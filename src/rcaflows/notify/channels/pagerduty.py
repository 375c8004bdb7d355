"""PagerDuty Events API v2: one alert per incident, keyed by its dedup key.

Every delivery is one POST to ``/v2/enqueue`` with the service's integration (routing) key:
``trigger`` for the first message and every update (PagerDuty folds events with the same
``dedup_key`` into the open alert), ``acknowledge`` when the incident was acknowledged, ``resolve``
when it was resolved or closed. The report and the cross-links go in ``links``, so responders open
them from the PagerDuty incident.

This notifier is the example of one that lives in one file: its settings are its own
:class:`PagerDutySettings` (the channel's ``settings`` mapping), not fields of the channel config.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from rcaflows.config.models import ChannelConfig
from rcaflows.notify.base import channel_settings, register, secret
from rcaflows.notify.channels._http import json_or_empty, post_json
from rcaflows.notify.models import Delivered, DeliveryMode, EventAction, Message, Previous

_PD_SEVERITY = {"critical": "critical", "high": "error", "medium": "warning", "low": "info"}
_SUMMARY_MAX = 1024  # Events API v2 limit of payload.summary
_DEDUP_MAX = 255  # and of dedup_key


class PagerDutySettings(BaseModel):
    """Settings of a ``kind: pagerduty`` channel (its ``settings`` mapping)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    routing_key_env: str | None = Field(
        None, description="Environment variable holding the service's Events API v2 integration key."
    )
    routing_key_secret_block: str | None = Field(
        None, description="Prefect Secret block holding the integration key (used when routing_key_env is unset)."
    )
    events_url: str = Field(
        "https://events.pagerduty.com/v2/enqueue", description="Events API v2 endpoint (EU: events.eu.pagerduty.com)."
    )

    @model_validator(mode="after")
    def _has_key(self) -> PagerDutySettings:
        if not (self.routing_key_env or self.routing_key_secret_block):
            raise ValueError("needs 'routing_key_env' or 'routing_key_secret_block' (where the integration key is)")
        return self


@register("pagerduty")
class PagerDutyNotifier:
    """Send keyed events to the PagerDuty Events API v2; updates fold into the incident's one alert."""

    kind: ClassVar[str] = "pagerduty"
    settings_model: ClassVar[type[BaseModel]] = PagerDutySettings

    def __init__(self, channel: ChannelConfig) -> None:
        self.channel = channel
        self.settings: PagerDutySettings = channel_settings(channel, PagerDutySettings)

    def event(self, message: Message, previous: Previous | None, routing_key: str) -> dict[str, Any]:
        """Return the Events API v2 body of ``message``."""
        dedup = (previous.external_id if previous and previous.external_id else message.dedup_key)[:_DEDUP_MAX]
        if message.action is EventAction.RESOLVE:
            action = "resolve"
        elif message.state == "acknowledged":
            action = "acknowledge"
        else:
            action = "trigger"
        links = [{"href": url, "text": text} for text, url in message.links().items()]
        return {
            "routing_key": routing_key,
            "event_action": action,
            "dedup_key": dedup,
            "client": "rcaflows",
            "payload": {
                "summary": message.subject()[:_SUMMARY_MAX],
                "source": message.system,
                "severity": _PD_SEVERITY.get(message.severity, "warning"),
                "timestamp": message.detected_at.isoformat(),
                "component": message.component,
                "group": message.team,
                "class": message.title[:_SUMMARY_MAX],
                "custom_details": {**message.content(), "reason": message.reason},
            },
            "links": links,
        }

    def send(self, message: Message, previous: Previous | None) -> Delivered:
        """POST one event; PagerDuty answers 202 with the dedup key it filed the event under."""
        s = self.settings
        key = secret(self.channel, s.routing_key_env, s.routing_key_secret_block, "the PagerDuty integration key")
        body = self.event(message, previous, key)
        resp = post_json(self.channel.name, s.events_url, body, timeout=self.channel.timeout)
        returned = json_or_empty(resp).get("dedup_key")
        return Delivered(mode=DeliveryMode.EVENT, external_id=str(returned or body["dedup_key"]))
