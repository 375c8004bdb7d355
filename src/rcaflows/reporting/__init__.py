"""Reporting: render an RCA result as a self-contained HTML report, a Markdown twin and Prefect artifacts.

``symptom_plot`` and ``report_plots`` are imported lazily, so rendering a report without plots never imports matplotlib.
"""

from __future__ import annotations

from typing import Any

from rcaflows.reporting.models import IncidentSummary, Plot, ReportPaths, TimelineEntry
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
    "Plot",
    "ReportPaths",
    "TimelineEntry",
    "causes_table",
    "environment",
    "escape_markdown",
    "markdown_summary",
    "no_cause_reason",
    "render_html",
    "render_markdown",
    "report_plots",
    "symptom_plot",
    "template_dir",
    "write_report",
]


def __getattr__(name: str) -> Any:
    if name in {"symptom_plot", "report_plots"}:
        from rcaflows.reporting import plots

        return getattr(plots, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
