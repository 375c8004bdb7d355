"""The generic JSON webhook: keyed events in the shape of PagerDuty Events v2.

Every delivery is one POST of ``{dedup_key, event_action: trigger|update|resolve, payload, links}``; the
receiver folds the events of one ``dedup_key`` into one alert, so an update never opens a second one.
``links`` carries the report and the cross-links (technical thread, latest executive update).
"""

from __future__ import annotations

from typing import ClassVar

from rcaflows.config.models import ChannelConfig
from rcaflows.notify.base import register, secret
from rcaflows.notify.channels._http import json_or_empty, post_json
from rcaflows.notify.models import Delivered, DeliveryMode, Message, Previous

_PD_SEVERITY = {"critical": "critical", "high": "error", "medium": "warning", "low": "info"}


@register("webhook")
class WebhookNotifier:
    """POST keyed JSON events to a URL read from ``url_env`` or a Prefect Secret block."""

    kind: ClassVar[str] = "webhook"

    def __init__(self, channel: ChannelConfig) -> None:
        self.channel = channel

    def send(self, message: Message, previous: Previous | None) -> Delivered:
        """POST one event; the receiver's returned ``dedup_key`` (if any) is kept."""
        url = secret(self.channel, self.channel.url_env, self.channel.url_secret_block, "the webhook URL")
        body = {
            "dedup_key": (previous.external_id if previous and previous.external_id else message.dedup_key),
            "event_action": message.action.value,
            "payload": {
                "summary": message.subject(),
                "severity": _PD_SEVERITY.get(message.severity, "warning"),
                "source": message.system,
                "component": message.component,
                "group": message.team,
                "custom_details": {**message.content(), "reason": message.reason},
            },
            "links": [{"href": url, "text": text} for text, url in message.links().items()],
        }
        resp = post_json(self.channel.name, url, body, timeout=self.channel.timeout)
        returned = json_or_empty(resp).get("dedup_key")
        return Delivered(mode=DeliveryMode.EVENT, external_id=str(returned or body["dedup_key"]))
