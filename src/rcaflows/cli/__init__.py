"""The ``rcaflows`` command: demo, detect, rca, incidents, serve, validate.

One module per command group registers its commands on the shared Typer ``app``.
"""

from __future__ import annotations

import sys

from rcaflows.cli import _common, config, db, detection, incidents, metrics, route, run, silences  # noqa: F401  (register the commands)
from rcaflows.cli import postmortem as _postmortem  # noqa: F401  (rcaflows postmortem, actions)
from rcaflows.cli import rank as _rank  # noqa: F401  (rcaflows rank)
from rcaflows.cli._common import app
from rcaflows.errors import RcaflowsError

__all__ = ["app", "main"]


def main() -> None:
    """Entry point of the ``rcaflows`` console script."""
    try:
        app()
    except RcaflowsError as exc:  # pragma: no cover - typer commands handle their own
        _common.err.print(f"[red]error:[/red] {exc}")
        sys.exit(2)
