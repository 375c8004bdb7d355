"""The demo's entry point: one detection flow (with its RCA subflows) per scenario, scored against the truth.

This is the only place that picks a scenario. Each scenario gets a config file of its own
(``rcaflows-demo/configs/<scenario>.yaml``, its simulator world and system name
``fraud-scoring/<scenario>``; or, with ``sources="prometheus"``, the exported world's config), and
the ``detection`` flow runs on that file exactly as the hourly deployment runs on a real one.

It sits above ``flows`` (it calls them); nothing in the engine or the flows imports it.

Why it is fast: Prefect's local API (a subprocess, started on a bundled, already migrated empty
database: :mod:`rcaflows.demo.api`) is the first thing started, and this process imports the
engine, compiles the templates, builds the great-expectations context and simulates worlds
meanwhile; then it forks two worker processes that inherit all of that and run the scenarios side
by side (costliest first), each scenario one detection flow with its RCA subflows. Flow heartbeats
are off (each sync flow run would wait ~1 s for its heartbeat thread); the API runs none of the
services a one-shot demo has no use for (automations' triggers and actions, the event logger,
block registration, the task-run recorder).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.table import Table
from rich.text import Text

from rcaflows.config.models import SystemConfig
from rcaflows.demo.api import LocalApi, configured_api_url
from rcaflows.demo.config import demo_config, write_demo_config
from rcaflows.demo.evaluate import ScenarioOutcome, evaluate
from rcaflows.demo.remediate import ControlPlane, Remediation, remediate_scenario, write_remediation_config
from rcaflows.demo.scenarios import SCENARIOS
from rcaflows.demo.simulator import DEMO_END, simulate
from rcaflows.errors import ConfigError
from rcaflows.incidents.db import Store

#: ``sources`` values: the in-memory simulator, or the worlds exported to Prometheus + Parquet + OpenLineage.
SOURCE_MODES = ("simulator", "prometheus")

#: Prefect settings for a one-shot local run (environment defaults; an explicit setting wins).
PREFECT_DEFAULTS = {
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",  # a cold start takes 10-20 s on 2 busy cores
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    # No automations run in the demo (its RCA is a subflow): skip evaluating every event against them.
    "PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED": "false",
    "PREFECT_SERVER_SERVICES_ACTIONS_ENABLED": "false",
    "PREFECT_SERVER_SERVICES_EVENT_LOGGER_ENABLED": "false",
    # The demo uses no blocks; a server that needs them registers them when it starts (~2 CPU s).
    "PREFECT_API_BLOCKS_REGISTER_ON_START": "false",
    # The demo's own API does not store task-run records (flow runs, their states, logs and artifacts
    # are stored): on a fresh machine that is ~10 s of the demo's ~55 s. Set the variable to true
    # to keep them, e.g. to browse the demo's task graphs later in the Prefect UI.
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_ENABLED": "false",
    # Its server asks clients to repeat a write that lost a SQLite race after 0.5 s (not 2, 4, 8 s),
    # so they may repeat it more often (rcaflows.demo.prefect_server).
    "PREFECT_CLIENT_MAX_RETRIES": "10",
}


def names_for(scenario: str) -> list[str]:
    """Return the scenarios ``scenario`` ('all' or one name) stands for.

    Raises:
        ConfigError: For an unknown name, listing the known ones.
    """
    names = list(SCENARIOS) if scenario == "all" else [scenario]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        raise ConfigError(
            f"--scenario: unknown scenario {unknown[0]!r}; expected 'all' or one of {', '.join(SCENARIOS)}"
        )
    return names


def demo_dir(cfg: SystemConfig | None = None) -> Path:
    """Return the demo's working directory (the parent of its reports, ``rcaflows-demo`` by default)."""
    return Path((cfg or demo_config()).rca.reports_dir).parent


def reset(cfg: SystemConfig) -> None:
    """Delete the demo's SQLite store (with its write-ahead log) and reports, so a run starts clean."""
    url = cfg.store.url
    if not url.startswith("sqlite:///"):
        return
    from rcaflows.incidents import Store

    db = url.removeprefix("sqlite:///")
    Store.clear_cache()  # a store opened on the old file would refuse the new one (see Store.check_file)
    for suffix in ("", "-wal", "-shm"):  # a stale write-ahead log must not be replayed into the new file
        Path(db + suffix).unlink(missing_ok=True)
    shutil.rmtree(cfg.rca.reports_dir, ignore_errors=True)


def prefect_defaults(verbose: bool = False) -> None:
    """Set the demo's Prefect defaults in the environment (before Prefect reads its settings)."""
    for k, v in PREFECT_DEFAULTS.items():
        os.environ.setdefault(k, v)
    if not verbose:
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
        os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "ERROR")


