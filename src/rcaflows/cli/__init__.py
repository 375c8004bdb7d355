"""The ``rcaflows`` command: demo, detect, rca, incidents, serve, validate.

One module per command group registers its commands on the shared Typer ``app``.
"""

from __future__ import annotations

import sys

from rcaflows.cli import _common, config, db, detection, incidents, metrics, route, run, silences  # noqa: F401  (register the commands)
from rcaflows.cli import oncall as _oncall  # noqa: F401  (rcaflows oncall, impact, communicate, status-page)
from rcaflows.cli import postmortem as _postmortem  # noqa: F401  (rcaflows postmortem, actions)
from rcaflows.cli import rank as _rank  # noqa: F401  (rcaflows rank)
from rcaflows.cli import tune as _tune  # noqa: F401  (rcaflows tune)
from rcaflows.cli._common import app
from rcaflows.errors import RcaflowsError

__all__ = ["app", "main"]


def main() -> None:
    """Entry point of the ``rcaflows`` console script."""
    for arg in sys.argv[1:]:
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:  # bytes that are not UTF-8 reach Python as lone surrogates
            shown = arg.encode("utf-8", "backslashreplace").decode()
            _common.err.print(f"error: argument {shown!r} is not valid UTF-8 text", markup=False, highlight=False)
            sys.exit(2)
    try:
        app()
    except RcaflowsError as exc:  # pragma: no cover - typer commands handle their own
        _common.err.print(f"[red]error:[/red] {_common.esc(exc)}")
        sys.exit(2)
