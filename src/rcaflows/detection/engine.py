"""The detection engine: run every registered detector, then group failed checks into one candidate per fault."""

from __future__ import annotations

import math
import time
import zlib
from collections.abc import Mapping
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from rcaflows.config.models import SystemConfig
from rcaflows.data import MonitoringData, Window
from rcaflows.detection import detectors as _detectors  # noqa: F401  (registers the six detectors)
from rcaflows.detection.base import DATA, DETECTORS, FRAMES, METRICS, Detector, detector_scope, detector_settings
from rcaflows.detection.models import CheckResult
from rcaflows.detection.policy import apply_fdr
from rcaflows.graph import SystemGraph, is_client, system_graph
from rcaflows.vocab import CheckStatus, IncidentType

#: Readable name of a failure per subtype, used in candidate titles.
TITLES: dict[str, str] = {
    "latency": "Latency regression",
    "error_rate": "Error-rate increase",
    "throughput": "Throughput drop",
    "cpu": "CPU saturation",
    "memory": "Memory pressure",
    "slo_burn": "Error-budget burn",
    "timeout_rate": "Timeouts",
    "freshness": "Stale data",
    "null_rate": "Null-rate increase",
    "row_count": "Row-count change",
    "out_of_range": "Out-of-range values",
    "type_mismatch": "Type mismatch",
    "unexpected_values": "Unexpected values",
    "schema": "Schema change",
    "drift": "Distribution drift",
    "accuracy_drop": "Accuracy drop",
    "precision_drop": "Precision drop",
    "recall_drop": "Recall drop",
    "fpr_gap": "False-positive-rate gap between groups",
    "tpr_gap": "True-positive-rate gap between groups",
    "positive_rate_gap": "Positive-rate gap between groups",
    "accuracy_gap": "Accuracy gap between groups",
    "ood_inputs": "Out-of-distribution inputs",
    "client_flood": "Query flood",
    "confidence_shift": "Prediction-confidence shift",
    "traffic_surge": "Traffic surge",
}


class DetectionReport(BaseModel):
    """Everything one detection run produced."""

    window_start: datetime | None = Field(None, description="Start of the current window.")
    window_end: datetime | None = Field(None, description="End of the current window.")
    checks: list[CheckResult] = Field(default_factory=list, description="Every check of every detector.")
    errors: list[str] = Field(default_factory=list, description="Detectors that raised, with the error.")
    seconds: dict[str, float] = Field(default_factory=dict, description="Wall time per detector.")
    fdr_tested: int = Field(0, description="Checks in the run's Benjamini-Hochberg family.")
    fdr_demoted: int = Field(0, description="Failing checks held back to 'warn' by the FDR control.")

    @property
    def failed(self) -> list[CheckResult]:
        """Return the failing checks."""
        return [c for c in self.checks if c.status == CheckStatus.FAIL]

    def counts(self) -> dict[str, int]:
        """Return the number of checks per status."""
        out = {str(s): 0 for s in CheckStatus}
        for c in self.checks:
            out[str(c.status)] += 1
        return out


class IncidentCandidate(BaseModel):
    """Failing checks of one fault: a primary type on the root-ward component, plus its related signals.

    The primary type, subtype and metric come from the top check on the group's most upstream
    component; member checks of other incident types on connected components that started close
    in time are the candidate's related signals (:attr:`related`), so one fault opens one incident.
    """

    model_config = ConfigDict(frozen=True)

    incident_type: IncidentType = Field(description="Primary incident type: that of the top check on the component.")
    subtype: str = Field(description="Subtype of the top check on the candidate's component.")
    component: str = Field(description="Most upstream failing component of the group.")
    metric: str | None = Field(None, description="Metric of the top check on that component.")
    title: str = Field(description="One readable line.")
    score: float = Field(ge=0, le=1, description="Highest member score.")
    onset: datetime | None = Field(None, description="Earliest member onset.")
    checks: list[CheckResult] = Field(description="The failing member checks, of every type.")
    components: list[str] = Field(description="Every component with a failing member, most upstream first.")
    fingerprint: str = Field(description="Stable dedup key: system, primary type, component and subtype.")
    types: list[IncidentType] = Field(
        default_factory=list,
        description="Every incident type among the members, primary first, then by earliest onset "
        "(empty means the primary type only).",
    )

    @property
    def related(self) -> list[CheckResult]:
        """Return the member checks of another incident type than the primary one."""
        return [c for c in self.checks if c.incident_type != self.incident_type]


