"""Render an RCA result as a self-contained HTML report, its Markdown twin, and Prefect artifact rows.

Templates live in the repo-root ``templates/`` directory; wheels ship them as
``rcaflows/_templates`` (see ``pyproject.toml``). Everything data-derived is escaped: HTML by
Jinja's autoescape, Markdown by :func:`escape_markdown` applied to every ``{{ }}`` output.
"""

from __future__ import annotations

import functools
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2

import rcaflows
from rcaflows.errors import RcaflowsError
from rcaflows.rca.models import PhaseStatus, RcaResult
from rcaflows.reporting.models import IncidentSummary, Plot, ReportPaths
from rcaflows.timeutil import human_duration

#: what ``render_html`` accepts as plots: caption -> data URI, or :class:`Plot` objects
Plots = Mapping[str, str] | Sequence[Plot]

HTML_TEMPLATE = "rca_report.html.j2"
MARKDOWN_TEMPLATE = "rca_report.md.j2"
DASH = "—"

# Plots must be inline images, so the report stays one self-contained, script-free file.
_DATA_URI = re.compile(r"^data:image/(png|jpeg|gif|webp|svg\+xml);base64,[A-Za-z0-9+/=\s]+$")
_STEM = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


# -- templates ------------------------------------------------------------------------------


def template_dir() -> Path:
    """Return the directory holding the report templates.

    Raises:
        RcaflowsError: if neither the packaged ``_templates`` dir (wheel installs) nor the
            repo-root ``templates`` dir (editable installs) exists.
    """
    package = Path(rcaflows.__file__).resolve().parent
    candidates = [package / "_templates", package.parents[1] / "templates"]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise RcaflowsError(
        f"report templates not found: looked in {candidates[0]} (installed wheel) and "
        f"{candidates[1]} (source checkout); reinstall rcaflows or restore the repo's templates/ dir"
    )


#: Templates an overlay environment keeps compiled.
OVERLAY_CACHE = 100


@functools.cache
def environment() -> jinja2.Environment:
    """Return the Jinja environment over :func:`template_dir` with the report filters (one per process).

    One shared environment keeps its compiled templates: compiling them again for every message
    and report cost ~65 ms a template, about a second of every demo scenario. Do not mutate it.

    ``.html`` and ``.html.j2`` templates are autoescaped; undefined names raise; ``None``
    renders as an em dash.
    """
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(template_dir()),
        autoescape=jinja2.select_autoescape(["html", "html.j2"]),
        undefined=jinja2.StrictUndefined,
        finalize=_none_as_dash,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(pct=pct, ts=ts, num=num, label=label, duration=human_duration, mdcell=_one_line)
    return env


@functools.cache
def markdown_environment() -> jinja2.Environment:
    """Return :func:`environment` with every ``{{ }}`` output Markdown-escaped (one per process).

    An overlay gets a cache of its own (``cache_size``): templates compiled by the base environment
    would render with the base's autoescape and finalize.
    """
    return environment().overlay(
        autoescape=False, finalize=lambda v: escape_markdown(_none_as_dash(v)), cache_size=OVERLAY_CACHE
    )


# -- filters --------------------------------------------------------------------------------


def _none_as_dash(value: Any) -> Any:
    return DASH if value is None else value


def pct(value: float | None) -> str:
    """Format a fraction as a whole percentage: 0.83 -> ``"83 %"``."""
    if value is None:
        return DASH
    return f"{value * 100:.0f} %"


def ts(value: datetime | None) -> str:
    """Format a datetime in UTC to the minute: ``"2026-03-02 11:15 UTC"``; naive ones get no zone."""
    if value is None:
        return DASH
    if value.tzinfo is None or value.utcoffset() is None:
        return value.strftime("%Y-%m-%d %H:%M")  # no zone to claim; don't guess one
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def num(value: float | None) -> str:
    """Format a number compactly: 1234 -> ``"1.2k"``, 0.012345 -> ``"0.0123"``, 12.0 -> ``"12"``."""
    if value is None:
        return DASH
    x = float(value)
    if x != x:  # NaN
        return "NaN"
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= size:
            return f"{x / size:.1f}".removesuffix(".0") + suffix
    if x == int(x):
        return str(int(x))
    return f"{x:.3g}"


