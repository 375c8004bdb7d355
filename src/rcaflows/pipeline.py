"""The engine pipeline, assembled once: load a window, scan it, open incidents; investigate one.

The hourly ``detection`` flow wraps each step as a Prefect task (retries, audit, artifacts), the
backtest calls :func:`detect_and_open` per replayed hour with a scratch store, and the RCA flow
wraps :func:`investigation` and the phases. Nothing here knows about Prefect or the demo::

    load_window ─► scan ─► open_incidents          (= detect_and_open)
    plan ─► load_window ─► investigation ─► investigate
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rcaflows.config.models import SystemConfig
from rcaflows.data import MonitoringData, Window
from rcaflows.detection.engine import (
    DetectionReport,
    group_checks,
    merge_reports,
    metric_detectors,
    run_detection,
    shard_scan,
    whole_frame_detectors,
)
from rcaflows.errors import EmptyWindowError
from rcaflows.incidents import Store
from rcaflows.rca.base import Phase, run_rca
from rcaflows.rca.context import RcaContext
from rcaflows.rca.models import PhaseName, RcaResult
from rcaflows.rca.service import RcaPlan
from rcaflows.sources import load_sources
from rcaflows.triage.service import DetectionOutcome, handle_candidates

__all__ = [
    "DetectionRun",
    "current_start",
    "detect_and_open",
    "investigate",
    "investigation",
    "load_window",
    "open_incidents",
    "scan",
]


@dataclass(frozen=True)
class DetectionRun:
    """What one detection run read, found and did."""

    data: MonitoringData
    report: DetectionReport
    outcome: DetectionOutcome


def current_start(config: SystemConfig, at: datetime) -> datetime:
    """Return the start of the current window of a run whose window ends at ``at``."""
    return at - config.window.current


def load_window(config: SystemConfig, start: datetime, end: datetime) -> MonitoringData:
    """Read every configured source for ``[start, end)``.

    Raises:
        EmptyWindowError: When no source returned any data, naming the window and the sources.
    """
    data = load_sources(config, start, end)
    if data.is_empty():
        raise EmptyWindowError(
            f"window {start.isoformat()} .. {end.isoformat()}: no data from sources "
            f"{', '.join(s.name for s in config.sources)}"
        )
    return data


def scan(config: SystemConfig, data: MonitoringData, start: datetime) -> DetectionReport:
    """Run every enabled detector over ``data`` split at ``start``, in ``execution.shards`` parts when asked.

    The sharded scan runs the metric detectors per shard of components and the whole-frame ones
    once, then applies the FDR control once over the merge: the same checks as one pass.
    ``flows.scaleout`` runs the same parts as Prefect tasks on threads or Dask instead.
    """
    window = Window.split(data, start)
    shards = config.execution.shards
    if shards <= 1:
        return run_detection(config, window)
    parts = [run_detection(c, w, metric_detectors(), control_fdr=False) for c, w in shard_scan(config, window, shards)]
    parts.append(run_detection(config, window, whole_frame_detectors(), control_fdr=False))
    return merge_reports(config, window, parts)


def open_incidents(
    store: Store,
    config: SystemConfig,
    report: DetectionReport,
    at: datetime,
    *,
    actor: str = "detection",
    origin: dict[str, Any] | None = None,
) -> DetectionOutcome:
    """Group the report's failing checks into candidates; silence, inhibit, deduplicate, triage and store them."""
    return handle_candidates(store, config, group_checks(report.checks, config), at, actor=actor, origin=origin)


def detect_and_open(
    store: Store,
    config: SystemConfig,
    at: datetime,
    *,
    actor: str = "detection",
    origin: dict[str, Any] | None = None,
) -> DetectionRun:
    """Run the whole detection for the window ending at ``at``: load, scan, open incidents in ``store``."""
    start = current_start(config, at)
    data = load_window(config, start - config.window.baseline, at)
    report = scan(config, data, start)
    outcome = open_incidents(store, config, report, at, actor=actor, origin=origin)
    return DetectionRun(data=data, report=report, outcome=outcome)


def investigation(config: SystemConfig, plan: RcaPlan, data: MonitoringData) -> RcaContext:
    """Return the context the RCA phases read: the plan's symptom over ``data``, with the detection's checks."""
    return RcaContext.build(config, data, plan.symptom, checks=plan.checks)


def investigate(ctx: RcaContext, phases: Iterable[Phase | PhaseName | str] | None = None) -> RcaResult:
    """Run the RCA phases (all by default) one after another and rank the hypotheses; a failing phase is recorded."""
    return run_rca(ctx, phases)