def run_detection(
    config: SystemConfig,
    window: Window,
    detectors: Mapping[str, Detector] | None = None,
    *,
    control_fdr: bool = True,
) -> DetectionReport:
    """Run every enabled detector over ``window``; a detector that raises is named in ``errors``.

    Args:
        config: the monitored system.
        window: reference and current data.
        detectors: detectors to run, keyed by name; default :func:`scan_detectors` (every registered
            one but those of scope ``"data"``, which the pipeline runs after the FDR control).
        control_fdr: apply the run's FDR control; off for one part of a sharded scan, whose
            merge (:func:`merge_reports`) controls it once over the whole family.

    Raises:
        ConfigError: when a detector's ``config.detectors.extra`` settings are invalid (a config
            mistake stops the run; a detector that raises while running does not).
    """
    report = DetectionReport(window_start=window.current.start, window_end=window.current.end)
    for det in (detectors if detectors is not None else scan_detectors()).values():
        try:
            settings = detector_settings(config, det)
        except AttributeError:  # a type without a built-in block and no settings_model: always on
            settings = None
        if settings is not None and not getattr(settings, "enabled", True):
            continue
        t0 = time.perf_counter()
        try:
            report.checks.extend(det.run(window, config))
        except Exception as exc:  # one broken detector must not stop the others
            report.errors.append(f"{det.name} ({det.incident_type}): {type(exc).__name__}: {exc}")
        report.seconds[det.name] = round(time.perf_counter() - t0, 4)
    if not control_fdr:
        return report
    fdr = apply_fdr(report.checks, config.detectors.fdr_alpha)
    report.checks, report.fdr_tested, report.fdr_demoted = fdr.checks, fdr.tested, fdr.demoted
    return report


#: Incident types in cause-ward order: on one component, a data or dependency failure explains a
#: service one, and a service failure or a group gap explains a model-quality drop, not the reverse.
CAUSE_ORDER: tuple[IncidentType, ...] = (
    IncidentType.DATA_QUALITY,
    IncidentType.INTEGRATION_DEPENDENCY,
    IncidentType.PERFORMANCE_AVAILABILITY,
    IncidentType.SECURITY_ADVERSARIAL,
    IncidentType.BIAS_FAIRNESS,
    IncidentType.QUALITY_DEGRADATION,
)
_CAUSE_RANK = {t: i for i, t in enumerate(CAUSE_ORDER)}


def group_checks(
    checks: list[CheckResult], config: SystemConfig, *, window: timedelta | None = None
) -> list[IncidentCandidate]:
    """Group failing checks of every incident type into one candidate per fault.

    Two failing checks are linked when their components are the same or adjacent in the
    component layer of the system graph (topology ``depends_on`` or lineage, a ``client:<id>``
    being adjacent to the model and to the entry services, see :mod:`rcaflows.graph`) **and**
    their onsets lie at most ``window`` apart (default ``alerting.group_window``); a candidate
    is a connected set of links, so one fault's data, dependency, service and model signals
    become one incident (PagerDuty's alert grouping, Alertmanager's ``group_by`` with the graph
    as the label), while two faults stay apart when they touch disjoint components or start
    further apart. A check without an onset joins the
    strongest timed check on its own component, else on an adjacent one, and never bridges two
    groups; checks of one type on one component always go together (they share a fingerprint).

    The candidate's component is the group's most upstream member (none of its group-mates is
    upstream of it), the earliest to start on ties, then the highest score; its primary type is
    that of the component's most cause-ward check (:data:`CAUSE_ORDER`), and the other members
    are its related signals. Candidates are returned highest score first.
    """
    failed = [c for c in checks if c.status == CheckStatus.FAIL]
    if not failed:
        return []
    graph = system_graph(config).with_clients(c.component for c in failed if is_client(c.component))
    gap = window if window is not None else config.alerting.group_window
    labels = _link_groups(failed, graph, gap)
    out = [
        _candidate([c for c, g in zip(failed, labels, strict=True) if g == k], graph)
        for k in range(int(labels.max()) + 1)
    ]
    out.sort(key=lambda c: (-c.score, c.incident_type, c.component))
    return out


