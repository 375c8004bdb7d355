"""The ``rca`` flow: five phases in parallel, synthesis, report, and a recorded run.

Run for a stored incident (``incident="INC-0042"``) or ad hoc for one metric over a window
(``component``, ``metric``, ``end`` and optionally ``start``).
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NONE
from prefect.runtime import flow_run
from prefect.task_runners import ThreadPoolTaskRunner

from flows.common import load_window, resolve_config, store_for
from rcaflows.config import SystemConfig
from rcaflows.errors import RcaflowsError, TransitionError
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
from rcaflows.rca import PHASES, RcaContext, synthesize
from rcaflows.rca.models import PhaseName, PhaseResult, PhaseStatus, RcaResult
from rcaflows.rca.service import RcaPlan, inputs_fingerprint, plan_for_incident, plan_for_metric
from rcaflows.reporting import IncidentSummary, TimelineEntry, causes_table, markdown_summary, write_report


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
    """Run one RCA phase; an exception fails the task (and is retried once)."""
    started = time.perf_counter()
    result = PHASES[PhaseName(name)].run(ctx)
    return result.model_copy(update={"seconds": time.perf_counter() - started})


@task(name="synthesize", cache_policy=NONE)
def synthesize_task(ctx: RcaContext, results: list[PhaseResult]) -> RcaResult:
    """Rank root-cause hypotheses from whatever the phases found."""
    return synthesize(ctx, results)


@task(name="render-report", cache_policy=NONE)
def render_report(cfg: SystemConfig, plan: RcaPlan, result: RcaResult, run_id: int) -> dict[str, str]:
    """Render the HTML and Markdown reports and publish Markdown and table artifacts."""
    summary = _incident_summary(cfg, plan)
    stem = f"{plan.incident_key or 'adhoc'}-run{run_id}"
    paths = write_report(result, summary, Path(cfg.rca.reports_dir), stem)
    key = (plan.incident_key or "adhoc").lower()
    create_markdown_artifact(
        markdown=markdown_summary(result, summary),
        key=f"rca-{key}",
        description=f"RCA summary of {plan.incident_key or plan.title}",
    )
    create_table_artifact(table=causes_table(result), key=f"rca-{key}-causes", description="Ranked root causes")
    return {"html": str(paths.html), "markdown": str(paths.markdown)}


@task(name="record-rca-run", cache_policy=NONE)
def record_run(
    cfg: SystemConfig,
    plan: RcaPlan,
    run_id: int,
    result: RcaResult | None,
    report: dict[str, str] | None,
    error: str | None = None,
) -> None:
    """Store the run's results (or its failure) and append the audit events."""
    actor = f"rca:{flow_run.id}" if flow_run.id else "rca"
    with store_for(cfg).session() as s:
        finish_rca_run(
            s,
            run_id,
            status="failed" if error else "completed",
            results=result.model_dump(mode="json") if result is not None else {"error": error},
            report_html=report["html"] if report else None,
            report_md=report["markdown"] if report else None,
        )
        if plan.incident_id is None:
            return
        inc = get_incident(s, plan.incident_id)
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
    description="Root-cause analysis of one incident (or one metric over a window): five phases in "
    "parallel, a ranked synthesis, an HTML/Markdown report and a recorded run.",
)
def rca(
    incident: str | None = None,
    config: str | None = None,
    scenario: str | None = None,
    component: str | None = None,
    metric: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> dict[str, Any]:
    """Investigate an incident (or a metric) and return the ranked causes and report paths.

    Args:
        incident: incident key or id, e.g. ``INC-0042``.
        config: system config path; defaults to the one the incident was detected with.
        scenario: demo scenario (bundled demo config only).
        component: ad-hoc RCA: the symptom's component.
        metric: ad-hoc RCA: the symptom's metric.
        start: ad-hoc RCA: window start (default: ``end`` minus the configured lookback).
        end: ad-hoc RCA: window end (the detection time).
    """
    log = get_run_logger()
    cfg = resolve_config(config, scenario)
    plan = plan_rca(cfg, incident, component, metric, start, end)
    if incident is not None and config is None and scenario is None and plan.origin:
        # Reload with the config and scenario the incident was detected with.
        cfg = resolve_config(plan.origin.get("config"), plan.origin.get("scenario"))
    data = load_window(cfg, plan.start, plan.end)
    fingerprint = inputs_fingerprint(plan, cfg, data)
    params = {
        "incident": incident,
        "config": config,
        "scenario": scenario,
        "component": component,
        "metric": metric,
        "start": plan.start.isoformat(),
        "end": plan.end.isoformat(),
    }
    run_id = open_run(cfg, plan, fingerprint, params)
    try:
        ctx = RcaContext.build(cfg, data, plan.symptom, checks=plan.checks)
        futures = {p: run_phase.submit(p.value, ctx) for p in PHASES}
        results = []
        for p, fut in futures.items():
            try:
                results.append(fut.result())
            except Exception as exc:  # the phase failed after its retries: keep the investigation going
                log.warning("phase %s failed: %s", p.value, exc)
                results.append(PhaseResult(phase=p, status=PhaseStatus.FAILED, error=f"{type(exc).__name__}: {exc}"))
        result = synthesize_task(ctx, results)
        report = render_report(cfg, plan, result, run_id)
    except Exception as exc:
        record_run(cfg, plan, run_id, None, None, error=f"{type(exc).__name__}: {exc}")
        raise
    record_run(cfg, plan, run_id, result, report)
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
