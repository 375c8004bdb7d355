"""The ``rca`` flow: the enabled registered phases in parallel, synthesis, report, and a recorded run.

Run for a stored incident (``incident="INC-0042"``) or ad hoc for one metric over a window
(``component``, ``metric``, ``end`` and optionally ``start``).
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NONE
from prefect.runtime import flow_run
from prefect.task_runners import ThreadPoolTaskRunner
from pydantic import AwareDatetime, Field
from sqlalchemy.orm import Session

from flows.common import load_window, publish_board, resolve_config, store_for, whole
from rcaflows import wiring
from rcaflows.config import SystemConfig
from rcaflows.errors import DataError, RcaflowsError, TransitionError
from rcaflows.impact import impact_of
from rcaflows.incidents import (
    Action,
    EventKind,
    code_version,
    events,
    finish_rca_run,
    get_incident,
    incident_dict,
    record_event,
    start_rca_run,
    transition,
)
from rcaflows.incidents.reaper import RcaTimeLimitError, fail_run, runner_info
from rcaflows.pipeline import investigation
from rcaflows.rca import RcaContext, enabled_phases, get_phase, synthesize
from rcaflows.rca.models import PhaseResult, PhaseStatus, RcaResult
from rcaflows.rca.service import RcaPlan, inputs_fingerprint, plan_for_incident, plan_for_metric
from rcaflows.reporting import IncidentSummary, TimelineEntry, causes_table, markdown_summary, write_report
from rcaflows.reporting.plots import report_plots
from rcaflows.reporting.storage import REPORT_BASE_URL_ENV as REPORT_BASE_URL_ENV
from rcaflows.reporting.storage import report_link, store_report
from rcaflows.timeutil import format_duration

#: incident references the ``rca`` deployment accepts: a key like ``INC-0042`` or a numeric id
INCIDENT_PATTERN = r"^(INC-\d+|\d+)$"


def _run_name() -> str:
    params = flow_run.parameters or {}
    what = params.get("incident") or f"{params.get('component')}-{params.get('metric')}"
    return f"rca/{what}/{datetime.now().strftime('%Y%m%d-%H%M%S')}"


@task(name="plan-rca", cache_policy=NONE)
def plan_rca(
    cfg: SystemConfig,
    incident: str | None,
    component: str | None,
    metric: str | None,
    start: datetime | None,
    end: datetime | None,
) -> RcaPlan:
    """Resolve what to investigate: a stored incident, or a metric over a window."""
    if incident is not None:
        return plan_for_incident(store_for(cfg), cfg, incident)
    if component is None or metric is None or end is None:
        raise RcaflowsError("rca parameters: give either 'incident', or 'component', 'metric' and 'end'")
    return plan_for_metric(cfg, component, metric, end, start)


@task(name="open-rca-run", cache_policy=NONE)
def open_run(cfg: SystemConfig, plan: RcaPlan, fingerprint: str, parameters: dict[str, Any]) -> int:
    """Record a new RCA run (never overwriting an earlier one) and mark the incident investigating."""
    actor = f"rca:{flow_run.id}" if flow_run.id else "rca"
    with store_for(cfg).session() as s:
        inc = get_incident(s, plan.incident_id) if plan.incident_id is not None else None
        if inc is not None:
            try:
                transition(s, inc, Action.INVESTIGATE, actor)
            except TransitionError as exc:
                # A post-hoc investigation of a mitigated or resolved incident keeps its state.
                record_event(s, inc, EventKind.NOTE, actor, {"message": f"RCA without state change: {exc}"})
        run = start_rca_run(
            s,
            incident=inc,
            flow_run_id=str(flow_run.id) if flow_run.id else None,
            inputs_fingerprint=fingerprint,
            code_version=code_version(),
            parameters=parameters,
        )
        if inc is not None:
            record_event(
                s,
                inc,
                EventKind.RCA_STARTED,
                actor,
                {"rca_run_id": run.id, "inputs_fingerprint": fingerprint},
            )
        return run.id


@task(name="phase", task_run_name="phase-{name}", retries=1, retry_delay_seconds=1, cache_policy=NONE)
def run_phase(name: str, ctx: RcaContext) -> PhaseResult:
    """Run the RCA phase registered as ``name``; an exception fails the task (and is retried once)."""
    started = time.perf_counter()
    result = get_phase(name).run(ctx)
    return result.model_copy(update={"seconds": time.perf_counter() - started})


@task(name="synthesize", cache_policy=NONE)
def synthesize_task(ctx: RcaContext, results: list[PhaseResult]) -> RcaResult:
    """Rank root-cause hypotheses from whatever the phases found."""
    return synthesize(ctx, results)


def _check_deadline(cfg: SystemConfig, deadline: float) -> None:
    """Raise :class:`RcaTimeLimitError` once the run is past ``rca.runs.time_limit``."""
    if time.monotonic() >= deadline:
        limit = cfg.rca.runs.time_limit
        raise RcaTimeLimitError(f"still running after the time limit of {format_duration(limit)} (rca.runs.time_limit)")


def report_url(path: Path | str, cfg: SystemConfig | None = None) -> str:
    """Return the URL of a written report: under the base URL if configured, else its ``file://``/fsspec URL."""
    return report_link(path, cfg)