def _link_groups(failed: list[CheckResult], graph: SystemGraph, gap: timedelta) -> np.ndarray:
    """Return a group label per failing check: connected components of the adjacency-and-onset links."""
    comps = sorted({c.component for c in failed})
    index = {name: k for k, name in enumerate(comps)}
    ci = np.array([index[c.component] for c in failed])
    adj = graph.adjacency(comps) | np.eye(len(comps), dtype=bool)
    adjacent = adj[np.ix_(ci, ci)]
    timed = np.array([c.onset is not None for c in failed])
    t = np.array([c.onset.timestamp() if c.onset is not None else np.nan for c in failed])
    with np.errstate(invalid="ignore"):
        close = np.abs(t[:, None] - t[None, :]) <= gap.total_seconds()
    # Checks of one type on one component share the incident fingerprint, so they always go together.
    ti = np.array([_CAUSE_RANK[c.incident_type] for c in failed])
    links = (adjacent & close & timed[:, None] & timed[None, :]) | ((ci[:, None] == ci) & (ti[:, None] == ti))
    score = np.array([c.score for c in failed])
    # An undated check hangs off one dated neighbour (same component first, then the strongest), so it
    # cannot chain two faults together; undated checks with no dated neighbour group among themselves.
    loose = []
    for i in np.flatnonzero(~timed):
        pool = (
            np.flatnonzero(timed & (ci == ci[i]))
            if np.any(timed & (ci == ci[i]))
            else np.flatnonzero(timed & adjacent[i])
        )
        if pool.size:
            j = pool[np.argmax(score[pool])]
            links[i, j] = links[j, i] = True
        else:
            loose.append(i)
    for i in loose:
        links[i, loose] = adjacent[i, loose]
    _, labels = connected_components(csr_matrix(links), directed=False)
    return np.asarray(labels)


def _candidate(checks: list[CheckResult], graph: SystemGraph) -> IncidentCandidate:
    group = {c.component for c in checks}
    best: dict[str, float] = {}
    first: dict[str, float] = {}
    for c in checks:
        best[c.component] = max(best.get(c.component, 0.0), c.score)
        t = c.onset.timestamp() if c.onset is not None else math.inf
        first[c.component] = min(first.get(c.component, math.inf), t)

    def upstream_mates(comp: str) -> set[str]:
        return graph.upstream(comp) & group

    roots = [c for c in group if not upstream_mates(c)] or list(group)
    component = min(sorted(roots), key=lambda c: (first[c], -best[c]))
    ordered = sorted(group, key=lambda c: (len(upstream_mates(c)), -best[c], c))
    top = min((c for c in checks if c.component == component), key=lambda c: (_CAUSE_RANK[c.incident_type], -c.score))
    itype = top.incident_type
    onsets = [c.onset for c in checks if c.onset is not None]
    by_onset = sorted(checks, key=lambda c: c.onset.timestamp() if c.onset is not None else math.inf)
    types = [itype] + [t for t in dict.fromkeys(c.incident_type for c in by_onset) if t != itype]
    headline = top.details.get("headline") if isinstance(top.details, dict) else None
    label = TITLES.get(top.subtype, top.subtype.replace("_", " ").capitalize())
    title = f"{label} on {component}" + (f" ({headline})" if headline else "")
    if len(group) > 1:
        title += f", with {len(group) - 1} more component{'s' if len(group) > 2 else ''}"
    if len(types) > 1:
        title += f"; related: {', '.join(str(t).replace('_', ' ') for t in types[1:])}"
    return IncidentCandidate(
        incident_type=itype,
        subtype=top.subtype,
        component=component,
        metric=top.metric,
        title=title,
        score=max(c.score for c in checks),
        onset=min(onsets) if onsets else None,
        checks=sorted(checks, key=lambda c: -c.score),
        components=ordered,
        fingerprint=f"{graph.config.system.name}:{itype}:{component}:{top.subtype}",
        types=types,
    )


