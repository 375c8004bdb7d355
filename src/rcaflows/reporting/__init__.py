"""Reporting: render an RCA result as a self-contained HTML report, a Markdown twin and Prefect artifacts.

``symptom_plot`` is imported lazily, so rendering a report without plots never imports matplotlib.
"""

from __future__ import annotations

from typing import Any

from rcaflows.reporting.models import IncidentSummary, ReportPaths, TimelineEntry
from rcaflows.reporting.render import (
    causes_table,
    environment,
    escape_markdown,
    markdown_summary,
    no_cause_reason,
    render_html,
    render_markdown,
    template_dir,
    write_report,
)

__all__ = [
    "IncidentSummary",
    "ReportPaths",
    "TimelineEntry",
    "causes_table",
    "environment",
    "escape_markdown",
    "markdown_summary",
    "no_cause_reason",
    "render_html",
    "render_markdown",
    "symptom_plot",
    "template_dir",
    "write_report",
]


def __getattr__(name: str) -> Any:
    if name == "symptom_plot":
        from rcaflows.reporting.plots import symptom_plot

        return symptom_plot
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
