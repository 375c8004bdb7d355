"""The built-in transports, one per file; importing this package registers them."""

from __future__ import annotations

from rcaflows.notify.channels.console import ConsoleNotifier
from rcaflows.notify.channels.email import EmailNotifier
from rcaflows.notify.channels.file import FileNotifier
from rcaflows.notify.channels.pagerduty import PagerDutyNotifier
from rcaflows.notify.channels.slack import SlackNotifier
from rcaflows.notify.channels.webhook import WebhookNotifier

__all__ = ["ConsoleNotifier", "EmailNotifier", "FileNotifier", "PagerDutyNotifier", "SlackNotifier", "WebhookNotifier"]
