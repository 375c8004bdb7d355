"""Notifications: one message per incident per channel, updated as the incident changes.

Transports (``channels/``: console, file, slack, webhook, email) implement the small
:class:`Notifier` protocol and register by :class:`~rcaflows.config.models.ChannelKind`;
:func:`dispatch` delivers after the incident's change has committed and records every outcome.

Apprise and Prefect notification blocks are not used as transports: both are fire-and-forget
(they return no message id), so they can neither edit a Slack message with ``chat.update`` nor
thread email replies onto the first Message-ID. The transports use httpx and smtplib directly.
"""

from __future__ import annotations

from rcaflows.notify.audiences import AudienceUpdate, communicate, communicate_due, render_status_page
from rcaflows.notify.base import Notifier, notifier_for, register, registered, secret
from rcaflows.notify.models import (
    Delivered,
    DeliveryError,
    DeliveryMode,
    DeliveryResult,
    EventAction,
    Message,
    NotifyError,
    Previous,
)
from rcaflows.notify.service import (
    build_message,
    dedup_key,
    deliver_with_retries,
    dispatch,
    last_sent,
    latest_rca,
    notifications,
    notify_if_severity_changed,
    notify_incident_changed,
    notify_new_incident,
)

__all__ = [
    "AudienceUpdate",
    "Delivered",
    "DeliveryError",
    "DeliveryMode",
    "DeliveryResult",
    "EventAction",
    "Message",
    "Notifier",
    "NotifyError",
    "Previous",
    "build_message",
    "communicate",
    "communicate_due",
    "dedup_key",
    "deliver_with_retries",
    "dispatch",
    "last_sent",
    "latest_rca",
    "notifications",
    "notifier_for",
    "notify_if_severity_changed",
    "notify_incident_changed",
    "notify_new_incident",
    "register",
    "registered",
    "render_status_page",
    "secret",
]
