"""Commands that run flows: ``demo``, ``detect``, ``rca``, ``serve``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from rcaflows.cli import _common
from rcaflows.cli._common import (
    ConfigOpt,
    app,
    cell,
    cells,
    esc,
    fail,
    no_heartbeat,
    parse_time,
    prefect_env,
)
from rcaflows.errors import RcaflowsError


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
    remediate: Annotated[
        bool,
        typer.Option(help="Then run each incident's runbook actions (auto-approved) and watch the fix for 3 hours."),
    ] = False,
    jobs: Annotated[
        int,
        typer.Option(min=1, help="Scenarios run at a time (threads sharing one Prefect API); --remediate runs one."),
    ] = 2,
) -> None:
    """Run detection and RCA on the bundled demo system, one simulated world per scenario."""
    from rcaflows.demo import run as demo_run

    demo_run.prefect_defaults(verbose)
    try:
        names = demo_run.names_for(scenario)
    except RcaflowsError as exc:
        fail(exc)
    cfg = demo_run.demo_config()
    _common.console.print(
        f"[bold]rcaflows demo[/bold]: {esc(cfg.system.description)}; detection at {demo_run.DEMO_END.isoformat()}"
    )

    def done(o: demo_run.ScenarioOutcome, seconds: float) -> None:
        mark = "[green]✓[/green]" if demo_run.ok(o) else "[red]✗[/red]"
        _common.console.print(
            f"  {mark} {esc(o.scenario)}: {len(o.incidents)} incident(s) for {len(o.faults)} fault(s), "
            f"top cause {esc(o.top_cause or '-')} ({seconds:.1f} s)"
        )

    with _common.console.status("starting …") as status:
        try:
            result = demo_run.run(
                names,
                keep=keep,
                sources=sources,
                prometheus_url=prometheus_url,
                progress=status.update,
                done=done,
                remediate=remediate,
                jobs=jobs,
            )
        except RcaflowsError as exc:
            fail(exc)
    if result.exported is not None:
        _common.console.print(
            f"sources: Prometheus + Parquet + OpenLineage exported to {result.exported}/", markup=False
        )
    _common.console.print(demo_run.outcome_table(result.outcomes, _common.console.width))
    _common.console.print(demo_run.summary(result))
    if remediate:
        _common.console.print(demo_run.remediation_table(result.remediations))
    configs = demo_run.demo_dir(cfg) / "configs"
    _common.console.print(
        f"store: {cfg.store.url}   reports: {cfg.rca.reports_dir}/   configs: {configs}/", markup=False
    )
    if json_out:
        json_out.write_text(json.dumps([o.model_dump() for o in result.outcomes], indent=2))


def _check_config(config: str | None) -> None:
    """Load the config before any flow starts, so a bad one is reported as its problems, not a flow crash."""
    from rcaflows.config import load_config

    load_config(config)


@app.command()
def detect(
    config: ConfigOpt = None,
    at: Annotated[str | None, typer.Option(help="Window end (UTC ISO time); default now, floored to the hour.")] = None,
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
            result = detection(config=config, at=when, run_rca=rca)
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
