"""Commands that run flows: ``demo``, ``detect``, ``rca``, ``serve``."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from rcaflows.cli import _common
from rcaflows.cli._common import (
    ConfigOpt,
    ScenarioOpt,
    app,
    cell,
    cells,
    esc,
    fail,
    no_heartbeat,
    parse_time,
    prefect_env,
)
from rcaflows.errors import ConfigError, RcaflowsError


@app.command()
def demo(
    scenario: Annotated[str, typer.Option(help="Scenario name, or 'all'.")] = "all",
    keep: Annotated[bool, typer.Option(help="Keep the incidents of earlier demo runs.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show Prefect's run logs.")] = False,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the outcome table as JSON.")] = None,
    sources: Annotated[
        str,
        typer.Option(help="'simulator' (in memory) or 'prometheus' (exported to Prometheus + Parquet + OpenLineage)."),
    ] = "simulator",
    prometheus_url: Annotated[
        str | None,
        typer.Option(help="With --sources prometheus: a server holding the exported series; default: launch one."),
    ] = None,
) -> None:
    """Run detection and RCA on the bundled demo system, one simulated world per scenario."""
    prefect_env(verbose)
    started = time.perf_counter()
    from rcaflows.config import load_config
    from rcaflows.demo import DEMO_END, SCENARIOS, simulate
    from rcaflows.demo.evaluate import evaluate

    names = list(SCENARIOS) if scenario == "all" else [scenario]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        fail(
            ConfigError(f"--scenario: unknown scenario {unknown[0]!r}; expected 'all' or one of {', '.join(SCENARIOS)}")
        )
    cfg = load_config()
    db = cfg.store.url.removeprefix("sqlite:///")
    if not keep and cfg.store.url.startswith("sqlite:///") and Path(db).exists():
        from rcaflows.incidents import Store

        Store.clear_cache()  # a store opened on the old file would refuse the new one (see Store.check_file)
        for suffix in ("", "-wal", "-shm"):  # a stale write-ahead log must not be replayed into the new file
            Path(db + suffix).unlink(missing_ok=True)
        shutil.rmtree(cfg.rca.reports_dir, ignore_errors=True)
    _common.console.print(
        f"[bold]rcaflows demo[/bold]: {esc(cfg.system.description)}; detection at {DEMO_END.isoformat()}"
    )
    if sources not in ("simulator", "prometheus"):
        fail(ConfigError(f"--sources: unknown value {sources!r}; expected 'simulator' or 'prometheus'"))
    with contextlib.ExitStack() as stack, _common.console.status("starting Prefect's local API …") as status:
        configs: dict[str, Path] = {}
        if sources == "prometheus":
            from rcaflows.demo.export import exported_demo

            status.update("exporting the demo worlds to Prometheus, Parquet and OpenLineage …")
            try:
                exported = Path(cfg.rca.reports_dir).parent / "exported"
                configs = stack.enter_context(exported_demo(names, exported, prometheus_url))
            except RcaflowsError as exc:
                fail(exc)
            _common.console.print(f"sources: Prometheus + Parquet + OpenLineage exported to {exported}/", markup=False)
        from flows.detection import detection

        outcomes = []
        with no_heartbeat():
            for i, name in enumerate(names, 1):
                status.update(f"[{i}/{len(names)}] {name}: detection + RCA …")
                t0 = time.perf_counter()
                try:
                    if name in configs:
                        result = detection(config=str(configs[name]), at=DEMO_END)
                    else:
                        result = detection(at=DEMO_END, scenario=name)
                except RcaflowsError as exc:
                    fail(exc)
                outcome = evaluate(simulate(name).truth, result)
                outcomes.append(outcome)
                ok = outcome.detected and outcome.quiet and outcome.one_per_fault
                mark = "[green]✓[/green]" if ok else "[red]✗[/red]"
                _common.console.print(
                    f"  {mark} {esc(name)}: {len(outcome.incidents)} incident(s) for {len(outcome.faults)} fault(s), "
                    f"top cause {esc(outcome.top_cause or '-')} ({time.perf_counter() - t0:.1f} s)"
                )
    table = Table(title="rcaflows demo: detection and root cause vs the injected truth")
    for col in (
        "scenario",
        "expected",
        "incidents found",
        "top-ranked cause",
        "injected cause",
        "conf.",
        "report",
    ):
        table.add_column(col, overflow="fold")
    for o in outcomes:
        ok = o.detected and o.quiet and o.one_per_fault
        hit = o.top1 or (not o.root_cause and o.top_cause is None)
        table.add_row(
            cell(o.scenario),
            cell(", ".join(o.expected_types) or "(nothing)"),
            Text.assemble(
                (", ".join(o.found_types) or "none", "green" if ok else "red"),
                f" ({len(o.incidents)} for {len(o.faults)} fault{'' if len(o.faults) == 1 else 's'}"
                + (f", {len(o.distractor_incidents)} on distractors" if o.distractor_incidents else "")
                + ")",
            ),
            Text(o.top_cause or "-", style="green" if hit else "yellow"),
            *cells(o.root_cause or "-", f"{o.confidence:.0%}" if o.confidence is not None else "-", o.report or "-"),
        )
    _common.console.print(table)
    faults = [f for o in outcomes for f in o.faults]
    clean = [o for o in outcomes if not o.faults]
    _common.console.print(
        f"detected {sum(f.detected for f in faults)}/{len(faults)} injected faults; "
        f"one incident per fault in {sum(o.one_per_fault for o in outcomes if o.faults)}/{len(outcomes) - len(clean)} "
        f"scenarios (+{sum(len(o.distractor_incidents) for o in outcomes)} on declared distractors); "
        f"no-fault scenarios quiet {sum(o.quiet for o in clean)}/{len(clean)}; "
        f"root cause ranked first {sum(f.truth_rank == 1 for f in faults)}/{len(faults)}, "
        f"in top 3 {sum(f.truth_rank is not None and f.truth_rank <= 3 for f in faults)}/{len(faults)}; "
        f"wall time {time.perf_counter() - started:.1f} s"
    )
    _common.console.print(f"store: {cfg.store.url}   reports: {cfg.rca.reports_dir}/", markup=False)
    if json_out:
        json_out.write_text(json.dumps([o.model_dump() for o in outcomes], indent=2))


def _check_config(config: str | None) -> None:
    """Load the config before any flow starts, so a bad one is reported as its problems, not a flow crash."""
    from rcaflows.config import load_config

    load_config(config)


@app.command()
def detect(
    config: ConfigOpt = None,
    at: Annotated[str | None, typer.Option(help="Window end (UTC ISO time); default now, floored to the hour.")] = None,
    scenario: ScenarioOpt = None,
    rca: Annotated[bool, typer.Option(help="Investigate each new incident.")] = True,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Run one detection over the window ending at AT, as the hourly deployment does."""
    prefect_env(verbose)
    try:
        when = parse_time(at, "--at")
        _check_config(config)
        from flows.detection import detection

        with no_heartbeat():
            result = detection(config=config, at=when, scenario=scenario, run_rca=rca)
    except RcaflowsError as exc:
        fail(exc)
    table = Table(title=cell(f"{result['system']}: window {result['window'][0]} .. {result['window'][1]}"))
    for col in ("incident", "action", "type", "component", "severity", "priority", "team", "title"):
        table.add_column(col)
    for i in result["incidents"]:
        table.add_row(
            *cells(
                i["key"],
                "opened" if i["created"] else "updated",
                i["type"],
                i["component"],
                i["severity"],
                i["priority"],
                i["team"],
                i["title"],
            )
        )
    _common.console.print(table)
    _common.console.print(f"{result['checks']} checks, {result['failed_checks']} failed")
    for inv in result["investigations"]:
        _common.console.print(
            f"  {inv.get('incident')}: top cause {inv.get('top')} → {(inv.get('report') or {}).get('html')}",
            markup=False,
        )