def _warm_up(cfg: SystemConfig, names: Sequence[str], simulated: bool, api: LocalApi | None) -> None:
    """Do, while the API starts, the work the first flows would do: imports, GX context, the worlds.

    The worlds are simulated one by one until the API answers; the workers simulate the rest, side
    by side (each world is simulated once per process and cached).
    """
    import flows.detection  # noqa: F401  # prefect, the engine, the RCA phases, matplotlib

    from rcaflows.detection.detectors.data_quality import gx_batch_definition

    if cfg.detectors.data_quality.enabled and cfg.detectors.data_quality.expectations:
        gx_batch_definition()  # great-expectations: 3-4 s of imports, paid once per process
    _compile_templates()
    _warm_plots()
    Store.from_url(cfg.store.url).create_all()  # the workers find the schema current
    if simulated:
        for n in names:
            if api is not None and api.ready():
                break
            simulate(n)  # cached: the flows' demo source reads these worlds


def _compile_templates() -> None:
    """Compile every report and message template once here, so the forked workers do not each compile them."""
    from rcaflows.notify.audiences import plain_environment
    from rcaflows.reporting.render import environment, markdown_environment

    for env in (environment(), markdown_environment(), plain_environment()):
        for name in env.list_templates(extensions=["j2"]):
            env.get_template(name)


def _warm_plots() -> None:
    """Draw one small figure: loads matplotlib's font cache and Agg text layout once, before the fork."""
    from rcaflows.reporting.plots import drift_plot

    drift_plot({"warm-up": 1.0})


@contextlib.contextmanager
def _prefect_settings(api_url: str | None) -> Iterator[None]:
    """Point the flows at ``api_url`` (when given) and turn their heartbeat off (~1 s per sync flow run)."""
    import prefect.settings as ps
    from prefect.settings import temporary_settings

    updates: dict[ps.Setting, Any] = {ps.PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}
    if api_url is not None:
        updates[ps.PREFECT_API_URL] = api_url
    with temporary_settings(updates=updates):
        yield


@dataclass
class DemoRun:
    """The outcome of a demo run: per scenario, scored against its truth."""

    config: SystemConfig
    outcomes: list[ScenarioOutcome] = field(default_factory=list)
    seconds: float = 0.0
    exported: Path | None = None
    remediations: list[Remediation] = field(default_factory=list)