def label(value: object) -> str:
    """Turn an identifier-like value into words: ``model_behaviour`` -> ``model behaviour``."""
    return DASH if value is None else str(value).replace("_", " ")


def _one_line(value: object) -> str:
    return DASH if value is None else " ".join(str(value).split())


def escape_markdown(value: object) -> str:
    """Make ``value`` inert in Markdown: escape backslashes, pipes and angle brackets, join lines."""
    text = " ".join(str(value).splitlines())
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


# -- rendering ------------------------------------------------------------------------------


def no_cause_reason(result: RcaResult) -> str:
    """Return why no hypothesis could be ranked, in one sentence (empty when there are hypotheses)."""
    if result.hypotheses:
        return ""
    failed = [p for p in result.phases if p.status is not PhaseStatus.OK]
    if not result.phases:
        return "no RCA phase ran."
    if len(failed) == len(result.phases):
        names = ", ".join(f"{p.phase} ({p.status})" for p in failed)
        return f"every RCA phase failed or was skipped: {names}."
    if not any(p.findings for p in result.phases):
        return "the phases that ran found no candidate that deviated in the analysis window."
    return "the phases found evidence, but none of it singled out a candidate strongly enough to rank."


def _context(
    result: RcaResult,
    incident: IncidentSummary,
    plots: Plots | None,
    generated_at: datetime | None,
) -> dict[str, Any]:
    figures = _plot_list(plots)
    top = result.top
    symptom = result.symptom
    lead = symptom.detected_at - top.onset if top is not None and top.onset is not None else None
    return {
        "result": result,
        "incident": incident,
        "symptom": symptom,
        "top": top,
        "lead_time": lead,
        "no_cause_reason": no_cause_reason(result),
        "problem_phases": [p for p in result.phases if p.status is not PhaseStatus.OK],
        "failed_phases": [p for p in result.phases if p.status is PhaseStatus.FAILED],
        "timeline": sorted(incident.timeline, key=lambda e: e.at),
        "plots": figures,
        "generated_at": generated_at or datetime.now(UTC),
        "version": rcaflows.__version__,
        "max_findings": 5,
    }


def _plot_list(plots: Plots | None) -> list[Plot]:
    """Normalize plots to :class:`Plot` objects, refusing anything but inline image data URIs."""
    if plots is None:
        return []
    if isinstance(plots, Mapping):
        figures = [Plot(caption=c, alt=c, uri=u) for c, u in plots.items()]
    else:
        figures = list(plots)
    for p in figures:
        if not _DATA_URI.match(p.uri):
            raise RcaflowsError(
                f"plot {p.caption!r} is not a base64 image data URI (got {p.uri[:40]!r}...); pass the "
                "output of rcaflows.reporting.plots (e.g. symptom_plot) so the report stays self-contained"
            )
    return figures


def render_html(
    result: RcaResult,
    incident: IncidentSummary,
    plots: Plots | None = None,
    *,
    generated_at: datetime | None = None,
) -> str:
    """Render the self-contained HTML report.

    Args:
        result: The RCA run to report.
        incident: The incident it explains (``IncidentSummary.ad_hoc`` for runs without one).
        plots: :class:`Plot` objects (see :func:`rcaflows.reporting.plots.report_plots`), or
            caption -> base64 image data URI, the caption then also being the alt text.
        generated_at: Timestamp for the footer; defaults to now.

    Raises:
        RcaflowsError: if a plot is not an inline image data URI, or templates are missing.
    """
    template = environment().get_template(HTML_TEMPLATE)
    return template.render(_context(result, incident, plots, generated_at))


