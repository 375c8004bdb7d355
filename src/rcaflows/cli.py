"""The ``rcaflows`` command: demo, detect, rca, incidents, serve, validate."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from rcaflows.errors import ConfigError, RcaflowsError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Incident detection, triage and root-cause analysis for production AI systems.",
)
incidents_app = typer.Typer(no_args_is_help=True, help="List and inspect incidents in the store.")
app.add_typer(incidents_app, name="incidents")
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

ConfigOpt = Annotated[
    str | None, typer.Option("--config", "-c", help="System config YAML (default: the bundled demo).")
]
ScenarioOpt = Annotated[
    str | None, typer.Option("--scenario", help="Demo scenario (bundled demo config only).")
]
StoreOpt = Annotated[
    str | None, typer.Option("--store", help="SQLAlchemy URL of the incident store (overrides config).")
]


def _prefect_env(verbose: bool = False) -> None:
    """Set quiet, robust defaults for Prefect's local ephemeral API before Prefect is imported."""
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    if not verbose:
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
        os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "ERROR")


@contextmanager
def _no_heartbeat() -> Any:
    """Skip the flow heartbeat for one-shot CLI runs (it costs ~1 s per sync flow run)."""
    import prefect.settings as ps
    from prefect.settings import temporary_settings

    with temporary_settings(updates={ps.PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield


def _fail(exc: Exception) -> None:
    err.print(f"[red]error:[/red] {exc}", highlight=False)
    if isinstance(exc, ConfigError) and len(exc.problems) > 1:
        for p in exc.problems:
            err.print(f"  {p}", highlight=False)
    raise typer.Exit(code=2)


def _store(config: str | None, store: str | None) -> Any:
    from rcaflows.config import load_config
    from rcaflows.incidents import Store

    url = store or load_config(config).store.url
    return Store.from_url(url)


def _parse_time(value: str | None, field: str) -> datetime | None:
    if value is None:
        return None
    from rcaflows.timeutil import utc

    try:
        return utc(value)
    except ValueError as exc:
        raise RcaflowsError(f"{field}: {exc}") from None


@app.command()
def validate(config: Annotated[Path, typer.Argument(help="System config YAML to check.")]) -> None:
    """Check a system config and report every problem with file, line and field path."""
    from rcaflows.config import load_config

    try:
        cfg = load_config(config)
    except ConfigError as exc:
        for p in exc.problems:
            err.print(p, highlight=False)
        err.print(f"[red]{len(exc.problems)} problem(s)[/red]")
        raise typer.Exit(code=1) from None
    console.print(
        f"[green]ok[/green] {config}: system {cfg.system.name!r}, {len(cfg.components)} components, "
        f"{len(cfg.metrics)} metrics, {len(cfg.lineage.nodes)} lineage nodes, {len(cfg.teams)} teams"
    )


@app.command()
def demo(
    scenario: Annotated[str, typer.Option(help="Scenario name, or 'all'.")] = "all",
    keep: Annotated[bool, typer.Option(help="Keep the incidents of earlier demo runs.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show Prefect's run logs.")] = False,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the outcome table as JSON.")
    ] = None,
) -> None:
    """Run detection and RCA on the bundled demo system, one simulated world per scenario."""
    _prefect_env(verbose)
    started = time.perf_counter()
    from rcaflows.config import load_config
    from rcaflows.demo import DEMO_END, SCENARIOS, simulate
    from rcaflows.demo.evaluate import evaluate

    names = list(SCENARIOS) if scenario == "all" else [scenario]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        _fail(
            ConfigError(
                f"--scenario: unknown scenario {unknown[0]!r}; expected 'all' or one of {', '.join(SCENARIOS)}"
            )
        )
    cfg = load_config()
    db = cfg.store.url.removeprefix("sqlite:///")
    if not keep and cfg.store.url.startswith("sqlite:///") and Path(db).exists():
        Path(db).unlink()
        shutil.rmtree(cfg.rca.reports_dir, ignore_errors=True)
    console.print(
        f"[bold]rcaflows demo[/bold]: {cfg.system.description}; detection at {DEMO_END.isoformat()}"
    )
    with console.status("starting Prefect's local API …") as status:
        from flows.detection import detection

        outcomes = []
        with _no_heartbeat():
            for i, name in enumerate(names, 1):
                status.update(f"[{i}/{len(names)}] {name}: detection + RCA …")
                t0 = time.perf_counter()
                try:
                    result = detection(at=DEMO_END, scenario=name)
                except RcaflowsError as exc:
                    _fail(exc)
                outcome = evaluate(simulate(name).truth, result)
                outcomes.append(outcome)
                mark = "[green]✓[/green]" if outcome.detected and outcome.quiet else "[red]✗[/red]"
                console.print(
                    f"  {mark} {name}: {len(outcome.incidents)} incident(s), "
                    f"top cause {outcome.top_cause or '-'} ({time.perf_counter() - t0:.1f} s)"
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
        ok = o.detected and o.quiet
        hit = o.top1 or (not o.root_cause and o.top_cause is None)
        table.add_row(
            o.scenario,
            ", ".join(o.expected_types) or "(nothing)",
            f"[{'green' if ok else 'red'}]{', '.join(o.found_types) or 'none'}[/] ({len(o.incidents)})",
            f"[{'green' if hit else 'yellow'}]{o.top_cause or '-'}[/]",
            o.root_cause or "-",
            f"{o.confidence:.0%}" if o.confidence is not None else "-",
            o.report or "-",
        )
    console.print(table)
    faults = [o for o in outcomes if o.expected_types]
    clean = [o for o in outcomes if not o.expected_types]
    console.print(
        f"detected {sum(o.detected for o in faults)}/{len(faults)} injected faults; "
        f"no-fault scenarios quiet {sum(o.quiet for o in clean)}/{len(clean)}; "
        f"root cause ranked first {sum(o.top1 for o in faults)}/{len(faults)}, "
        f"in top 3 {sum(o.truth_rank is not None and o.truth_rank <= 3 for o in faults)}/{len(faults)}; "
        f"wall time {time.perf_counter() - started:.1f} s"
    )
    console.print(f"store: {cfg.store.url}   reports: {cfg.rca.reports_dir}/")
    if json_out:
        json_out.write_text(json.dumps([o.model_dump() for o in outcomes], indent=2))


@app.command()
def detect(
    config: ConfigOpt = None,
    at: Annotated[
        str | None, typer.Option(help="Window end (UTC ISO time); default now, floored to the hour.")
    ] = None,
    scenario: ScenarioOpt = None,
    rca: Annotated[bool, typer.Option(help="Investigate each new incident.")] = True,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Run one detection over the window ending at AT, as the hourly deployment does."""
    _prefect_env(verbose)
    try:
        when = _parse_time(at, "--at")
        from flows.detection import detection

        with _no_heartbeat():
            result = detection(config=config, at=when, scenario=scenario, run_rca=rca)
    except RcaflowsError as exc:
        _fail(exc)
    table = Table(title=f"{result['system']}: window {result['window'][0]} .. {result['window'][1]}")
    for col in ("incident", "action", "type", "component", "severity", "priority", "team", "title"):
        table.add_column(col)
    for i in result["incidents"]:
        table.add_row(
            i["key"],
            "opened" if i["created"] else "updated",
            i["type"],
            i["component"],
            i["severity"],
            i["priority"],
            i["team"],
            i["title"],
        )
    console.print(table)
    console.print(f"{result['checks']} checks, {result['failed_checks']} failed")
    for inv in result["investigations"]:
        console.print(
            f"  {inv.get('incident')}: top cause {inv.get('top')} → {(inv.get('report') or {}).get('html')}"
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
    _prefect_env(verbose)
    try:
        t_end, t_start = _parse_time(end, "--end"), _parse_time(start, "--start")
        from flows.rca import rca as rca_flow

        with _no_heartbeat():
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
        _fail(exc)
    console.print(
        f"top cause: [bold]{out['top']}[/bold] {out['top_metric'] or ''} "
        f"(confidence {out['confidence'] or 0:.0%}); ranked: {', '.join(out['hypotheses'])}"
    )
    if out["failed_phases"]:
        console.print(f"[yellow]failed phases: {', '.join(out['failed_phases'])}[/yellow]")
    console.print(f"report: {out['report']['html']}  ·  {out['report']['markdown']}")


@incidents_app.command("list")
def incidents_list(
    config: ConfigOpt = None,
    store: StoreOpt = None,
    state: Annotated[list[str] | None, typer.Option(help="Only these states (repeatable).")] = None,
    limit: Annotated[int, typer.Option(help="Most recent N.")] = 50,
) -> None:
    """List incidents, newest first."""
    from rcaflows.incidents import incident_dict, list_incidents
    from rcaflows.vocab import IncidentState

    try:
        states = [IncidentState(s) for s in state] if state else None
    except ValueError:
        _fail(RcaflowsError(f"--state: expected one of {', '.join(s.value for s in IncidentState)}"))
    try:
        st = _store(config, store)
        with st.session() as s:
            rows = [incident_dict(i) for i in list_incidents(s, states=states, limit=limit)]
    except RcaflowsError as exc:
        _fail(exc)
    table = Table(title=f"incidents ({len(rows)})")
    for col in (
        "key",
        "state",
        "type",
        "component",
        "severity",
        "priority",
        "team",
        "seen",
        "detected",
        "title",
    ):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["key"],
            r["state"],
            r["type"],
            r["component"],
            r["severity"],
            r["priority"],
            r["team"],
            str(r["occurrences"]),
            r["detected_at"][:16],
            r["title"],
        )
    console.print(table)


@incidents_app.command("show")
def incidents_show(
    incident: Annotated[str, typer.Argument(help="Incident key or id.")],
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """Show one incident with its audit log and RCA runs."""
    from rcaflows.incidents import events, get_incident, incident_dict, rca_runs

    try:
        with _store(config, store).session() as s:
            inc = get_incident(s, incident)
            view = incident_dict(inc)
            log = [
                (e.at.isoformat()[:19], str(e.kind), e.actor, json.dumps(e.payload, default=str)[:120])
                for e in events(s, inc)
            ]
            runs = [
                (
                    str(r.id),
                    str(r.status),
                    r.flow_run_id or "-",
                    r.inputs_fingerprint,
                    r.code_version,
                    ((r.results or {}).get("hypotheses") or [{}])[0].get("component", "-")
                    if r.results
                    else "-",
                    r.report_html or "-",
                )
                for r in rca_runs(s, inc)
            ]
    except RcaflowsError as exc:
        _fail(exc)
    console.print(f"[bold]{view['key']}[/bold] {view['title']}")
    for k in (
        "state",
        "type",
        "subtype",
        "component",
        "metric",
        "severity",
        "priority",
        "team",
        "fingerprint",
        "occurrences",
        "detected_at",
        "triaged_at",
        "acknowledged_at",
        "investigating_at",
        "mitigated_at",
        "resolved_at",
        "closed_at",
        "last_seen_at",
    ):
        if view.get(k) is not None:
            console.print(f"  {k:17} {view[k]}")
    t = Table(title="audit log")
    for col in ("at", "event", "actor", "payload"):
        t.add_column(col, overflow="fold")
    for row in log:
        t.add_row(*row)
    console.print(t)
    r = Table(title="RCA runs")
    for col in ("run", "status", "flow run", "inputs", "code", "top cause", "report"):
        r.add_column(col, overflow="fold")
    for run in runs:
        r.add_row(*run)
    console.print(r)


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
        _fail(exc)


def main() -> None:
    """Entry point of the ``rcaflows`` console script."""
    try:
        app()
    except RcaflowsError as exc:  # pragma: no cover - typer commands handle their own
        err.print(f"[red]error:[/red] {exc}")
        sys.exit(2)
