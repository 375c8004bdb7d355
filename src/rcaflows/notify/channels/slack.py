"""Slack-compatible channel: one message per incident, edited in place or threaded.

With a bot token (``token_env`` + ``slack_channel``) the first message goes out through
``chat.postMessage`` and every update edits it with ``chat.update`` (same ``channel`` + ``ts``).
A plain incoming webhook cannot edit: the first message is posted to it and each update is a
compact reply carrying the same incident key, threaded under the first message (``thread_ts``)
when the receiver returned its ``ts``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rcaflows.config.models import ChannelConfig
from rcaflows.notify.base import register, secret
from rcaflows.notify.channels._http import json_or_empty, post_json, request_json
from rcaflows.notify.models import Delivered, DeliveryError, DeliveryMode, Message, Previous

_TRANSIENT_API_ERRORS = {"ratelimited", "service_unavailable", "internal_error", "request_timeout", "fatal_error"}


def _blocks(message: Message) -> list[dict[str, Any]]:
    return [
        {"type": "header", "text": {"type": "plain_text", "text": message.subject()[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": message.text()}},
    ]


@register("slack")
class SlackNotifier:
    """Post to Slack (or a Slack-compatible receiver), then edit or thread the updates."""

    kind: ClassVar[str] = "slack"

    def __init__(self, channel: ChannelConfig) -> None:
        self.channel = channel

    @property
    def uses_api(self) -> bool:
        """Return True when a bot token makes edits (chat.update) possible."""
        return bool(self.channel.token_env and self.channel.slack_channel)

    def send(self, message: Message, previous: Previous | None) -> Delivered:
        """Post the first message, or edit / thread-reply an update onto it."""
        if self.uses_api:
            return self._send_api(message, previous)
        return self._send_webhook(message, previous)

    def _api(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        token = secret(self.channel, self.channel.token_env, None, "the Slack bot token")
        url = f"{self.channel.api_url.rstrip('/')}/{method}"
        resp = post_json(
            self.channel.name, url, body, timeout=self.channel.timeout, headers={"Authorization": f"Bearer {token}"}
        )
        data = json_or_empty(resp)
        if not data.get("ok"):
            err = str(data.get("error") or "no 'ok' in the response")
            raise DeliveryError(
                f"channel {self.channel.name!r}: {method} failed: {err}", transient=err in _TRANSIENT_API_ERRORS
            )
        return data

    def _send_api(self, message: Message, previous: Previous | None) -> Delivered:
        body = {"text": message.text(), "blocks": _blocks(message), "metadata": _metadata(message)}
        if previous is not None and previous.external_id and previous.thread_id:
            data = self._api("chat.update", {"channel": previous.thread_id, "ts": previous.external_id, **body})
            return Delivered(
                mode=DeliveryMode.EDIT,
                external_id=str(data.get("ts") or previous.external_id),
                thread_id=previous.thread_id,
            )
        data = self._api("chat.postMessage", {"channel": self.channel.slack_channel, **body})
        ts = str(data["ts"]) if data.get("ts") else None
        channel = str(data.get("channel") or self.channel.slack_channel)
        return Delivered(
            mode=DeliveryMode.POST, external_id=ts, thread_id=channel, link=self.permalink(channel, ts) if ts else None
        )

    def permalink(self, channel: str, ts: str) -> str | None:
        """Return the message's permalink (``chat.getPermalink``), or None when Slack gives none.

        The message is already posted: a failed look-up costs the cross-link only, never the delivery.
        """
        token = secret(self.channel, self.channel.token_env, None, "the Slack bot token")
        url = f"{self.channel.api_url.rstrip('/')}/chat.getPermalink"
        try:
            resp = request_json(
                self.channel.name,
                "GET",
                url,
                timeout=self.channel.timeout,
                headers={"Authorization": f"Bearer {token}"},
                params={"channel": channel, "message_ts": ts},
            )
        except DeliveryError:
            return None
        data = json_or_empty(resp)
        link = data.get("permalink") if data.get("ok") else None
        return str(link) if link else None

    def _send_webhook(self, message: Message, previous: Previous | None) -> Delivered:
        url = secret(self.channel, self.channel.url_env, self.channel.url_secret_block, "the Slack webhook URL")
        if previous is None:
            body = {"text": message.text(), "blocks": _blocks(message), "metadata": _metadata(message)}
            resp = post_json(self.channel.name, url, body, timeout=self.channel.timeout)
            ts = json_or_empty(resp).get("ts")
            return Delivered(mode=DeliveryMode.POST, external_id=str(ts) if ts else None)
        body = {"text": message.compact(), "metadata": _metadata(message)}
        if previous.external_id:
            body["thread_ts"] = previous.external_id
        post_json(self.channel.name, url, body, timeout=self.channel.timeout)
        return Delivered(mode=DeliveryMode.REPLY, external_id=previous.external_id)


def _metadata(message: Message) -> dict[str, Any]:
    return {
        "event_type": "rcaflows_incident",
        "event_payload": {
            "incident": message.incident_key,
            "dedup_key": message.dedup_key,
            "action": message.action.value,
        },
    }