def render_markdown(result: RcaResult, incident: IncidentSummary, *, generated_at: datetime | None = None) -> str:
    """Render the compact Markdown twin of the HTML report (no plots)."""
    template = markdown_environment().get_template(MARKDOWN_TEMPLATE)
    return template.render(_context(result, incident, None, generated_at))


def write_report(
    result: RcaResult,
    incident: IncidentSummary,
    out_dir: Path,
    stem: str,
    plots: Plots | None = None,
    *,
    generated_at: datetime | None = None,
) -> ReportPaths:
    """Render both reports and write ``<out_dir>/<stem>.html`` and ``<stem>.md`` atomically.

    Both are rendered before either is written, and each file is replaced in one step, so a
    reader never sees a half-written report.

    Raises:
        RcaflowsError: if ``stem`` is not a plain file name, or rendering fails as in :func:`render_html`.
    """
    if not _STEM.match(stem) or stem in {".", ".."}:
        raise RcaflowsError(
            f"report stem {stem!r} is not a plain file name; use letters, digits, '.', '_' or '-', "
            "e.g. 'INC-0042-rca-3'"
        )
    generated_at = generated_at or datetime.now(UTC)
    html = render_html(result, incident, plots, generated_at=generated_at)
    markdown = render_markdown(result, incident, generated_at=generated_at)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = ReportPaths(html=out_dir / f"{stem}.html", markdown=out_dir / f"{stem}.md")
    _atomic_write(paths.html, html)
    _atomic_write(paths.markdown, markdown)
    return paths


def _atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to a temp file beside ``path``, then rename it over ``path``."""
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp_name, 0o644)  # mkstemp makes 0600; reports are meant to be shared
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


# -- Prefect artifacts ----------------------------------------------------------------------


def causes_table(result: RcaResult) -> list[dict[str, Any]]:
    """Return one row per hypothesis, in rank order, for a Prefect table artifact."""
    return [
        {
            "rank": h.rank,
            "component": h.component,
            "metric": h.metric or DASH,
            "kind": h.kind,
            "score": round(h.score, 3),
            "confidence": pct(h.confidence),
            "status": str(h.status),
            "phases": ", ".join(str(p) for p in h.phases),
            "top_evidence": h.supporting[0] if h.supporting else DASH,
        }
        for h in result.hypotheses
    ]


def markdown_summary(result: RcaResult, incident: IncidentSummary, top_n: int = 3) -> str:
    """Return a short Markdown summary (headline, top causes, next steps) for a Prefect artifact."""
    e = escape_markdown
    lines = [f"## RCA {e(incident.key)}: {e(incident.title)}", ""]
    top = result.top
    if top is None:
        lines.append(f"**No root cause could be ranked:** {e(no_cause_reason(result))}")
    else:
        what = f"{top.component} / {top.metric}" if top.metric else top.component
        lines.append(
            f"**Most likely root cause:** {e(what)} ({e(label(top.kind))}), "
            f"{pct(top.confidence)} confidence, {e(top.status)}; onset {ts(top.onset)}."
        )
    failed = [p for p in result.phases if p.status is PhaseStatus.FAILED]
    if failed:
        names = ", ".join(f"{p.phase} ({e(p.error or 'no error recorded')})" for p in failed)
        lines += ["", f"**Warning:** {len(failed)} of {len(result.phases)} phases failed: {names}."]
    if result.hypotheses:
        lines += ["", "| # | Cause | Kind | Confidence | Status |", "|---|---|---|---|---|"]
        for h in result.hypotheses[:top_n]:
            what = f"{h.component} / {h.metric}" if h.metric else h.component
            cells = [str(h.rank), e(what), e(label(h.kind)), pct(h.confidence), e(h.status)]
            lines.append("| " + " | ".join(cells) + " |")
    if result.next_steps:
        lines += ["", "**Next steps**", ""]
        lines += [f"{i}. {e(step)}" for i, step in enumerate(result.next_steps, start=1)]
    return "\n".join(lines) + "\n"
