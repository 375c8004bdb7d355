"""``rcaflows tune``: propose per-check thresholds from the incident history, measured with the backtest."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from rcaflows.cli import _common
from rcaflows.cli._common import ConfigOpt, StoreOpt, app, cell, cells, fail, open_store, parse_span, parse_time
from rcaflows.errors import ConfigError, RcaflowsError


@app.command()
def tune(
    config: ConfigOpt = None,
    store: StoreOpt = None,
    write: Annotated[bool, typer.Option("--write", help="Write the proposal into the config file.")] = False,
    force: Annotated[
        bool, typer.Option("--force", help="With --write: write even when the backtest says it loses an incident.")
    ] = False,
    since: Annotated[
        str | None, typer.Option("--since", help="Learn from incidents detected this long ago or later, e.g. 30d.")
    ] = None,
    start: Annotated[
        str | None, typer.Option("--from", help="Replay from (default: before the first incident).")
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="Replay until (default: the last incident's last sighting).")
    ] = None,
    min_false: Annotated[int, typer.Option("--min-false", min=1, help="False alarms a check needs for a rule.")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Propose stricter per-check thresholds (or a pending period) from false-positive and duplicate incidents.

    The effect is measured with the backtest: every incident of the history is opened, merged or
    missed before and after. Nothing is written without --write, and --write refuses a change
    that loses an incident the history kept (unless --force).
    """
    from rcaflows.config import load_config
    from rcaflows.timeutil import now_utc
    from rcaflows.tune import tune as run_tune
    from rcaflows.tune import write_tuning

    try:
        if config is None:
            raise ConfigError("tune: pass --config FILE (the file --write edits)")
        cfg = load_config(config)
        span = parse_span(since, "--since")
        t1, t2 = parse_time(start, "--from"), parse_time(end, "--to")
        if (t1 is None) != (t2 is None):
            raise ConfigError("tune: give both --from and --to, or neither")
        result = run_tune(
            cfg,
            open_store(config, store),
            start=t1,
            end=t2,
            since=now_utc() - span if span is not None else None,
            min_false=min_false,
        )
        written = None
        if write and not result.proposal.is_empty():
            if result.lost_true and not force:
                raise RcaflowsError(
                    f"tune: not written: the backtest misses {', '.join(result.lost_true)} with this change "
                    "(pass --force to write it anyway)"
                )
            written = write_tuning(config, result.proposal)
    except RcaflowsError as exc:
        fail(exc)
    if as_json:
        doc = result.model_dump(mode="json")
        doc.update(removed_false=result.removed_false, lost_true=result.lost_true, safe=result.safe)
        doc["written"] = str(written) if written else None
        _common.console.print_json(json.dumps(doc))
        return
    p = result.proposal
    if p.is_empty():
        _common.console.print(f"tune: nothing to propose for {result.system}", markup=False, highlight=False)
    rules = Table(title=cell(f"proposal for {result.system}"))
    for col in ("check", "change", "why"):
        rules.add_column(col, overflow="fold")
    for r in p.rules:
        bar = (
            f"z_threshold {r.z_threshold:g}"
            if r.z_threshold is not None
            else f"min_relative_change {r.min_relative_change:g}"
            if r.min_relative_change is not None
            else f"alpha {r.alpha:g}"
        )
        rules.add_row(*cells(r.key(), bar, r.reason))
    if p.alerting is not None:
        rules.add_row(
            *cells("alerting", f"pending {p.alerting.pending_failures} of {p.alerting.pending_runs} runs", "")
        )
    if p.rules or p.alerting is not None:
        _common.console.print(rules)
    for note in p.notes:
        _common.console.print(f"note: {note}", markup=False, highlight=False)
    t = Table(title=cell(f"backtest {result.start:%Y-%m-%d %H:%M} .. {result.end:%Y-%m-%d %H:%M} UTC"))
    for col in ("incident", "component", "resolution", "before", "after"):
        t.add_column(col)
    for o in result.incidents:
        t.add_row(*cells(o.key, o.component, o.resolution or "open", o.before, o.after))
    _common.console.print(t)
    _common.console.print(
        f"replay opened {result.opened_before} incident(s) before, {result.opened_after} after; "
        f"false alarms removed: {', '.join(result.removed_false) or 'none'}; "
        f"kept incidents lost: {', '.join(result.lost_true) or 'none'}",
        markup=False,
        highlight=False,
    )
    from rcaflows.backtest import ACTIONS

    moved = ", ".join(f"{a} {sum(result.before[a].values())} → {sum(result.after[a].values())}" for a in ACTIONS)
    _common.console.print(f"backtest outcomes (all hours, before → after): {moved}", markup=False, highlight=False)
    if written is not None:
        _common.console.print(f"written to {written}", markup=False, highlight=False)
    elif not p.is_empty():
        _common.console.print("not written (pass --write to apply it)", markup=False, highlight=False)
