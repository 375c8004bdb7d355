"""``rcaflows validate``: check a system config."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rcaflows.cli import _common
from rcaflows.cli._common import (
    app,
)
from rcaflows.errors import ConfigError


@app.command()
def validate(config: Annotated[Path, typer.Argument(help="System config YAML to check.")]) -> None:
    """Check a system config and report every problem with file, line and field path."""
    from rcaflows.config import load_config

    try:
        cfg = load_config(config)
    except ConfigError as exc:
        for p in exc.problems:
            _common.err.print(p, highlight=False, markup=False)
        _common.err.print(f"[red]{len(exc.problems)} problem(s)[/red]")
        raise typer.Exit(code=1) from None
    _common.console.print(
        f"[green]ok[/green] {_common.esc(config)}: system {_common.esc(repr(cfg.system.name))}, "
        f"{len(cfg.components)} components, "
        f"{len(cfg.metrics)} metrics, {len(cfg.lineage.nodes)} lineage nodes, {len(cfg.teams)} teams"
    )
