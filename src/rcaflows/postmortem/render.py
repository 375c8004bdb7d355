"""Render a post-mortem draft with the Jinja templates (HTML autoescaped, Markdown escaped)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import rcaflows
from rcaflows.postmortem.models import Postmortem, PostmortemPaths
from rcaflows.postmortem.sections import html_sections, markdown_sections
from rcaflows.reporting.render import _atomic_write, environment, markdown_environment

HTML_TEMPLATE = "postmortem.html.j2"
MARKDOWN_TEMPLATE = "postmortem.md.j2"


def _context(pm: Postmortem) -> dict[str, Any]:
    return {"pm": pm, "m": pm.metrics, "impact": pm.impact, "version": rcaflows.__version__}


def _before(text: str, anchor: str, insert: str) -> str:
    """Return ``text`` with ``insert`` placed before ``anchor`` (appended when the anchor is missing)."""
    at = text.find(anchor)
    return text + "\n" + insert if at < 0 else text[:at] + insert + "\n" + text[at:]


def render_html(pm: Postmortem) -> str:
    """Render the self-contained HTML draft (every value autoescaped), human sections before the action items."""
    html = environment().get_template(HTML_TEMPLATE).render(_context(pm))
    return _before(html, '<section id="actions">', html_sections(pm.human)) if pm.human else html


def render_markdown(pm: Postmortem) -> str:
    """Render the Markdown draft (every ``{{ }}`` output Markdown-escaped; the human sections verbatim).

    The human sections are put in after rendering: the template's escaping would break their markers.
    """
    md = markdown_environment().get_template(MARKDOWN_TEMPLATE).render(_context(pm))
    return _before(md, "## Action items", markdown_sections(pm.human)) if pm.human else md


def write_drafts(pm: Postmortem, out_dir: Path) -> PostmortemPaths:
    """Render both drafts and write them atomically; return their paths."""
    html, markdown = render_html(pm), render_markdown(pm)
    out_dir.mkdir(parents=True, exist_ok=True)
    md_path, html_path = out_dir / f"{pm.key}-postmortem.md", out_dir / f"{pm.key}-postmortem.html"
    _atomic_write(md_path, markdown)
    _atomic_write(html_path, html)
    return PostmortemPaths(markdown=md_path, html=html_path)