# -- sharded scan: the metric detectors per shard of components, the others once, merged -------


def shard_of(components: pd.Series, shards: int) -> np.ndarray:
    """Return the shard of each component: crc32 of its name mod ``shards``, the same in every process."""
    names = pd.unique(components)
    codes = np.array([zlib.crc32(str(n).encode()) % shards for n in names], dtype=np.int64)
    return codes[pd.Index(names).get_indexer(components)]


def shard_scan(config: SystemConfig, window: Window, shards: int) -> list[tuple[SystemConfig, Window]]:
    """Split the metric scan into ``shards`` parts by component; each holds its metric specs and series only.

    A component's metrics stay together (checks such as the SLO burn read several of them); parts
    without a declared metric are left out. Predictions, batches and changes are not copied: the
    metric detectors do not read them.
    """
    if shards < 1:
        raise ValueError(f"shards must be >= 1, got {shards}")
    spec_shard = shard_of(pd.Series([m.component for m in config.metrics], dtype=object), shards)
    ref, cur = window.reference.metrics, window.current.metrics
    ref_shard, cur_shard = shard_of(ref["component"], shards), shard_of(cur["component"], shards)
    parts = []
    for k in range(shards):
        specs = [m for m, sk in zip(config.metrics, spec_shard, strict=True) if sk == k]
        if not specs:
            continue
        part = Window(
            reference=MonitoringData(window.reference.start, window.reference.end, metrics=ref.loc[ref_shard == k]),
            current=MonitoringData(window.current.start, window.current.end, metrics=cur.loc[cur_shard == k]),
        )
        parts.append((config.model_copy(update={"metrics": specs}), part))
    return parts


def whole_frame_detectors() -> dict[str, Detector]:
    """Return the registered detectors of ``scope = "frames"`` (the default): they need whole frames."""
    return {k: d for k, d in DETECTORS.items() if detector_scope(d) == FRAMES}


def scan_detectors() -> dict[str, Detector]:
    """Return the registered detectors a scan runs before its FDR control (every ``scope`` but ``"data"``)."""
    return {k: d for k, d in DETECTORS.items() if detector_scope(d) != DATA}


def data_detectors() -> dict[str, Detector]:
    """Return the registered detectors of ``scope = "data"``: once per scan, over the whole window, after the FDR."""
    return {k: d for k, d in DETECTORS.items() if detector_scope(d) == DATA}


def metric_detectors() -> dict[str, Detector]:
    """Return the registered detectors of ``scope = "metrics"``: they can run per metric shard."""
    return {k: d for k, d in DETECTORS.items() if detector_scope(d) == METRICS}


def merge_reports(config: SystemConfig, window: Window, parts: list[DetectionReport]) -> DetectionReport:
    """Merge the reports of a sharded scan and apply the FDR control once over all their checks."""
    report = DetectionReport(window_start=window.current.start, window_end=window.current.end)
    for part in parts:
        report.checks.extend(part.checks)
        report.errors.extend(e for e in part.errors if e not in report.errors)
        for name, secs in part.seconds.items():
            report.seconds[name] = round(report.seconds.get(name, 0.0) + secs, 4)
    fdr = apply_fdr(report.checks, config.detectors.fdr_alpha)
    report.checks, report.fdr_tested, report.fdr_demoted = fdr.checks, fdr.tested, fdr.demoted
    return report

