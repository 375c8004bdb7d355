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
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            help="With --predictions and several models: the model whose log the file is (default: every model "
            "whose rows 'log.model' finds in the file, or the only model).",
        ),
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

    problems = lint(cfg, config) + _custom_metric_problems(cfg, config)
    if problems:
        for p in problems:
            _common.err.print(p, highlight=False, markup=False)
        _common.err.print(f"[red]{len(problems)} problem(s)[/red]")
        raise typer.Exit(code=1)
    if predictions is not None:
        _check_predictions(cfg, predictions, model)
    _common.console.print(
        f"[green]ok[/green] {_common.esc(config)}: system {_common.esc(repr(cfg.system.name))}, "
        f"{len(cfg.components)} components, "
        f"{len(cfg.metrics)} metrics, {len(cfg.lineage.nodes)} lineage nodes, {len(cfg.teams)} teams"
    )


def _custom_metric_problems(cfg: Any, path: Path) -> list[str]:
    """Return ``file:line: field: problem`` for each custom metric function that cannot be imported (issue 16).

    Detection would name it in a ``no_data`` check at every run; validate says it before.
    """
    if not any(m.analysis.custom_metrics for m in cfg.models):
        return []
    from rcaflows.config.loader import located
    from rcaflows.model.custom import import_problems

    found = [
        (("models", i, *field), msg) for i, model in enumerate(cfg.models) for field, msg in import_problems(model)
    ]
    return located(path, found)  # shown as 'model.…' where the file uses that shorthand


def _check_predictions(cfg: Any, path: Path, name: str | None = None) -> None:
    """Report how a prediction log fits each model's declaration (issue 16); exit 1 on a problem.

    Each model is checked on its own rows of the file (:func:`rcaflows.model.log.rows_of`): with
    ``log.model`` the rows naming it; a model told apart by its ``source`` only needs ``--model``,
    since a file is no source.
    """
    from rcaflows.errors import DataError
    from rcaflows.model.log import log_notes, log_problems, rows_of
    from rcaflows.sources.files import read_frame

    if not cfg.models:
        _common.err.print(f"{path}: the config declares no model to check the log against", markup=False)
        raise typer.Exit(code=1)
    names = [m.name for m in cfg.models]
    if name is not None and name not in names:
        _common.err.print(f"--model {name!r}: no such model; the config declares {names}", markup=False)
        raise typer.Exit(code=1)
    models = [m for m in cfg.models if name is None or m.name == name]
    try:
        frame = read_frame(path)
    except DataError as exc:
        _common.err.print(str(exc), highlight=False, markup=False)
        raise typer.Exit(code=1) from None
    found: list[str] = []
    for m in models:
        if len(models) > 1 and (m.log.model is None or m.log.model not in frame.columns):
            col = f"its 'log.model' column {m.log.model!r} is not in the file" if m.log.model else "no 'log.model'"
            found.append(f"model {m.name}: cannot tell its rows apart ({col}); name the model with --model")
            continue
        rows = rows_of(frame, m)
        if rows.empty and not frame.empty:
            found.append(f"model {m.name}: no row of the file is this model's ('{m.log.model}' never names it)")
            continue
        for note in log_notes(rows, m):
            _common.console.print(f"note: {path}: {note}", highlight=False, markup=False)
        found += log_problems(rows, m)
    if found:
        for p in found:
            _common.err.print(f"{path}: {p}", highlight=False, markup=False)
        _common.err.print(f"[red]{len(found)} problem(s)[/red]")
        raise typer.Exit(code=1)