def require_symptom_data(ctx: RcaContext) -> None:
    """Fail an ad-hoc RCA clearly when its metric is not in the window's metrics (raw or derived).

    Raises:
        DataError: naming the metric, the window and the metrics the component does have.
    """
    sym = ctx.symptom
    m = ctx.all_metrics
    if sym.metric is None or m.empty:
        return
    of_component = m[m["component"] == sym.component]
    if (of_component["metric"] == sym.metric).any():
        return
    known = sorted(set(of_component["metric"].astype(str)))
    hint = (
        f"metrics of {sym.component!r} in this window: {', '.join(known[:12])}"
        if known
        else f"component {sym.component!r} has no metrics in this window; components with data: "
        + ", ".join(sorted(set(m["component"].astype(str)))[:12])
    )
    raise DataError(
        f"rca parameters: metric {sym.metric!r} of component {sym.component!r} is not in the data of "
        f"the window {m['timestamp'].min().isoformat()} .. {m['timestamp'].max().isoformat()}; {hint}"
    )


@task(name="render-report", cache_policy=NONE)
def render_report(
    cfg: SystemConfig, plan: RcaPlan, result: RcaResult, run_id: int, ctx: RcaContext | None = None
) -> dict[str, str]:
    """Render the HTML (with plots from ``ctx``) and Markdown reports; publish markdown, table and link artifacts."""
    log = get_run_logger()
    summary = _incident_summary(cfg, plan)
    stem = f"{plan.incident_key or 'adhoc'}-run{run_id}"
    plots = []
    if ctx is not None:
        try:
            plots = report_plots(ctx, result)
        except Exception as exc:  # a broken plot must not cost the report
            log.warning("report plots failed, rendering without them: %s: %s", type(exc).__name__, exc)
    html, md = store_report(cfg.rca.reports_dir, lambda out: write_report(result, summary, out, stem, plots))
    key = (plan.incident_key or "adhoc").lower()
    create_markdown_artifact(
        markdown=markdown_summary(result, summary),
        key=f"rca-{key}",
        description=f"RCA summary of {plan.incident_key or plan.title}",
    )
    create_table_artifact(table=causes_table(result), key=f"rca-{key}-causes", description="Ranked root causes")
    url = report_url(html, cfg)
    create_link_artifact(
        link=url,
        link_text=f"Full RCA report {plan.incident_key or plan.title} (run {run_id})",
        key=f"rca-{key}-report",
        description="Self-contained HTML report with plots, evidence per phase and the timeline",
    )
    return {"html": html, "markdown": md, "url": url}


