"""The hourly ``detection`` flow: load the window, detect, group, triage, persist, investigate."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NONE
from prefect.events import emit_event
from prefect.runtime import flow_run

from flows.common import hour_floor, load_window, resolve_config, store_for
from flows.rca import rca as rca_flow
from rcaflows.config import SystemConfig
from rcaflows.data import MonitoringData, Window
from rcaflows.detection import DetectionReport, group_checks, run_detection
from rcaflows.triage.service import IncidentOutcome, open_incidents
from rcaflows.vocab import CheckStatus


def _run_name() -> str:
    params = flow_run.parameters or {}
    at = params.get("at")
    stamp = at.strftime("%Y%m%d-%H%M") if isinstance(at, datetime) else datetime.now().strftime("%Y%m%d-%H%M")
    scenario = params.get("scenario")
    return f"detection/{scenario + '/' if scenario else ''}{stamp}"


@task(name="run-detectors", cache_policy=NONE)
def detect(cfg: SystemConfig, data: MonitoringData, current_start: datetime) -> DetectionReport:
    """Run every enabled detector over the window; a failing detector is reported, not fatal."""
    log = get_run_logger()
    report = run_detection(cfg, Window.split(data, current_start))
    for err in report.errors:
        log.error("detector failed: %s", err)
    counts = {s.value: sum(c.status == s for c in report.checks) for s in CheckStatus}
    log.info("%d checks: %s", len(report.checks), ", ".join(f"{k} {v}" for k, v in counts.items() if v))
    return report


@task(name="open-incidents", cache_policy=NONE)
def persist(
    cfg: SystemConfig, report: DetectionReport, detected_at: datetime, origin: dict[str, Any]
) -> list[IncidentOutcome]:
    """Group failing checks into incidents, triage them and store them (deduplicated)."""
    log = get_run_logger()
    candidates = group_checks(report.checks, cfg)
    outcomes = open_incidents(store_for(cfg), cfg, candidates, detected_at, origin=origin)
    for o in outcomes:
        verb = "opened" if o.created else f"updated (seen {o.occurrences}x)"
        log.info("%s %s: %s [%s/%s → %s]", verb, o.key, o.title, o.severity, o.priority, o.team)
    rows = [
        {
            "incident": o.key,
            "action": "opened" if o.created else "updated",
            "type": o.type,
            "component": o.component,
            "severity": o.severity,
            "priority": o.priority,
            "team": o.team,
            "title": o.title,
        }
        for o in outcomes
    ]
    failed = [
        {
            "detector": c.detector,
            "component": c.component,
            "metric": c.metric or "",
            "status": str(c.status),
            "score": round(c.score, 3),
            "message": c.message,
        }
        for c in report.checks
        if c.status != CheckStatus.OK
    ]
    create_table_artifact(
        table=rows or [{"incident": "-", "action": "none"}],
        key="detection-incidents",
        description=f"Incidents opened or updated by the detection run at {detected_at.isoformat()}",
    )
    if failed:
        create_table_artifact(table=failed, key="detection-findings", description="Checks that did not pass")
    return outcomes


def _emit(cfg: SystemConfig, o: IncidentOutcome) -> None:
    emit_event(
        event="rcaflows.incident.detected",
        resource={
            "prefect.resource.id": f"rcaflows.incident.{o.key}",
            "rcaflows.incident.id": o.key,
            "rcaflows.incident.type": o.type,
            "rcaflows.incident.severity": o.severity,
            "rcaflows.system": cfg.system.name,
        },
        payload={"title": o.title, "component": o.component, "team": o.team},
    )


@flow(
    name="detection",
    flow_run_name=_run_name,
    description="Hourly detection over one monitored AI system: detectors, dedup, triage, and RCA per new incident.",
)
def detection(
    config: str | None = None,
    at: datetime | None = None,
    scenario: str | None = None,
    run_rca: bool = True,
) -> dict[str, Any]:
    """Detect incidents in the window ending at ``at`` and investigate each new one.

    Args:
        config: system config path (the bundled demo system when empty).
        at: end of the detection window (default: now, floored to the hour), UTC.
        scenario: demo scenario to run (bundled demo config only).
        run_rca: run the RCA of each new incident (as configured in ``rca.mode``).
    """
    log = get_run_logger()
    cfg = resolve_config(config, scenario)
    end = hour_floor(at)
    current_start = end - cfg.window.current
    data = load_window(cfg, current_start - cfg.window.baseline, end)
    report = detect(cfg, data, current_start)
    outcomes = persist(cfg, report, end, {"config": config, "scenario": scenario})
    new = [o for o in outcomes if o.created]
    investigations: list[dict[str, Any]] = []
    for o in new:
        _emit(cfg, o)
        if not run_rca or cfg.rca.mode != "subflow":
            continue
        state = rca_flow(incident=o.key, config=config, scenario=scenario, return_state=True)
        if state.is_completed():
            investigations.append(state.result())
        else:
            log.error("RCA of %s did not complete: %s", o.key, state.message)
            investigations.append({"incident": o.key, "error": state.message})
    return {
        "system": cfg.system.name,
        "window": [current_start.isoformat(), end.isoformat()],
        "checks": len(report.checks),
        "failed_checks": sum(c.status == CheckStatus.FAIL for c in report.checks),
        "detector_errors": report.errors,
        "missing_sources": list(data.missing_sources),
        "incidents": [o.model_dump() for o in outcomes],
        "investigations": investigations,
    }
