"""Human-written sections of a post-mortem that survive a refresh of the generated draft.

The Markdown draft carries one block per section between HTML-comment markers (invisible when
the Markdown is rendered)::

    ## Contributing factors

    <!-- rcaflows:human contributing_factors -->
    The ETL retry masked the schema change for two runs.
    <!-- /rcaflows:human contributing_factors -->

People edit between the markers; ``rcaflows postmortem INC`` re-renders everything else and puts
each block back verbatim (a block with a name rcaflows does not know is kept too, after the known
ones). A file whose markers do not pair up is refused with its line, so a refresh never drops text.
"""

from __future__ import annotations

import re

from markupsafe import escape

from rcaflows.errors import RcaflowsError

__all__ = ["PLACEHOLDER", "SECTIONS", "html_sections", "markdown_sections", "merge_human", "parse_human"]

#: Sections people write, in the order the draft shows them: name → heading.
SECTIONS: dict[str, str] = {
    "contributing_factors": "Contributing factors",
    "lessons": "Lessons learned",
    "decisions": "Decisions",
}
#: What an unwritten section holds (kept as is by a refresh, like any text).
PLACEHOLDER = "_Not written yet: write between the markers; refreshing the draft keeps this text._"

_MARK = re.compile(r"^\s*<!--\s*(/?)rcaflows:human\s+([A-Za-z0-9_.-]+)\s*-->\s*$")


def parse_human(markdown: str, where: str) -> dict[str, str]:
    """Return the text of every marked section of ``markdown``, by name.

    Raises:
        RcaflowsError: naming ``where`` and the line when a section is opened twice, nested,
            closed without being opened or never closed.
    """
    out: dict[str, str] = {}
    current: str | None = None
    start = 0
    body: list[str] = []
    for n, line in enumerate(markdown.splitlines(), start=1):
        m = _MARK.match(line)
        if m is None:
            if current is not None:
                body.append(line)
            continue
        closing, name = m.group(1) == "/", m.group(2)
        if not closing:
            if current is not None:
                raise RcaflowsError(
                    f"{where}:{n}: human section {name!r} opens inside {current!r} (opened on line {start}); "
                    f"close it first with <!-- /rcaflows:human {current} -->"
                )
            if name in out:
                raise RcaflowsError(f"{where}:{n}: human section {name!r} appears twice; keep one of them")
            current, start, body = name, n, []
            continue
        if current != name:
            raise RcaflowsError(
                f"{where}:{n}: <!-- /rcaflows:human {name} --> closes a section that is not open"
                + (f" (open: {current!r} since line {start})" if current else "")
            )
        out[name] = "\n".join(body).strip("\n")
        current = None
    if current is not None:
        raise RcaflowsError(
            f"{where}:{start}: human section {current!r} is never closed; add <!-- /rcaflows:human {current} -->"
        )
    return out


def merge_human(found: dict[str, str]) -> dict[str, str]:
    """Return every known section (the text people wrote, else the PLACEHOLDER prompt), then unknown ones found."""
    merged = {name: found.get(name, PLACEHOLDER) for name in SECTIONS}
    merged.update({k: v for k, v in found.items() if k not in SECTIONS})
    return merged


def _title(name: str) -> str:
    return SECTIONS.get(name) or name.replace("_", " ").capitalize()


def markdown_sections(human: dict[str, str]) -> str:
    """Return the Markdown of the human sections, with their markers (text verbatim: people wrote it)."""
    parts = []
    for name, text in human.items():
        parts.append(f"## {_title(name)}\n\n<!-- rcaflows:human {name} -->\n{text}\n<!-- /rcaflows:human {name} -->\n")
    return "\n".join(parts)


def html_sections(human: dict[str, str]) -> str:
    """Return the HTML of the human sections (every character escaped; line breaks kept)."""
    parts = []
    for name, text in human.items():
        parts.append(
            f'<section id="human-{escape(name)}" class="human">\n<h2>{escape(_title(name))}</h2>\n'
            f'<div style="white-space: pre-wrap">{escape(text)}</div>\n</section>\n'
        )
    return "\n".join(parts)