@task(name="record-rca-run", cache_policy=NONE)
def record_run(
    cfg: SystemConfig,
    plan: RcaPlan,
    run_id: int,
    result: RcaResult | None,
    report: dict[str, str] | None,
    error: str | None = None,
) -> None:
    """Store the run's results (or its failure) and append the audit events.

    After the commit, the subscribers (:mod:`rcaflows.wiring`) link similar incidents by root cause and
    update the incident's messages with the top cause and the report; a failed delivery is audited, not raised.
    """
    actor = f"rca:{flow_run.id}" if flow_run.id else "rca"
    with wiring.scope(cfg) as effects, store_for(cfg).session() as s:
        finish_rca_run(
            s,
            run_id,
            status="failed" if error else "completed",
            results=result.model_dump(mode="json") if result is not None else {"error": error},
            report_html=report["html"] if report else None,
            report_md=report["markdown"] if report else None,
            actor=actor,
        )
        if plan.incident_id is not None:
            _audit_run(s, cfg, plan.incident_id, run_id, result, report, error, actor)
    for failure in effects.failures():
        get_run_logger().error("%s of %s failed: %s", failure.subscriber, failure.event.key, failure.error)


def _audit_run(
    s: Session,
    cfg: SystemConfig,
    incident_id: int,
    run_id: int,
    result: RcaResult | None,
    report: dict[str, str] | None,
    error: str | None,
    actor: str,
) -> None:
    """Append the run's audit events to its incident: failed, or each phase, the completion and the report."""
    inc = get_incident(s, incident_id)
    if error:
        record_event(s, inc, EventKind.RCA_FAILED, actor, {"rca_run_id": run_id, "error": error})
        return
    assert result is not None
    for ph in result.phases:
        record_event(
            s,
            inc,
            EventKind.RCA_PHASE,
            actor,
            {
                "phase": str(ph.phase),
                "status": str(ph.status),
                "error": ph.error,
                "findings": len(ph.findings),
                "seconds": round(ph.seconds, 3),
            },
        )
    top = result.top
    record_event(
        s,
        inc,
        EventKind.RCA_COMPLETED,
        actor,
        {
            "rca_run_id": run_id,
            "top": top.component if top else None,
            "confidence": top.confidence if top else None,
            "hypotheses": [h.component for h in result.hypotheses[: cfg.rca.top_k]],
        },
    )
    if report:
        record_event(s, inc, EventKind.REPORT, actor, report)


def _incident_summary(cfg: SystemConfig, plan: RcaPlan) -> IncidentSummary:
    sym = plan.symptom
    if plan.incident_id is None:
        return IncidentSummary.ad_hoc(sym, cfg.system.name, plan.title)
    with store_for(cfg).session() as s:
        inc = get_incident(s, plan.incident_id)
        view = incident_dict(inc)
        timeline = [
            TimelineEntry(at=e.at, kind=str(e.kind), actor=e.actor, summary=_event_summary(e.kind, e.payload))
            for e in events(s, inc)
        ]
        numbers = impact_of(cfg, inc)  # issue 15: the report states the impact in numbers
    return IncidentSummary(
        key=view["key"],
        title=view["title"],
        type=view["type"],
        subtype=view["subtype"],
        severity=view["severity"],
        priority=view["priority"],
        team=view["team"],
        state=view["state"],
        component=view["component"],
        metric=view["metric"],
        detected_at=inc.detected_at,
        system=view["system"],
        occurrences=view["occurrences"],
        timeline=timeline,
        impact=numbers,
    )


def _event_summary(kind: Any, payload: dict[str, Any] | None) -> str:
    p = payload or {}
    if "action" in p:
        return f"{p.get('from')} → {p.get('to')} ({p['action']})"
    if "top" in p:
        return f"top cause {p['top']} (confidence {p.get('confidence') or 0:.0%})"
    keys = ", ".join(f"{k}={v}" for k, v in list(p.items())[:3] if not isinstance(v, list | dict))
    return keys or str(kind)


