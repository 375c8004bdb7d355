"""The engine pipeline, assembled once: load a window, scan it, open incidents; investigate one.

The hourly ``detection`` flow wraps each step as a Prefect task (retries, audit, artifacts), the
backtest calls :func:`detect_and_open` per replayed hour with a scratch store, and the RCA flow
wraps :func:`investigation` and the phases. Nothing here knows about Prefect or the demo::

    reap ─► load_window ─► scan ─► open_incidents          (= detect_and_open)
    plan ─► load_window ─► investigation ─► investigate

Data availability is part of every step: ``load_window`` records which source fed which
components and which sources could not be read, ``scan`` adds the silence checks of
:mod:`rcaflows.detection.detectors.availability` (the detector of scope ``"data"``), and
``open_incidents`` resolves the availability
incidents whose data came back. ``reap`` (:mod:`rcaflows.incidents.reaper`) fails the RCA runs
that died or overran before a run starts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from rcaflows.config.models import SystemConfig
from rcaflows.data import MonitoringData, Window
from rcaflows.detection.detectors import availability
from rcaflows.detection.engine import (
    DetectionReport,
    data_detectors,
    group_checks,
    merge_reports,
    metric_detectors,
    run_detection,
    shard_scan,
    whole_frame_detectors,
)
from rcaflows.detection.tuning import apply_check_tuning
from rcaflows.errors import DataError, EmptyWindowError, TransitionError
from rcaflows.incidents import Incident, Resolution, Store, resolve
from rcaflows.incidents.reaper import ReapResult, reap
from rcaflows.model.log import rows_of
from rcaflows.rca.base import Phase, run_rca
from rcaflows.rca.context import RcaContext
from rcaflows.rca.models import PhaseName, RcaResult
from rcaflows.rca.service import RcaPlan
from rcaflows.sources import merge, read_source
from rcaflows.timeutil import utc
from rcaflows.triage.service import DetectionOutcome, handle_candidates
from rcaflows.vocab import OPEN_STATES, CheckStatus, IncidentType

__all__ = [
    "DetectionRun",
    "current_start",
    "detect_and_open",
    "investigate",
    "investigation",
    "load_window",
    "open_incidents",
    "read_sources",
    "resolve_returned",
    "scan",
    "with_availability",
]


@dataclass(frozen=True)
class DetectionRun:
    """What one detection run read, found and did."""

    data: MonitoringData
    report: DetectionReport
    outcome: DetectionOutcome
    reaped: ReapResult | None = None


def current_start(config: SystemConfig, at: datetime) -> datetime:
    """Return the start of the current window of a run whose window ends at ``at``."""
    return at - config.window.current


def read_sources(config: SystemConfig, start: datetime, end: datetime) -> tuple[MonitoringData, list[DataError]]:
    """Read and merge every configured source; a source that fails is recorded, not raised.

    The data names, per source read, the components it fed (``source_components``) and, per
    source that raised a :class:`DataError` after its connector's retries, the error
    (``source_errors``, also in ``missing_sources``). Returns the data and the errors raised.
    """
    parts: list[MonitoringData] = []
    errors: list[DataError] = []
    failed: dict[str, str] = {}
    fed: dict[str, tuple[str, ...]] = {}
    for spec in config.sources:
        try:
            part = read_source(spec, config, start, end)
        except DataError as exc:
            failed[spec.name] = str(exc)
            errors.append(exc)
            continue
        parts.append(part)
        comps = set(part.metrics["component"].astype(str).unique()) if not part.metrics.empty else set()
        if not part.predictions.empty:
            comps.update(m.component for m in config.models if not rows_of(part.predictions, m).empty)
        fed[spec.name] = tuple(sorted(comps))
    data = merge(parts, start, end, list(failed))
    return replace(data, source_components=fed, source_errors=failed), errors


def load_window(config: SystemConfig, start: datetime, end: datetime, *, unreadable_ok: bool = False) -> MonitoringData:
    """Read every configured source for ``[start, end)``.

    Args:
        config: the monitored system.
        start: window start (aware UTC).
        end: window end.
        unreadable_ok: when every source fails to read, return the empty data naming them
            (detection opens an ``unreadable`` incident per failed source) instead of raising.

    Raises:
        DataError: When every source failed to read and ``unreadable_ok`` is false (the first error).
        EmptyWindowError: When the sources were read but returned no data, naming the window and the sources.
    """
    data, errors = read_sources(config, start, end)
    if data.is_empty() and errors:
        if unreadable_ok:
            return data
        if len(errors) == len(config.sources):
            raise errors[0]
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
        return with_availability(config, data, start, run_detection(config, window))
    parts = [run_detection(c, w, metric_detectors(), control_fdr=False) for c, w in shard_scan(config, window, shards)]
    parts.append(run_detection(config, window, whole_frame_detectors(), control_fdr=False))
    return with_availability(config, data, start, merge_reports(config, window, parts))


def with_availability(
    config: SystemConfig, data: MonitoringData, start: datetime, report: DetectionReport
) -> DetectionReport:
    """Add the checks of the detectors of scope ``"data"`` (data availability) to ``report`` and return it.

    They run after the report's FDR control, once over the whole window: their checks carry no
    p-value, so the FDR family would not hold them anyway, and a sharded or Dask scan adds them
    once over the whole data, like the in-process one.
    """
    post = run_detection(config, Window.split(data, start), data_detectors(), control_fdr=False)
    report.checks.extend(post.checks)
    report.errors.extend(post.errors)
    report.seconds.update(post.seconds)
    return report


def open_incidents(
    store: Store,
    config: SystemConfig,
    report: DetectionReport,
    at: datetime,
    *,
    actor: str = "detection",
    origin: dict[str, Any] | None = None,
) -> DetectionOutcome:
    """Group the report's failing checks into candidates; silence, inhibit, deduplicate, triage and store them.

    Then resolve the open data-availability incidents whose component or source reports again
    (:func:`resolve_returned`), unless ``detectors.availability.resolve_on_return`` is off.
    """
    # learning.checks (rcaflows tune) holds back the checks the incident history showed to be noise
    report.checks, _ = apply_check_tuning(report.checks, config.learning.checks)
    outcome = handle_candidates(store, config, group_checks(report.checks, config), at, actor=actor, origin=origin)
    if config.detectors.availability.resolve_on_return:
        still = {o.fingerprint for o in outcome.incidents}
        outcome.resolved = resolve_returned(store, config, report, at, actor=actor, keep=still)
    return outcome


def resolve_returned(
    store: Store,
    config: SystemConfig,
    report: DetectionReport,
    at: datetime,
    *,
    actor: str = "detection",
    keep: set[str] | frozenset[str] = frozenset(),
) -> list[str]:
    """Resolve the system's open availability incidents whose component or source has an ``ok`` check now.

    An incident is one of ``missing`` or ``unreadable`` on a component or ``source:<name>``; it is
    resolved (reason ``fixed``, at ``at``) when this run's availability check of the same component
    or source and subtype passed (every watched series reports again; the source was read), and
    no incident of this run has its fingerprint (``keep``). Returns the keys resolved.
    """
    back = {
        (c.component, c.subtype): c.message
        for c in report.checks
        if c.detector == availability.DETECTOR and c.status == CheckStatus.OK
    }
    if not back:
        return []
    stmt = sa.select(Incident.id).where(
        Incident.system == config.system.name,
        Incident.type == IncidentType.INTEGRATION_DEPENDENCY,
        Incident.subtype.in_((availability.MISSING, availability.UNREADABLE)),
        Incident.component.in_(sorted({comp for comp, _ in back})),
        Incident.state.in_(sorted(OPEN_STATES)),
    )
    with store.session(readonly=True) as s:
        ids = list(s.scalars(stmt.order_by(Incident.id)))
    resolved = []
    for incident_id in ids:
        with store.session() as s:
            inc = s.get(Incident, incident_id)
            passed = back.get((inc.component, inc.subtype)) if inc is not None else None
            if inc is None or passed is None or not inc.is_open or inc.fingerprint in keep:
                continue
            comment = f"data returned: {passed}"
            try:
                inc = resolve(s, inc, actor, reason=Resolution.FIXED, comment=comment, at=at)
            except TransitionError:
                # Someone acted on it after this run's window ended: resolve it now, keeping the log ordered.
                inc = resolve(s, inc, actor, reason=Resolution.FIXED, comment=comment)
            resolved.append(inc.key)
    return resolved


#: Resolutions that say the data was abnormal while the incident lasted (not a false alarm, not a new normal).
ABNORMAL_RESOLUTIONS = frozenset({Resolution.FIXED.value, Resolution.MITIGATED.value})


def fixed_fault_spans(
    store: Store, config: SystemConfig, since: datetime, until: datetime
) -> list[tuple[datetime, datetime]]:
    """Return ``[onset, resolved)`` of this system's incidents resolved as fixed or mitigated that overlap the span.

    The onset is the one detection stored (else the detection time less one current window).
    """
    stmt = sa.select(Incident).where(
        Incident.system == config.system.name,
        Incident.resolved_at.is_not(None),
        Incident.resolved_at > since,
        Incident.detected_at < until + config.window.current,
    )
    spans = []
    with store.session(readonly=True) as s:
        for inc in s.scalars(stmt):
            details = inc.details or {}
            if (details.get("resolution") or {}).get("reason") not in ABNORMAL_RESOLUTIONS or inc.resolved_at is None:
                continue
            onset = details.get("onset")
            t0 = utc(datetime.fromisoformat(onset)) if onset else utc(inc.detected_at) - config.window.current
            spans.append((t0, utc(inc.resolved_at)))
    return spans


def forget_fixed_faults(
    store: Store, config: SystemConfig, data: MonitoringData, current_start: datetime
) -> MonitoringData:
    """Return ``data`` with the reference rows of fixed faults dropped (the current window is kept whole).

    A baseline of the last day that still holds yesterday's fixed fault makes today's normal look
    like a change (a null share that fell back, confidence rising back after an attack) for a
    day: once an operator resolved the incident as fixed, its span leaves every reference.
    """
    spans = fixed_fault_spans(store, config, data.start, current_start)
    return data.without([(t0, min(t1, current_start)) for t0, t1 in spans if t0 < current_start])


def detect_and_open(
    store: Store,
    config: SystemConfig,
    at: datetime,
    *,
    actor: str = "detection",
    origin: dict[str, Any] | None = None,
) -> DetectionRun:
    """Run the whole detection for the window ending at ``at``: reap dead RCA runs, load, scan, open incidents."""
    reaped = reap(store, config, actor=actor)
    start = current_start(config, at)
    data = load_window(config, start - config.window.baseline, at, unreadable_ok=True)
    data = forget_fixed_faults(store, config, data, start)
    report = scan(config, data, start)
    outcome = open_incidents(store, config, report, at, actor=actor, origin=origin)
    return DetectionRun(data=data, report=report, outcome=outcome, reaped=reaped)


def investigation(config: SystemConfig, plan: RcaPlan, data: MonitoringData) -> RcaContext:
    """Return the context the RCA phases read: the plan's symptom over ``data``, with the detection's checks."""
    return RcaContext.build(config, data, plan.symptom, checks=plan.checks)


def investigate(ctx: RcaContext, phases: Iterable[Phase | PhaseName | str] | None = None) -> RcaResult:
    """Run the RCA phases (all by default) one after another and rank the hypotheses; a failing phase is recorded."""
    return run_rca(ctx, phases)