@app.command()
def rca(
    incident: Annotated[str | None, typer.Argument(help="Incident key or id, e.g. INC-0001.")] = None,
    config: ConfigOpt = None,
    scenario: ScenarioOpt = None,
    component: Annotated[str | None, typer.Option(help="Ad-hoc RCA: symptom component.")] = None,
    metric: Annotated[str | None, typer.Option(help="Ad-hoc RCA: symptom metric.")] = None,
    end: Annotated[str | None, typer.Option(help="Ad-hoc RCA: window end (UTC ISO time).")] = None,
    start: Annotated[str | None, typer.Option(help="Ad-hoc RCA: window start (UTC ISO time).")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Investigate an incident (again: every run is kept) or one metric over a window."""
    prefect_env(verbose)
    try:
        t_end, t_start = parse_time(end, "--end"), parse_time(start, "--start")
        _check_config(config)
        from flows.rca import rca as rca_flow

        with no_heartbeat():
            out = rca_flow(
                incident=incident,
                config=config,
                scenario=scenario,
                component=component,
                metric=metric,
                start=t_start,
                end=t_end,
            )
    except RcaflowsError as exc:
        fail(exc)
    _common.console.print(
        f"top cause: [bold]{esc(out['top'])}[/bold] {esc(out['top_metric'] or '')} "
        f"(confidence {out['confidence'] or 0:.0%}); ranked: {esc(', '.join(out['hypotheses']))}"
    )
    if out["failed_phases"]:
        _common.console.print(f"[yellow]failed phases: {esc(', '.join(out['failed_phases']))}[/yellow]")
    _common.console.print(f"report: {out['report']['html']}  ·  {out['report']['markdown']}", markup=False)


@app.command()
def serve(
    config: ConfigOpt = None,
    limit: Annotated[int, typer.Option(help="Concurrent flow runs.")] = 4,
) -> None:
    """Serve the detection (hourly) and rca (on demand) deployments to a Prefect API."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    try:
        from flows.serve import serve as serve_flows

        serve_flows(config, limit=limit)
    except RcaflowsError as exc:
        fail(exc)
