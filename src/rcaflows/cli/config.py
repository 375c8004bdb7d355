"""``rcaflows validate``: check a system config."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from rcaflows.cli import _common
from rcaflows.cli._common import (
    app,
)
from rcaflows.errors import ConfigError


@app.command()
def validate(
    config: Annotated[Path, typer.Argument(help="System config YAML to check.")],
    predictions: Annotated[
        Path | None,
        typer.Option(help="Also check a prediction log (CSV or Parquet) against the model's log declaration."),
    ] = None,
) -> None:
    """Check a system config and report every problem with file, line and field path."""
    from rcaflows.config import load_config

    try:
        cfg = load_config(config)
    except ConfigError as exc:
        for p in exc.problems:
            _common.err.print(p, highlight=False, markup=False)
        _common.err.print(f"[red]{len(exc.problems)} problem(s)[/red]")
        raise typer.Exit(code=1) from None
    from rcaflows.cli.oncall import lint  # issue 15: schedule gaps ahead, templates naming missing fields

    problems = lint(cfg, config)
    if problems:
        for p in problems:
            _common.err.print(p, highlight=False, markup=False)
        _common.err.print(f"[red]{len(problems)} problem(s)[/red]")
        raise typer.Exit(code=1)
    if predictions is not None:
        _check_predictions(cfg, predictions)
    _common.console.print(
        f"[green]ok[/green] {_common.esc(config)}: system {_common.esc(repr(cfg.system.name))}, "
        f"{len(cfg.components)} components, "
        f"{len(cfg.metrics)} metrics, {len(cfg.lineage.nodes)} lineage nodes, {len(cfg.teams)} teams"
    )


def _check_predictions(cfg: Any, path: Path) -> None:
    """Report how a prediction log fits the model's declaration (issue 16); exit 1 on a problem."""
    from rcaflows.errors import DataError
    from rcaflows.model.log import log_notes, log_problems
    from rcaflows.sources.files import read_frame

    if cfg.model is None:
        _common.err.print(f"{path}: the config declares no model to check the log against", markup=False)
        raise typer.Exit(code=1)
    try:
        frame = read_frame(path)
    except DataError as exc:
        _common.err.print(str(exc), highlight=False, markup=False)
        raise typer.Exit(code=1) from None
    for note in log_notes(frame, cfg.model):
        _common.console.print(f"note: {path}: {note}", highlight=False, markup=False)
    found = log_problems(frame, cfg.model)
    if found:
        for p in found:
            _common.err.print(f"{path}: {p}", highlight=False, markup=False)
        _common.err.print(f"[red]{len(found)} problem(s)[/red]")
        raise typer.Exit(code=1)
