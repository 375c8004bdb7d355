"""Render a post-mortem draft with the Jinja templates (HTML autoescaped, Markdown escaped)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import rcaflows
from rcaflows.postmortem.models import Postmortem, PostmortemPaths
from rcaflows.reporting.render import _atomic_write, environment, escape_markdown

HTML_TEMPLATE = "postmortem.html.j2"
MARKDOWN_TEMPLATE = "postmortem.md.j2"


def _context(pm: Postmortem) -> dict[str, Any]:
    return {"pm": pm, "m": pm.metrics, "impact": pm.impact, "version": rcaflows.__version__}


def render_html(pm: Postmortem) -> str:
    """Render the self-contained HTML draft (every value autoescaped)."""
    return environment().get_template(HTML_TEMPLATE).render(_context(pm))


def render_markdown(pm: Postmortem) -> str:
    """Render the Markdown draft (every ``{{ }}`` output Markdown-escaped)."""
    env = environment().overlay(autoescape=False, finalize=lambda v: escape_markdown("—" if v is None else v))
    return env.get_template(MARKDOWN_TEMPLATE).render(_context(pm))


def write_drafts(pm: Postmortem, out_dir: Path) -> PostmortemPaths:
    """Render both drafts and write them atomically; return their paths."""
    html, markdown = render_html(pm), render_markdown(pm)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = PostmortemPaths(markdown=out_dir / f"{pm.key}-postmortem.md", html=out_dir / f"{pm.key}-postmortem.html")
    _atomic_write(paths.markdown, markdown)
    _atomic_write(paths.html, html)
    return paths
