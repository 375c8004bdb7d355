"""The file channel: one JSON line per delivery, each keyed by the incident's dedup key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

from rcaflows.config.models import ChannelConfig
from rcaflows.notify.base import register
from rcaflows.notify.models import Delivered, DeliveryError, DeliveryMode, Message, Previous
from rcaflows.timeutil import now_utc


@register("file")
class FileNotifier:
    """Append JSON lines to ``path``; a reader folds them by ``dedup_key`` into one entry per incident."""

    kind: ClassVar[str] = "file"

    def __init__(self, channel: ChannelConfig) -> None:
        self.channel = channel
        self.path = Path(channel.path or "")

    def send(self, message: Message, previous: Previous | None) -> Delivered:
        """Append the message as one JSON line (``action`` trigger, update or resolve)."""
        line = {
            "at": now_utc().isoformat(),
            "dedup_key": message.dedup_key,
            "action": message.action.value,
            "text": message.text() if previous is None else message.compact(),
            "content": message.content(),
        }
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(line) + "\n")
        except OSError as exc:
            raise DeliveryError(
                f"channel {self.channel.name!r}: cannot append to {self.path}: {exc}", transient=False
            ) from exc
        return Delivered(
            mode=DeliveryMode.POST if previous is None else DeliveryMode.REPLY, external_id=message.dedup_key
        )
