"""Write reports to ``rca.reports_dir``: a local directory, or any fsspec URL (``s3://``, ``memory://``, ``file://``)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from rcaflows.config.models import SystemConfig
from rcaflows.errors import RcaflowsError
from rcaflows.reporting.models import ReportPaths

__all__ = ["REPORT_BASE_URL_ENV", "is_remote", "report_link", "store_report"]


def is_remote(reports_dir: str) -> bool:
    """Return whether ``reports_dir`` is an fsspec URL rather than a plain local directory."""
    return "://" in reports_dir


def store_report(reports_dir: str, write: Callable[[Path], ReportPaths]) -> tuple[str, str]:
    """Run ``write`` into ``reports_dir`` and return where the HTML and Markdown reports are.

    A local directory is written in place (``write`` replaces each file atomically). For an fsspec
    URL the reports are rendered into a scratch directory first and then put, so a failed render
    never leaves half a report behind; the returned locations are then URLs.

    Raises:
        RcaflowsError: naming ``rca.reports_dir`` when the URL's filesystem cannot be opened or written.
    """
    if not is_remote(reports_dir):
        paths = write(Path(reports_dir))
        return str(paths.html), str(paths.markdown)
    import fsspec

    try:
        fs, root = fsspec.core.url_to_fs(reports_dir)
    except (ImportError, ValueError) as exc:
        raise RcaflowsError(
            f"rca.reports_dir: cannot open {reports_dir!r} ({exc}); give a local directory or an fsspec URL "
            "whose backend is installed (e.g. s3fs for s3://)"
        ) from exc
    with tempfile.TemporaryDirectory(prefix="rcaflows-report-") as tmp:
        paths = write(Path(tmp))
        out: list[str] = []
        try:
            fs.makedirs(root, exist_ok=True)
            for local in (paths.html, paths.markdown):
                target = f"{root.rstrip('/')}/{local.name}"
                fs.put_file(str(local), target)
                out.append(fs.unstrip_protocol(target))
        except OSError as exc:
            raise RcaflowsError(f"rca.reports_dir: writing the report to {reports_dir!r} failed: {exc}") from exc
    return out[0], out[1]


#: overrides ``rca.reports_base_url`` (kept for deployments that set it before the config field existed)
REPORT_BASE_URL_ENV = "RCAFLOWS_REPORT_BASE_URL"


def report_link(path: str | Path, config: SystemConfig | None = None) -> str:
    """Return the URL people open a written report at.

    ``$RCAFLOWS_REPORT_BASE_URL``, else ``rca.reports_base_url``, joined with the file name; a report
    written to an fsspec URL (``s3://…``) without a base URL links to that URL; a local file to ``file://``.
    """
    base = os.environ.get(REPORT_BASE_URL_ENV, "").strip() or (
        (config.rca.reports_base_url or "").strip() if config is not None else ""
    )
    text = str(path)
    name = text.rstrip("/").rsplit("/", 1)[-1]
    if base:
        return f"{base.rstrip('/')}/{name}"
    if "://" in text:
        return text
    return Path(text).resolve().as_uri()