def run(
    names: Sequence[str],
    *,
    keep: bool = False,
    sources: str = "simulator",
    prometheus_url: str | None = None,
    progress: Callable[[str], None] = lambda _msg: None,
    done: Callable[[ScenarioOutcome, float], None] = lambda _o, _s: None,
    remediate: bool = False,
    jobs: int = 2,
) -> DemoRun:
    """Run the detection flow (with RCA) on each scenario's config and score it; ``done`` sees each outcome.

    With ``remediate`` (simulator sources only), each incident's runbook actions then run against
    the demo's control plane and detection goes on for the watch period (:mod:`rcaflows.demo.remediate`).

    Raises:
        ConfigError: For an unknown ``sources`` mode.
        RcaflowsError: When a flow fails on a config or data problem.
    """
    started = time.perf_counter()
    if sources not in SOURCE_MODES:
        raise ConfigError(f"--sources: unknown value {sources!r}; expected one of {', '.join(SOURCE_MODES)}")
    if remediate and sources != "simulator":
        raise ConfigError("--remediate: the demo's actions change the simulated worlds; use --sources simulator")
    progress("starting Prefect's local API …")
    # Launched before anything else: it migrates a fresh database meanwhile. Not needed (and stopped)
    # when a Prefect API is configured; checking that imports Prefect's settings, which takes a while.
    launched = LocalApi().start()
    api: LocalApi | None = launched
    if configured_api_url():
        launched.stop()
        api = None
    cfg = demo_config()
    if not keep:
        reset(cfg)
    out = DemoRun(config=cfg)
    with contextlib.ExitStack() as stack:
        if sources == "prometheus":
            from rcaflows.demo.export import exported_demo

            progress("exporting the demo worlds to Prometheus, Parquet and OpenLineage …")
            out.exported = demo_dir(cfg) / "exported"
            configs = stack.enter_context(exported_demo(names, out.exported, prometheus_url))
        elif remediate:
            plane = stack.enter_context(ControlPlane(demo_dir(cfg) / "remediations").running())
            for n in names:
                plane.file(n).unlink(missing_ok=True)  # every run starts from the unremediated world
            configs = {n: write_remediation_config(n, demo_dir(cfg) / "configs", plane) for n in names}
        else:
            configs = {n: write_demo_config(n, demo_dir(cfg) / "configs") for n in names}
        progress("loading the engine and simulating the worlds while Prefect's local API starts …")
        _warm_up(cfg, names, sources == "simulator", api)
        from flows.detection import detection

        if api is not None:
            api.wait(float(os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")))
        stack.enter_context(_prefect_settings(api.url if api is not None else None))

        def scenario_run(name: str) -> tuple[ScenarioOutcome, float]:
            t0 = time.perf_counter()
            result = detection(config=str(configs[name]), at=DEMO_END)
            return evaluate(simulate(name).truth, result), time.perf_counter() - t0

        if remediate:  # one scenario at a time: the watch period follows each scenario's own fix
            for i, name in enumerate(names, 1):
                progress(f"[{i}/{len(names)}] {name}: detection + RCA …")
                outcome, seconds = scenario_run(name)
                out.outcomes.append(outcome)
                done(outcome, seconds)
                progress(f"[{i}/{len(names)}] {name}: mitigation, then detection over the watch period …")
                out.remediations += remediate_scenario(
                    name, configs[name], plane, lambda c, at: detection(config=c, at=at, run_rca=False)
                )
        else:
            # a scenario costs about one RCA per fault
            faults = {n: len(SCENARIOS[n].truth(DEMO_END).faults) for n in names}
            out.outcomes = _concurrently(names, scenario_run, jobs, progress, done, cost=faults.__getitem__)
    out.seconds = time.perf_counter() - started
    return out


#: The scenario function the forked workers call (set by :func:`_concurrently` before it forks).
_JOB: Callable[[str], tuple[ScenarioOutcome, float]] | None = None


def _worker_start() -> None:
    """Start a forked worker clean: forget the parent's incident-store engines (their pooled connections)."""
    Store.clear_cache(close=False)  # the parent's connections stay the parent's


def _worker_call(name: str) -> tuple[ScenarioOutcome, float]:
    """Run one scenario in a worker; ship its Prefect logs and events before handing the outcome back.

    A pool worker leaves with ``os._exit``, so Prefect's exit-time drains never run there: without
    the drain here the last lines of a flow run's log would be lost.
    """
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    assert _JOB is not None, "_concurrently sets the job before it forks"
    try:
        return _JOB(name)
    finally:
        APILogWorker.drain_all(timeout=30)
        EventsWorker.drain_all(timeout=30)


def _concurrently(
    names: Sequence[str],
    scenario_run: Callable[[str], tuple[ScenarioOutcome, float]],
    jobs: int,
    progress: Callable[[str], None],
    done: Callable[[ScenarioOutcome, float], None],
    cost: Callable[[str], float] = lambda _name: 0.0,
) -> list[ScenarioOutcome]:
    """Run the scenarios in ``jobs`` forked worker processes; return their outcomes in ``names`` order.

    Each scenario is its own system (its own config, world and incidents) in the one store, whose
    writers wait for each other, so they can run side by side. Processes, not threads: the work is
    mostly Python holding the GIL, so threads used ~1.2 of the 2 cores. The workers are forked from
    this process after the warm-up, so they inherit the imported engine, the great-expectations
    context, the simulated worlds and the caller's context (the Prefect settings) at no cost; nothing
    here has started a thread by then. ``done`` sees each outcome as it finishes.
    """
    global _JOB
    outcomes: dict[str, ScenarioOutcome] = {}
    _JOB = scenario_run
    fork = multiprocessing.get_context("fork")
    try:
        with ProcessPoolExecutor(max_workers=max(1, jobs), mp_context=fork, initializer=_worker_start) as pool:
            # The costliest first (stable otherwise), so that no long scenario starts last.
            pending = {pool.submit(_worker_call, name): name for name in sorted(names, key=lambda n: -cost(n))}
            progress(f"[0/{len(names)} done] {max(1, jobs)} worker process(es) …")
            for fut in as_completed(pending):
                try:
                    outcome, seconds = fut.result()
                except BaseException:  # a failed scenario fails the demo, as it did one at a time
                    pool.shutdown(wait=True, cancel_futures=True)
                    raise
                outcomes[pending[fut]] = outcome
                done(outcome, seconds)
                left = [n for n in names if n not in outcomes]
                progress(f"[{len(outcomes)}/{len(names)} done] left: {', '.join(left) or '-'} …")
    finally:
        _JOB = None
    return [outcomes[n] for n in names]


def ok(o: ScenarioOutcome) -> bool:
    """Return True when a scenario found its faults, one incident each, and nothing else."""
    return o.detected and o.quiet and o.one_per_fault


def _table(outcomes: Sequence[ScenarioOutcome], wide: bool) -> Table:
    table = Table(
        title="rcaflows demo: detection and root cause vs the injected truth",
        box=None,
        pad_edge=False,
        show_edge=False,
        header_style="bold",
        caption="found: faults detected/injected; inc.: incidents opened (d: on a declared distractor)",
        caption_justify="left",
    )
    table.add_column("scenario", no_wrap=True)
    if wide:
        table.add_column("expected types", no_wrap=True)
        table.add_column("found types", no_wrap=True)
    table.add_column("found", justify="right", no_wrap=True)
    table.add_column("inc.", no_wrap=True)
    table.add_column("top cause", no_wrap=True)
    if wide:
        table.add_column("injected cause", no_wrap=True)
    table.add_column("conf.", justify="right", no_wrap=True)
    table.add_column("report", no_wrap=True)
    for o in outcomes:
        hit = o.top1 or (not o.root_cause and o.top_cause is None)
        style = "green" if ok(o) else "red"
        distractors = f" ({len(o.distractor_incidents)} d)" if o.distractor_incidents else ""
        row: list[Any] = [Text(o.scenario)]
        if wide:
            row += [Text("\n".join(o.expected_types) or "(nothing)"), Text("\n".join(o.found_types) or "none", style)]
        row += [
            Text(f"{sum(f.detected for f in o.faults)}/{len(o.faults)}", style),
            Text(f"{len(o.incidents)}{distractors}", style),
            Text("\n".join((o.top_cause or "-").split(", ")), style="green" if hit else "yellow"),
        ]
        if wide:
            row.append(Text("\n".join((o.root_cause or "-").split(", "))))
        row += [
            Text(f"{o.confidence:.0%}" if o.confidence is not None else "-"),
            Text(Path(o.report).name if o.report else "-"),
        ]
        table.add_row(*row)
    return table


def outcome_table(outcomes: Sequence[ScenarioOutcome], width: int = 80) -> Table:
    """Return the outcome table for ``width`` columns (80 when piped); no cell is ever wrapped or cut.

    The report column holds file names (the reports directory is printed below the table). The
    incident types found and expected (one per line) and the injected cause are shown when they fit.
    """
    from rich.console import Console
    from rich.measure import Measurement

    wide = _table(outcomes, wide=True)
    console = Console(width=10_000)  # measure the table unconstrained
    if Measurement.get(console, console.options, wide).maximum <= width:
        return wide
    return _table(outcomes, wide=False)


def summary(run: DemoRun) -> str:
    """Return the one-paragraph tally of a demo run."""
    outcomes = run.outcomes
    faults = [f for o in outcomes for f in o.faults]
    clean = [o for o in outcomes if not o.faults]
    return (
        f"detected {sum(f.detected for f in faults)}/{len(faults)} injected faults; "
        f"one incident per fault in {sum(o.one_per_fault for o in outcomes if o.faults)}/{len(outcomes) - len(clean)} "
        f"scenarios (+{sum(len(o.distractor_incidents) for o in outcomes)} on declared distractors); "
        f"no-fault scenarios quiet {sum(o.quiet for o in clean)}/{len(clean)}; "
        f"root cause ranked first {sum(f.truth_rank == 1 for f in faults)}/{len(faults)}, "
        f"in top 3 {sum(f.truth_rank is not None and f.truth_rank <= 3 for f in faults)}/{len(faults)}; "
        f"wall time {run.seconds:.1f} s"
    )


def remediation_table(rows: Sequence[Remediation]) -> Table:
    """Return the table of ``demo --remediate``: per incident, the action, its run, the watch and the end state."""
    table = Table(
        title="rcaflows demo --remediate: proposed -> approved (auto) -> run -> watched",
        box=None,
        pad_edge=False,
        show_edge=False,
        header_style="bold",
    )
    for col in ("scenario", "incident", "top cause", "action: status", "faults ended", "watch", "state"):
        table.add_column(col, no_wrap=col in ("incident", "watch"), overflow="fold")
    for r in rows:
        good = r.verdict == "validated"
        style = "green" if good else ("yellow" if r.verdict == "regressed" else "red")
        state = f"{r.state} (escalated)" if r.escalated else r.state
        table.add_row(
            Text(r.scenario),
            Text(r.incident),
            Text(r.cause),
            Text("\n".join(r.actions) or "-"),
            Text(", ".join(r.ended) or "none"),
            Text(r.verdict, style),
            Text(state, style),
        )
    return table
