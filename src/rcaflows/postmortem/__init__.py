"""Post-mortems: the timeline, response metrics, impact, assessment and action items of an incident.

Data flow: the audit log and RCA runs of a resolved incident → :func:`build_postmortem`
(with :func:`link_similar` for recurrence and the action items it seeds) → Jinja drafts
(``templates/postmortem.{md,html}.j2``) written by :func:`write_postmortem` to ``rca.reports_dir``
(a directory or an fsspec URL), keeping the human-written sections (:mod:`.sections`); a
post-mortem moves draft → review → published (:mod:`.states`), and :func:`remind_overdue`
reminds owners of overdue action items (:mod:`.reminders`).
"""

from __future__ import annotations

from rcaflows.postmortem.actions import action_dict, add_action, complete_action, get_action, list_actions
from rcaflows.postmortem.links import link_similar, links_of, top_causes
from rcaflows.postmortem.models import (
    ActionItemView,
    Cause,
    Impact,
    Postmortem,
    PostmortemPaths,
    RelatedIncident,
    ResponseMetrics,
    TimelineItem,
)
from rcaflows.postmortem.reminders import Reminder, owner_channels, remind_overdue
from rcaflows.postmortem.render import render_html, render_markdown, write_drafts
from rcaflows.postmortem.sections import SECTIONS, merge_human, parse_human
from rcaflows.postmortem.service import (
    assess,
    build_postmortem,
    count_affected_predictions,
    impact_window,
    on_resolved,
    read_draft,
    write_postmortem,
)
from rcaflows.postmortem.states import TRANSITIONS, PostmortemState, move_postmortem, postmortem_state
from rcaflows.postmortem.timeline import build_timeline, describe, response_metrics

__all__ = [
    "SECTIONS",
    "TRANSITIONS",
    "ActionItemView",
    "Cause",
    "Impact",
    "Postmortem",
    "PostmortemPaths",
    "PostmortemState",
    "RelatedIncident",
    "Reminder",
    "ResponseMetrics",
    "TimelineItem",
    "action_dict",
    "add_action",
    "assess",
    "build_postmortem",
    "build_timeline",
    "complete_action",
    "count_affected_predictions",
    "describe",
    "get_action",
    "impact_window",
    "link_similar",
    "links_of",
    "list_actions",
    "merge_human",
    "move_postmortem",
    "on_resolved",
    "owner_channels",
    "parse_human",
    "postmortem_state",
    "read_draft",
    "remind_overdue",
    "render_html",
    "render_markdown",
    "response_metrics",
    "top_causes",
    "write_drafts",
    "write_postmortem",
]
