"""Notifications: one message per incident per channel, updated as the incident changes.

Transports (``channels/``: console, file, slack, webhook, email, pagerduty) implement the small
:class:`Notifier` protocol and register by name (a channel's ``kind``), a notifier with settings of
its own with a ``settings_model`` for the channel's ``settings``; :func:`dispatch` delivers after the
incident's change has committed and records every outcome. The technical thread and the executive
updates link to each other (:mod:`rcaflows.notify.links`).

Apprise and Prefect notification blocks are not used as transports: both are fire-and-forget
(they return no message id), so they can neither edit a Slack message with ``chat.update`` nor
thread email replies onto the first Message-ID. The transports use httpx and smtplib directly.
"""

from __future__ import annotations

from rcaflows.notify.audiences import AudienceUpdate, communicate, communicate_due, render_status_page
from rcaflows.notify.base import (
    Notifier,
    channel_problems,
    channel_settings,
    notifier_for,
    register,
    registered,
    secret,
)
from rcaflows.notify.links import CrossLink, executive_update_link, technical_thread_link
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
    "CrossLink",
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
    "channel_problems",
    "channel_settings",
    "communicate",
    "communicate_due",
    "dedup_key",
    "deliver_with_retries",
    "dispatch",
    "executive_update_link",
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
    "technical_thread_link",
]
