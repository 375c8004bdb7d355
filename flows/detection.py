"""The hourly ``detection`` flow: the steps of :mod:`rcaflows.pipeline` as tasks, then investigate.

Each incident opened or seen again is posted (or its messages updated) by the notification
subscriber right after its own transaction commits (:mod:`rcaflows.wiring`); the flow does not
call the notifier itself.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NONE
from prefect.events import emit_event
from prefect.runtime import flow_run

from flows import reap, scaleout
from flows.common import config_ref, hour_floor, load_window, publish_board, resolve_config, store_for, whole
from flows.rca import rca as rca_flow
from rcaflows import pipeline, wiring
from rcaflows.config import SystemConfig
from rcaflows.data import MonitoringData
from rcaflows.detection import DetectionReport
from rcaflows.triage.service import DetectionOutcome, IncidentOutcome
from rcaflows.vocab import CheckStatus


def _run_name() -> str:
    params = flow_run.parameters or {}
    at = params.get("at")
    stamp = at.strftime("%Y%m%d-%H%M") if isinstance(at, datetime) else datetime.now().strftime("%Y%m%d-%H%M")
    config = params.get("config")
    return f"detection/{Path(config).stem + '/' if config else ''}{stamp}"


@task(name="run-detectors", cache_policy=NONE)
def detect(cfg: SystemConfig, data: MonitoringData, current_start: datetime) -> DetectionReport:
    """Run every enabled detector over the window; a failing detector is reported, not fatal."""
    log = get_run_logger()
    report = pipeline.scan(cfg, data, current_start)
    for err in report.errors:
        log.error("detector failed: %s", err)
    counts = {s.value: sum(c.status == s for c in report.checks) for s in CheckStatus}
    log.info("%d checks: %s", len(report.checks), ", ".join(f"{k} {v}" for k, v in counts.items() if v))
    return report


@task(name="open-incidents", cache_policy=NONE)
def persist(
    cfg: SystemConfig, report: DetectionReport, detected_at: datetime, origin: dict[str, Any]
) -> DetectionOutcome:
    """Group failing checks into incidents, apply silences/inhibition/pending, triage and store them.

    After each incident's commit the subscribers post it to its channels (or update a duplicate's
    messages where the severity changed); a failed delivery is recorded and audited, never raised.
    """
    log = get_run_logger()
    with wiring.scope(cfg) as effects:
        result = pipeline.open_incidents(store_for(cfg), cfg, report, detected_at, origin=origin)
    for failure in effects.failures():
        log.error("%s of %s failed: %s", failure.subscriber, failure.event.key, failure.error)
    for results in effects.results("notify"):
        for r in results:
            if not r.ok:
                log.warning("notification of %s on %s failed: %s", r.incident, r.channel, r.error)
    outcomes = result.incidents
    for o in outcomes:
        verb = "opened" if o.created else f"updated (seen {o.occurrences}x)"
        log.info("%s %s: %s [%s/%s → %s]", verb, o.key, o.title, o.severity, o.priority, o.team)
    for c in result.suppressed:
        log.info("held back (%s) %s: %s — %s", c.reason, c.type, c.title, c.detail)
    if result.idle_silences:
        log.warning("active silences that matched nothing yet: %s", ", ".join(map(str, result.idle_silences)))
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
    ] + [
        {
            "incident": c.by or "-",
            "action": c.reason,
            "type": c.type,
            "component": c.component,
            "severity": "",
            "priority": "",
            "team": "",
            "title": c.title,
        }
        for c in result.suppressed
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
        description=f"Incidents opened, updated or held back (silence, inhibition, pending) by the detection run "
        f"at {detected_at.isoformat()}",
    )
    if failed:
        create_table_artifact(table=failed, key="detection-findings", description="Checks that did not pass")
    return result


def _emit(cfg: SystemConfig, o: IncidentOutcome, rca_mode: str, origin: dict[str, Any]) -> None:
    """Emit ``rcaflows.incident.detected``; the rca deployment's trigger fires only when ``rca_mode`` is 'event'.

    ``rca_mode`` goes in the resource label ``rcaflows.rca.mode`` so that the event is always
    recorded (the UI's event feed) but starts an RCA run only in event mode, never beside the subflow.
    """
    emit_event(
        event="rcaflows.incident.detected",
        resource={
            "prefect.resource.id": f"rcaflows.incident.{o.key}",
            "rcaflows.incident.id": o.key,
            "rcaflows.incident.type": str(o.type),
            "rcaflows.incident.severity": str(o.severity),
            "rcaflows.system": cfg.system.name,
            "rcaflows.rca.mode": rca_mode,
        },
        payload={
            "title": o.title,
            "component": o.component,
            "team": o.team,
            "config": origin.get("config"),
        },
    )


@flow(
    name="detection",
    flow_run_name=_run_name,
    description="Hourly detection over one monitored AI system: detectors, dedup, triage, and RCA per new incident.",
)
def detection(
    config: str | None = None,
    at: datetime | None = None,
    run_rca: bool = True,
) -> dict[str, Any]:
    """Detect incidents in the window ending at ``at`` and investigate each new one.

    Args:
        config: system config YAML path (default: ``$RCAFLOWS_CONFIG``; there is no built-in system).
        at: end of the detection window (default: now, floored to the hour), UTC.
        run_rca: run the RCA of each new incident (as configured in ``rca.mode``).
    """
    log = get_run_logger()
    cfg = resolve_config(config)
    # Each incident records the absolute config path, so its RCA reloads the same system from anywhere.
    origin = {"config": config_ref(config)}
    end = hour_floor(at)
    current_start = pipeline.current_start(cfg, end)
    reaped = reap.reap_runs(whole(cfg))  # RCA runs that died or overran: failed, audited, re-queued
    # A source that cannot be read opens an 'unreadable' incident instead of failing the run.
    data: MonitoringData = load_window(whole(cfg), current_start - cfg.window.baseline, end, unreadable_ok=True)
    # yesterday's fixed faults leave the reference, so today's normal does not look like a change
    data = pipeline.forget_fixed_faults(store_for(cfg), cfg, data, current_start)
    report: DetectionReport = (
        scaleout.scan(cfg, data, current_start)
        if scaleout.wants_scale_out(cfg)
        else detect(whole(cfg), whole(data), current_start)
    )
    handled: DetectionOutcome = persist(whole(cfg), whole(report), end, origin)
    outcomes = handled.incidents
    # A run killed after storing an incident but before its RCA left it uninvestigated: start that RCA now.
    missed = set(reap.uninvestigated(cfg, [o.key for o in outcomes if not o.created]))
    new = [o for o in outcomes if o.created or o.key in missed]
    investigations: list[dict[str, Any]] = []
    for o in new:
        mode = cfg.rca.mode if run_rca else "off"
        _emit(cfg, o, mode, origin)
        if mode != "subflow":
            continue
        state = rca_flow(incident=o.key, config=origin["config"], return_state=True)
        if state.is_completed():
            investigations.append(state.result())
        else:
            log.error("RCA of %s did not complete: %s", o.key, state.message)
            investigations.append({"incident": o.key, "error": state.message})
    if run_rca and reaped.queued:
        investigations += reap.requeue(cfg, reaped.queued, cfg.rca.mode, origin["config"])
    publish_board(cfg, end)
    return {
        "system": cfg.system.name,
        "window": [current_start.isoformat(), end.isoformat()],
        "checks": len(report.checks),
        "failed_checks": sum(c.status == CheckStatus.FAIL for c in report.checks),
        "detector_errors": report.errors,
        "missing_sources": list(data.missing_sources),
        "incidents": [o.model_dump() for o in outcomes],
        "suppressed": [c.model_dump() for c in handled.suppressed],
        "suppression_counts": handled.counts,
        "idle_silences": handled.idle_silences,
        "resolved": handled.resolved,
        "reaped_rca_runs": [r.run_id for r in reaped.reaped],
        "requeued_rca": reaped.queued,
        "fdr": {"tested": report.fdr_tested, "demoted": report.fdr_demoted},
        "investigations": investigations,
    }
