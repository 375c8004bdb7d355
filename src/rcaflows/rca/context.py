"""What every RCA phase reads: the config, the data window, the symptom, the graphs and the checks.

:class:`RcaContext` is immutable.  Analyses several phases share (the derived prediction metrics,
the robust scores of every series, the symptom onset, the system graph with the window's clients)
are computed lazily once per context and cached on it, so phases that run concurrently can each
ask for them.  The config's graph itself is built once per config (:func:`rcaflows.graph.system_graph`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

import networkx as nx
import numpy as np
import pandas as pd

from rcaflows.config.models import MetricKind, ModelConfig, SystemConfig
from rcaflows.data import MonitoringData, empty_metrics
from rcaflows.detection.models import CheckResult
from rcaflows.graph import CLIENT_PREFIX, SystemGraph, is_client, system_graph
from rcaflows.model.log import rows_of
from rcaflows.rca.models import Symptom
from rcaflows.rca.ranking import Matrix, Scores, align, onset_or_none, score_matrix, score_with_lookback, to_matrix
from rcaflows.sources.derive import models_metrics

#: clients sending less than this share of requests are left out of the analysis
MIN_CLIENT_SHARE = 0.02
#: the smallest share of the window kept as baseline when the split moves back
MIN_BASELINE_SHARE = 0.25

_KIND_HINTS: tuple[tuple[str, MetricKind], ...] = (
    ("timeout", MetricKind.TIMEOUT_RATE),
    ("null", MetricKind.NULL_RATE),
    ("row_count", MetricKind.ROW_COUNT),
    ("fresh", MetricKind.FRESHNESS),
    ("latency", MetricKind.LATENCY),
    ("_ms", MetricKind.LATENCY),
    ("error", MetricKind.ERROR_RATE),
    ("requests", MetricKind.THROUGHPUT),
    ("throughput", MetricKind.THROUGHPUT),
    ("cpu", MetricKind.CPU),
    ("mem", MetricKind.MEMORY),
)


@dataclass(frozen=True)
class Analysis:
    """Robust scores of every series in the window, and the split they were computed at."""

    matrix: Matrix
    scores: Scores
    table: pd.DataFrame  # per (component, metric): z, score, onset, direction, medians
    split: pd.Timestamp  # start of the anomalous period
    symptom_onset: pd.Timestamp | None
    symptom_key: tuple[str, str] | None
    baseline_note: str


@dataclass(frozen=True)
class RcaContext:
    """Everything one RCA run sees.

    Attributes:
        config: the monitored system.
        data: the RCA lookback window, up to the detection time.
        symptom: what alerted.
        system: the config's system graph, without clients (see :attr:`graph` for the one with them).
        checks: failed checks from detection (may be empty).
        baseline: known-normal data; when None the data before the symptom's window is used.
    """

    config: SystemConfig
    data: MonitoringData
    symptom: Symptom
    system: SystemGraph
    checks: list[CheckResult] = field(default_factory=list)
    baseline: MonitoringData | None = None

    @classmethod
    def build(
        cls,
        config: SystemConfig,
        data: MonitoringData,
        symptom: Symptom,
        checks: Iterable[CheckResult] = (),
        baseline: MonitoringData | None = None,
    ) -> RcaContext:
        """Return a context over the (cached) system graph of ``config``."""
        return cls(
            config=config,
            data=data,
            symptom=symptom,
            system=system_graph(config),
            checks=[c for c in checks if c.failed],
            baseline=baseline,
        )

    # ----- derived data -------------------------------------------------------------------

    @cached_property
    def derived(self) -> pd.DataFrame:
        """Return metrics derived from the window's prediction log (empty without a model)."""
        derived = models_metrics(self.data.predictions, self.config.models)
        return derived if derived.empty else _major_clients(derived, self)

    @cached_property
    def all_metrics(self) -> pd.DataFrame:
        """Return the window's metrics plus the derived prediction metrics."""
        frames = [f for f in (self.data.metrics, self.derived) if not f.empty]
        if not frames:
            return empty_metrics()
        return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]

    @cached_property
    def baseline_metrics(self) -> pd.DataFrame | None:
        """Return the explicit baseline's metrics plus derived ones, if a baseline was given."""
        if self.baseline is None:
            return None
        frames = [self.baseline.metrics]
        frames.append(models_metrics(self.baseline.predictions, self.config.models))
        frames = [f for f in frames if not f.empty]
        return pd.concat(frames, ignore_index=True) if frames else empty_metrics()

    @property
    def detected_at(self) -> pd.Timestamp:
        """Return the detection time as a UTC timestamp."""
        return pd.Timestamp(self.symptom.detected_at).tz_convert("UTC")

    @cached_property
    def analysis(self) -> Analysis:
        """Return the robust scores of every series (computed once per context)."""
        return _analyse(self)

    @property
    def symptom_onset(self) -> pd.Timestamp | None:
        """Return the symptom's onset: given, or estimated from the data."""
        if self.symptom.onset is not None:
            return pd.Timestamp(self.symptom.onset).tz_convert("UTC")
        return self.analysis.symptom_onset

    @property
    def reference_time(self) -> pd.Timestamp:
        """Return the symptom onset, or the start of the detection window when unknown."""
        onset = self.symptom_onset
        return onset if onset is not None else self.detected_at - self.config.window.current

    def split_predictions(self, model: ModelConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Return ``model``'s (reference, current) prediction rows around the analysis split."""
        preds = rows_of(self.data.predictions, model)
        if preds.empty or "timestamp" not in preds.columns:
            return preds, preds
        split = self.analysis.split
        if self.baseline is not None and not self.baseline.predictions.empty:
            ref = rows_of(self.baseline.predictions, model)
        else:
            ref = preds[preds["timestamp"] < split]
        onset = self.symptom_onset
        cur_start = max(onset, split) if onset is not None else split
        return ref, preds[preds["timestamp"] >= cur_start]

    # ----- graphs ---------------------------------------------------------------------------

    @cached_property
    def clients(self) -> list[str]:
        """Return the ``client:<id>`` components seen in the derived metrics."""
        d = self.derived
        if d.empty:
            return []
        comps = pd.unique(d["component"])
        return sorted(str(c) for c in comps if is_client(str(c)))

    @cached_property
    def graph(self) -> SystemGraph:
        """Return the system graph with this window's clients attached (edges upstream -> downstream)."""
        return self.system.with_clients(self.clients)

    @property
    def lineage(self) -> nx.DiGraph:
        """Return the lineage layer: edge ``u -> v`` when data flows from u to v."""
        return self.system.lineage

    @cached_property
    def depends(self) -> nx.DiGraph:
        """Return the component layer with clients in call direction (``u -> v`` when u depends on v).

        This is the orientation :func:`rcaflows.rca.ranking.rank_components` takes its topology in
        (as topology files list it); everything else walks :attr:`graph`.
        """
        return self.graph.components.reverse(copy=False)

    def metric_kind(self, component: str, metric: str | None) -> MetricKind:
        """Return the declared kind of a metric, or a guess from its name."""
        if metric is None:
            return MetricKind.OTHER
        spec = self.config.metric_spec(component, metric)
        if spec is not None:
            return spec.kind
        low = metric.lower()
        for hint, kind in _KIND_HINTS:
            if hint in low:
                return kind
        return MetricKind.OTHER

    def component_kind(self, component: str) -> str:
        """Return the kind of a component ('client' for clients, 'unknown' when undeclared)."""
        if is_client(component):
            return "client"
        c = self.config.component(component)
        return str(c.kind) if c is not None else "unknown"


def _major_clients(derived: pd.DataFrame, ctx: RcaContext) -> pd.DataFrame:
    """Drop the series of clients too small to move the system.

    A client is kept when it sent at least ``MIN_CLIENT_SHARE`` of the requests of the whole
    window or of the detection window; sparse request counts of tiny clients are bursty noise.
    """
    client_rows = derived["component"].str.startswith(CLIENT_PREFIX)
    if not client_rows.any():
        return derived
    cl = derived[client_rows]
    recent = cl["timestamp"] >= ctx.detected_at - ctx.config.window.current
    share_all = cl.groupby("component")["value"].sum()
    share_recent = cl[recent].groupby("component")["value"].sum()
    share_all = share_all / max(float(share_all.sum()), 1e-9)
    share_recent = share_recent / max(float(share_recent.sum()), 1e-9)
    keep = set(share_all[share_all >= MIN_CLIENT_SHARE].index) | set(
        share_recent[share_recent >= MIN_CLIENT_SHARE].index
    )
    return derived[~client_rows | derived["component"].isin(keep)].reset_index(drop=True)


def _symptom_key(ctx: RcaContext, matrix: Matrix) -> tuple[str, str] | None:
    comp, metric = ctx.symptom.component, ctx.symptom.metric
    keys = matrix.keys
    if metric is not None and (comp, metric) in keys:
        return (comp, metric)
    if metric is not None:
        near = [k for k in keys if k[0] == comp and (metric in k[1] or k[1] in metric)]
        if near:
            return near[0]
    return None


def _feature_series(ctx: RcaContext, feature: str) -> pd.DataFrame:
    """Return per-minute mean and null share of one feature as long metrics (for onset only)."""
    # the rows of the models that take this feature (another model may log a column of that name)
    users = [m for m in ctx.config.models if feature in m.features]
    mine = [rows_of(ctx.data.predictions, m) for m in users]
    preds = ctx.data.predictions if not mine else mine[0] if len(mine) == 1 else pd.concat(mine)
    if preds.empty or feature not in preds.columns:
        return empty_metrics()
    col = pd.to_numeric(preds[feature], errors="coerce")
    bucket = preds["timestamp"].dt.floor("1min")
    g = pd.DataFrame({"b": bucket, "v": col, "n": col.isna().astype(float)}).groupby("b")
    parts = []
    for name, ser in (("mean", g["v"].mean()), ("null_share", g["n"].mean())):
        parts.append(
            pd.DataFrame(
                {
                    "timestamp": ser.index,
                    "component": ctx.symptom.component,
                    "metric": f"{feature}:{name}",
                    "value": ser.to_numpy(dtype=float),
                }
            )
        )
    return pd.concat(parts, ignore_index=True).dropna(subset=["value"])


def _estimate_symptom(
    ctx: RcaContext, matrix: Matrix, base: np.ndarray | None
) -> tuple[pd.Timestamp | None, int, tuple[str, str] | None]:
    """Return (symptom onset, split row, symptom key) by scoring the symptom series alone."""
    times = matrix.times
    detected = ctx.detected_at
    split0 = int(times.searchsorted(detected - ctx.config.window.current))
    split0 = min(max(split0, 1), max(len(times) - 1, 1))
    min_split = max(1, int(len(times) * MIN_BASELINE_SHARE))
    key = _symptom_key(ctx, matrix)
    cand_mats: list[tuple[Matrix, int, tuple[str, str]]] = []
    if key is not None:
        cand_mats.append((matrix, matrix.keys.index(key), key))
    elif ctx.symptom.metric:
        feat = _feature_series(ctx, ctx.symptom.metric)
        if not feat.empty:
            fm = to_matrix(feat, "feature series", step=matrix.step, origin=times[0])
            for j, k in enumerate(fm.keys):
                cand_mats.append((fm, j, k))
    if not cand_mats:
        return None, split0, None
    best: tuple[float, pd.Timestamp | None, int, tuple[str, str]] | None = None
    for mat, j, k in cand_mats:
        vals = mat.values[:, [j]]
        split = split0
        onset: pd.Timestamp | None = None
        z = 0.0
        step_rows = max(1, int(pd.Timedelta(hours=1) / matrix.step))
        while True:
            sc = score_matrix([k], mat.times, vals, split, None if base is None or mat is not matrix else base[:, [j]])
            z = float(sc.z[0])
            onset = onset_or_none(sc.onset[0])
            clamped = bool(sc.onset_clamped[0])
            if onset is None or not clamped or split <= min_split or base is not None:
                break
            split = max(min_split, split - step_rows)
        if best is None or z > best[0]:
            best = (z, pd.Timestamp(onset) if onset is not None else None, split, k)
    assert best is not None
    _, onset_ts, split, k = best
    return onset_ts, split, (k if k in matrix.keys else None)


def _analyse(ctx: RcaContext) -> Analysis:
    matrix = to_matrix(ctx.all_metrics, "RCA window metrics")
    base: np.ndarray | None = None
    note = "baseline: the window before the anomalous period"
    if ctx.baseline_metrics is not None and not ctx.baseline_metrics.empty and matrix.values.size:
        bmat = to_matrix(ctx.baseline_metrics, "RCA baseline metrics", step=matrix.step)
        base = align(bmat, matrix.keys)
        note = "baseline: the explicit baseline window"
    if matrix.values.size == 0:
        empty = score_matrix([], matrix.times, np.empty((0, 0)), 0)
        return Analysis(matrix, empty, empty.frame(), ctx.detected_at, None, None, "no metric data")
    if ctx.symptom.onset is not None:
        onset: pd.Timestamp | None = pd.Timestamp(ctx.symptom.onset).tz_convert("UTC")
        key = _symptom_key(ctx, matrix)
        split = int(matrix.times.searchsorted(onset))
    else:
        onset, split, key = _estimate_symptom(ctx, matrix, base)
        if onset is not None:
            split = int(matrix.times.searchsorted(onset))
    min_split = max(1, int(len(matrix.times) * MIN_BASELINE_SHARE)) if base is None else 0
    split = min(max(split, min_split), len(matrix.times) - 1)
    # The symptom onset plays rank_root_causes' incident time: the same scoring, reaching back to
    # causes whose shift was already under way when the symptom moved.
    scores = score_with_lookback(matrix, split, base)
    table = scores.frame()
    return Analysis(
        matrix=matrix,
        scores=scores,
        table=table,
        split=pd.Timestamp(matrix.times[split]),
        symptom_onset=onset,
        symptom_key=key,
        baseline_note=note,
    )


def estimate_onset(ctx: RcaContext) -> datetime | None:
    """Return the estimated onset of the symptom (None when no series of it deviates)."""
    onset = ctx.analysis.symptom_onset
    return None if onset is None else onset.to_pydatetime()
