"""The console channel: the first message in full, each update as one compact line."""

from __future__ import annotations

import sys
from typing import ClassVar

from rcaflows.config.models import ChannelConfig
from rcaflows.notify.base import register
from rcaflows.notify.models import Delivered, DeliveryMode, Message, Previous


@register("console")
class ConsoleNotifier:
    """Print to standard error, keeping stdout for output; a terminal cannot edit, so updates are follow-ups."""

    kind: ClassVar[str] = "console"

    def __init__(self, channel: ChannelConfig) -> None:
        self.channel = channel

    def send(self, message: Message, previous: Previous | None) -> Delivered:
        """Print the message (first) or its compact update line."""
        if previous is None:
            print(f"[rcaflows] {message.text()}", file=sys.stderr, flush=True)
            return Delivered(mode=DeliveryMode.POST, external_id=message.dedup_key)
        print(f"[rcaflows] {message.compact()}", file=sys.stderr, flush=True)
        return Delivered(mode=DeliveryMode.REPLY, external_id=previous.external_id or message.dedup_key)