@flow(
    name="rca",
    flow_run_name=_run_name,
    task_runner=ThreadPoolTaskRunner(max_workers=5),  # type: ignore[arg-type]  # prefect's generic
    description="Root-cause analysis of one incident (or one metric over a window): the registered phases "
    "in parallel, a ranked synthesis, an HTML/Markdown report and a recorded run.",
)
def rca(
    incident: Annotated[str | None, Field(pattern=INCIDENT_PATTERN)] = None,
    config: str | None = None,
    component: Annotated[str | None, Field(min_length=1)] = None,
    metric: Annotated[str | None, Field(min_length=1)] = None,
    start: AwareDatetime | None = None,
    end: AwareDatetime | None = None,
) -> dict[str, Any]:
    """Investigate an incident (or a metric) and return the ranked causes and report paths.

    The Prefect UI builds the run form from these parameters (the descriptions below, the
    ``INC-0042`` pattern, UTC date-times); invalid input fails the run with the reason.

    Args:
        incident: incident to investigate, its key (INC-0042) or numeric id; leave empty for an
            ad-hoc RCA of component + metric + end.
        config: system config YAML path; empty = the config the incident was detected with (or
            ``RCAFLOWS_CONFIG``).
        component: ad-hoc RCA: component of the symptom (e.g. gateway).
        metric: ad-hoc RCA: metric of the symptom (e.g. latency_p99_ms); must be in the data.
        start: ad-hoc RCA: window start, UTC (default: end minus the configured lookback).
        end: ad-hoc RCA: window end, UTC, i.e. when the symptom was detected.
    """
    log = get_run_logger()
    started = time.monotonic()
    cfg = resolve_config(config)
    plan = plan_rca(whole(cfg), incident, component, metric, start, end)
    if incident is not None and config is None and plan.origin.get("config"):
        # Reload with the config the incident was detected with.
        cfg = resolve_config(plan.origin.get("config"))
    phases = list(enabled_phases(cfg))  # a config error (unknown phase, bad settings) fails before any work
    data = load_window(whole(cfg), plan.start, plan.end)
    ctx = investigation(cfg, plan, data)
    if plan.incident_id is None:  # an incident's symptom may be a feature or a check, not a metric series
        require_symptom_data(ctx)
    fingerprint = inputs_fingerprint(plan, cfg, data)
    params = {
        "incident": incident,
        "config": config,
        "component": component,
        "metric": metric,
        "start": plan.start.isoformat(),
        "end": plan.end.isoformat(),
        # Host, pid and process start: the reaper fails this run at once if its process dies.
        "runner": runner_info(),
    }
    run_id = open_run(whole(cfg), whole(plan), fingerprint, params)
    deadline = started + cfg.rca.runs.time_limit.total_seconds()
    try:
        # ctx is not marked whole() here: a Dask task runner ships the marker, not the value
        futures = {p: run_phase.submit(p, ctx) for p in phases}
        results = []
        for p, fut in futures.items():
            try:
                results.append(fut.result(timeout=max(deadline - time.monotonic(), 0.0)))
            except Exception as exc:  # the phase failed after its retries: keep the investigation going
                _check_deadline(cfg, deadline)
                log.warning("phase %s failed: %s", p, exc)
                results.append(PhaseResult(phase=p, status=PhaseStatus.FAILED, error=f"{type(exc).__name__}: {exc}"))
        _check_deadline(cfg, deadline)
        result = synthesize_task(whole(ctx), [whole(r) for r in results])
        _check_deadline(cfg, deadline)
        report = render_report(whole(cfg), whole(plan), whole(result), run_id, whole(ctx))
    except RcaTimeLimitError as exc:
        # Failed as the reaper fails an overrun run: audited, the incident back to triaged, re-queued per policy.
        actor = f"rca:{flow_run.id}" if flow_run.id else "rca"
        fail_run(store_for(cfg), run_id, ("time_limit", str(exc)), cfg.rca.runs.max_attempts, actor)
        raise
    except Exception as exc:
        record_run(whole(cfg), whole(plan), run_id, None, None, error=f"{type(exc).__name__}: {exc}")
        raise
    record_run(whole(cfg), whole(plan), run_id, whole(result), report)
    publish_board(cfg)
    top = result.top
    log.info(
        "%s: top cause %s (%s) confidence %.0f%%; report %s",
        plan.incident_key or plan.title,
        top.component if top else "-",
        top.kind if top else "-",
        100 * (top.confidence if top else 0),
        report["html"],
    )
    return {
        "incident": plan.incident_key,
        "rca_run_id": run_id,
        "top": top.component if top else None,
        "top_metric": top.metric if top else None,
        "confidence": top.confidence if top else None,
        "hypotheses": [h.component for h in result.hypotheses[: cfg.rca.top_k]],
        "failed_phases": [str(p.phase) for p in result.phases if p.status == PhaseStatus.FAILED],
        "report": report,
    }
