"""Data availability: series that stop arriving and sources that cannot be read become checks.

Alertmanager users write ``absent()`` rules for this by hand; here it is built in. Every series
(a ``(component, metric)`` of the metrics frame, and the model's prediction log) learns its
cadence from the reference window: the median gap between consecutive points, computed for all
series at once. A series is **silent** when its last point is older than
``max(grace, cadence_multiple x cadence)`` at the end of the window; one that had fewer than
``min_points`` reference points is not watched (no cadence to expect).

One fault gives one check, never one per series:

* a source whose every watched series is silent gives one ``fail`` check on ``source:<name>``
  (the whole feed stopped), and none for the components it feeds;
* otherwise each component with a silent series gives one ``fail`` check naming its silent
  series, and each watched component and source that reports gives one ``ok`` check, which is
  what resolves an open availability incident when the data returns;
* a source that could not be read after its retries gives one ``fail`` check
  ``source:<name>`` / ``unreadable`` with the error, and one that was read an ``ok`` one.

The checks are of type ``integration_dependency`` with subtype ``missing`` (the existing
missing-data subtype, so such an incident inhibits the model incidents it explains downstream)
or ``unreadable``; they carry no p-value and stay outside the run's FDR family.

:class:`AvailabilityDetector` is the registered detector (name ``availability``). Its scope is
``"data"``: it reads the whole loaded window, the source read status included, so it is never
sharded, and the scan runs it once after the FDR control
(:func:`rcaflows.pipeline.with_availability`). Its settings model is the ``detectors.availability``
block (:class:`rcaflows.config.models.AvailabilityDetector`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from rcaflows.config.models import AvailabilityDetector as AvailabilitySettings
from rcaflows.config.models import ModelConfig, SystemConfig
from rcaflows.data import SOURCE_COLUMN, MonitoringData, Window
from rcaflows.detection.base import DATA, CheckFactory, Scope, register, score_from_ratio, to_datetime, ts_array
from rcaflows.detection.models import CheckResult
from rcaflows.model.log import rows_of
from rcaflows.vocab import CheckStatus, IncidentType

__all__ = [
    "DETECTOR",
    "MISSING",
    "PREDICTIONS",
    "SOURCE_PREFIX",
    "UNREADABLE",
    "AvailabilityDetector",
    "SeriesActivity",
    "availability_checks",
    "series_activity",
    "source_component",
]

#: Name of the checks' detector, and their incident type.
DETECTOR = "availability"
INCIDENT_TYPE = IncidentType.INTEGRATION_DEPENDENCY
#: Subtypes: a silent component or source, and a source that could not be read.
MISSING = "missing"
UNREADABLE = "unreadable"
#: Component name of a source-level check: ``source:<name>``.
SOURCE_PREFIX = "source:"
#: Metric name standing for the model's prediction log in the series table.
PREDICTIONS = "predictions"
#: Silent series listed per check; the count is always complete.
LISTED = 20


def source_component(source: str) -> str:
    """Return the component name a source-level check and incident carry."""
    return f"{SOURCE_PREFIX}{source}"


@dataclass(frozen=True)
class SeriesActivity:
    """Per series: component, metric, reference points, cadence and last point, as aligned arrays."""

    component: np.ndarray
    metric: np.ndarray
    points: np.ndarray  # reference points
    cadence_s: np.ndarray  # median positive gap in the reference window, NaN with fewer than two gaps
    last_us: np.ndarray  # last point anywhere in the data, int64 microseconds since the epoch

    def __len__(self) -> int:
        return len(self.component)


def _us(ts: pd.Series) -> np.ndarray:
    """Return timestamps as int64 microseconds since the epoch (UTC)."""
    return np.asarray(ts_array(ts)).astype("datetime64[us]").view(np.int64)


def _sorted_pairs(group: np.ndarray, value: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Return (group, value) pairs sorted by group, then value (values >= 0, int64).

    Both go into one int64 key sorted in place, several times faster than a two-key lexsort
    on millions of rows; values are coarsened by powers of 1000 only if they would not fit.
    """
    bits = max(int(n_groups).bit_length(), 1)
    room = 63 - bits
    unit = 1
    top = int(value.max()) if len(value) else 0
    while top // unit >= (1 << room):
        unit *= 1000
    key = (group << room) | (value // unit if unit > 1 else value)
    key.sort()
    return key >> room, (key & ((1 << room) - 1)) * unit


def series_activity(
    data: MonitoringData, current_start: datetime, models: Sequence[ModelConfig] = ()
) -> SeriesActivity:
    """Return every series' reference points, median inter-arrival and last point, for all series at once.

    Args:
        data: the loaded window (reference and current).
        current_start: where the reference window ends; cadences are learned before it.
        models: the models whose prediction logs are watched: each model's rows
            (:func:`~rcaflows.model.log.rows_of`) are the series ``(its component, "predictions")``,
            so one model's log falling silent is seen while another's keeps arriving.
    """
    m = data.metrics
    # Codes per column (hashing each column once), combined into one series code: no per-row strings.
    c_code, c_names = pd.factorize(m["component"])
    m_code, m_names = pd.factorize(m["metric"])
    c_names, m_names = [str(x) for x in c_names], [str(x) for x in m_names]
    codes_parts = [np.asarray(c_code, dtype=np.int64) * (len(m_names) + 1) + np.asarray(m_code, dtype=np.int64)]
    ts = [_us(m["timestamp"])]
    p = data.predictions
    for model in models if not p.empty and "timestamp" in p.columns else ():
        # Each model's prediction log is one more series: (model component, "predictions").
        rows = rows_of(p, model)
        if rows.empty:
            continue
        if model.component not in c_names:
            c_names.append(model.component)
        codes_parts.append(
            np.full(len(rows), c_names.index(model.component) * (len(m_names) + 1) + len(m_names), dtype=np.int64)
        )
        ts.append(_us(rows["timestamp"]))
    t_all = np.concatenate(ts)
    if len(t_all) == 0:
        empty = np.array([], dtype=object)
        return SeriesActivity(empty, empty, np.array([], dtype=np.int64), np.array([]), np.array([], dtype=np.int64))
    raw = np.concatenate(codes_parts)
    space = len(c_names) * (len(m_names) + 1)
    if space <= 50_000_000:  # dense relabelling, linear time: the series codes present, numbered in order
        present = np.zeros(space, dtype=bool)
        present[raw] = True
        series = np.flatnonzero(present)
        codes = (np.cumsum(present) - 1)[raw]
    else:
        series, codes = np.unique(raw, return_inverse=True)
    n = len(series)
    t0 = int(t_all.min())
    k, t = _sorted_pairs(codes.astype(np.int64), t_all - t0, n)
    # Sorted by (series, time): a series' last point closes its run of rows.
    ends = np.flatnonzero(np.r_[k[1:] != k[:-1], True])
    last = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)
    last[k[ends]] = t[ends] + t0
    in_ref = t < pd.Timestamp(current_start).tz_convert("UTC").value // 1000 - t0
    points = np.bincount(k[in_ref], minlength=n)
    # Positive gaps between consecutive reference points of one series (equal stamps are one arrival).
    same = (k[1:] == k[:-1]) & in_ref[1:]
    gap = (t[1:] - t[:-1])[same]
    gk = k[1:][same]
    keep = gap > 0
    cadence = np.full(n, np.nan)
    if keep.any():
        gk, gap = _sorted_pairs(gk[keep], gap[keep], n)
        count = np.bincount(gk, minlength=n)
        start = np.concatenate([[0], np.cumsum(count)[:-1]])
        has = count > 0
        lo = start[has] + (count[has] - 1) // 2
        hi = start[has] + count[has] // 2
        cadence[has] = (gap[lo] + gap[hi]) / 2e6
    return SeriesActivity(
        component=comps_of(c_names, series, len(m_names)),
        metric=np.array([*m_names, PREDICTIONS], dtype=object)[series % (len(m_names) + 1)],
        points=points,
        cadence_s=cadence,
        last_us=last,
    )


def comps_of(names: list[str], series: np.ndarray, n_metrics: int) -> np.ndarray:
    """Return the component name of each series code."""
    return np.array(names, dtype=object)[series // (n_metrics + 1)]


def _at(us: float | np.integer) -> datetime | None:
    """Return microseconds since the epoch as an aware UTC datetime."""
    return to_datetime(np.datetime64(int(us), "us"))


def _owner(data: MonitoringData, components: np.ndarray) -> np.ndarray:
    """Return the source each component's data came from (the first source that holds it), '' if unknown."""
    owner: dict[str, str] = {}
    for source, comps in data.source_components.items():
        for c in comps:
            owner.setdefault(c, source)
    return np.array([owner.get(c, "") for c in components], dtype=object)


def _silence(seconds: float) -> str:
    td = timedelta(seconds=round(seconds))
    if td >= timedelta(hours=2):
        return f"{td.total_seconds() / 3600:.1f} h"
    return f"{td.total_seconds() / 60:.0f} min"


def availability_checks(config: SystemConfig, data: MonitoringData, current_start: datetime) -> list[CheckResult]:
    """Return the run's data-availability checks: one per unreadable source, silent source or component.

    See the module docstring for the rule; ``data.end`` is the moment silence is measured at.
    """
    settings = config.detectors.availability
    if not settings.enabled:
        return []
    make = CheckFactory(DETECTOR, INCIDENT_TYPE, data.slice(current_start, data.end))
    out: list[CheckResult] = []
    for source, error in data.source_errors.items():
        out.append(
            make(
                component=source_component(source),
                subtype=UNREADABLE,
                check="source_read",
                status=CheckStatus.FAIL,
                score=1.0,
                message=f"source {source!r} could not be read after its retries: {error}",
                onset=data.end,
                details={"source": source, "error": error, "headline": error[:120]},
            )
        )
    for spec in config.sources:
        if spec.name not in data.source_errors:  # read: what resolves an 'unreadable' incident
            out.append(
                make(
                    component=source_component(spec.name),
                    subtype=UNREADABLE,
                    check="source_read",
                    status=CheckStatus.OK,
                    score=0.0,
                    message=f"source {spec.name!r} read",
                    details={"source": spec.name},
                )
            )
    act = series_activity(data, current_start, config.models)
    watched = (act.points >= settings.min_points) & np.isfinite(act.cadence_s)
    if not watched.any():
        # Nothing to expect: say so (an empty window is 'no_data', never a silent 'ok').
        msg = f"no series has {settings.min_points} reference points to learn its cadence from"
        out.append(make.no_data(config.system.name, MISSING, msg, check="silence", reason="insufficient"))
        return out
    comp, metric = act.component[watched], act.metric[watched]
    cadence, last = act.cadence_s[watched], act.last_us[watched]
    end_us = pd.Timestamp(data.end).tz_convert("UTC").value // 1000
    silent_for = (end_us - last) / 1e6
    limit = np.maximum(settings.grace.total_seconds(), settings.cadence_multiple * cadence)
    silent = silent_for > limit
    owner = _owner(data, comp)

    def evidence(idx: np.ndarray) -> dict[str, object]:
        worst = idx[np.argsort(-silent_for[idx], kind="stable")]
        return {
            "series": len(idx),
            "silent": [
                {
                    "component": str(comp[i]),
                    "metric": str(metric[i]),
                    "last_seen": str(_at(last[i])),
                    "cadence_s": round(float(cadence[i]), 3),
                    "silent_s": round(float(silent_for[i]), 1),
                    "limit_s": round(float(limit[i]), 1),
                }
                for i in worst[:LISTED]
            ],
            "grace_s": settings.grace.total_seconds(),
            "cadence_multiple": settings.cadence_multiple,
        }

    def failing(component: str, idx: np.ndarray, what: str, **extra: object) -> CheckResult:
        # Silence began when the earliest of its series missed its next expected point.
        onset_us = np.min(last[idx] + limit[idx] * 1e6)
        ratio = float(np.max(silent_for[idx] / limit[idx]))
        longest = float(np.max(silent_for[idx]))
        headline = f"{len(idx)} series silent for {_silence(longest)}"
        return make(
            component=component,
            subtype=MISSING,
            check="silence",
            status=CheckStatus.FAIL,
            # 0.75 at the limit, towards 1 as the silence lengthens: absence is a fact, not a guess.
            score=score_from_ratio(2.0 * ratio),
            statistic=longest,
            threshold=float(np.min(limit[idx])),
            message=f"no data from {what}: {headline} (last point {_at(np.max(last[idx]))})",
            onset=_at(onset_us),
            details={**evidence(idx), "headline": headline, **extra},
        )

    explained = np.zeros(len(comp), dtype=bool)
    for source in sorted({str(o) for o in owner if o}):
        mine = np.flatnonzero(owner == source)
        if silent[mine].all():
            out.append(failing(source_component(source), mine, f"source {source!r}", source=source))
            explained[mine] = True
        else:
            out.append(
                make(
                    component=source_component(source),
                    subtype=MISSING,
                    check="silence",
                    status=CheckStatus.OK,
                    score=0.0,
                    message=f"source {source!r}: {int((~silent[mine]).sum())} of {len(mine)} series reporting",
                    details={"source": source, "series": len(mine), "silent": int(silent[mine].sum())},
                )
            )
    rest = np.flatnonzero(~explained)
    rest_code, _rest_names = pd.factorize(comp[rest])
    order = np.argsort(rest_code, kind="stable")
    groups = np.split(rest[order], np.flatnonzero(np.diff(rest_code[order])) + 1) if len(rest) else []
    for idx in sorted(groups, key=lambda g: str(comp[g[0]])):
        name = comp[idx[0]]
        bad = idx[silent[idx]]
        if len(bad):
            out.append(failing(str(name), bad, f"{name}", of=len(idx)))
        else:
            out.append(
                make(
                    component=str(name),
                    subtype=MISSING,
                    check="silence",
                    status=CheckStatus.OK,
                    score=0.0,
                    message=f"{name}: all {len(idx)} series reporting",
                    details={"series": len(idx), "silent": 0},
                )
            )
    return out


def whole_window(window: Window, models: Sequence[ModelConfig] = ()) -> MonitoringData:
    """Return the data a window was split from: its series (metrics and predictions) and source status.

    The split keeps each row's index label, so the rows come back in their loaded order (a merge
    of several sources is not sorted by time): the series are numbered in the order they first
    appear, the same as over the loaded data itself. The prediction log keeps its timestamps and the
    columns that tell ``models``' rows apart (the source column, each ``log.model``).
    """
    ref, cur = window.reference, window.current
    model_columns = [m.log.model for m in models if m.log.model is not None]

    def both(a: pd.DataFrame, b: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
        # Only the columns series_activity reads: the rebuild copies (and may sort) every row.
        a, b = a[[c for c in columns if c in a.columns]], b[[c for c in columns if c in b.columns]]
        if a.empty:
            return b
        if b.empty:
            return a
        out = pd.concat([a, b])
        if a.index.is_monotonic_increasing and b.index.is_monotonic_increasing and a.index[-1] < b.index[0]:
            return out  # already in loaded order (one time-sorted source)
        return out.sort_index(kind="stable")

    return MonitoringData(
        start=ref.start,
        end=cur.end,
        metrics=both(ref.metrics, cur.metrics, ["timestamp", "component", "metric"]),
        # the columns that tell the models' rows apart (rows_of) come along with the timestamps
        predictions=both(ref.predictions, cur.predictions, ["timestamp", SOURCE_COLUMN, *model_columns]),
        source_components=cur.source_components,
        source_errors=cur.source_errors,
    )


@register
class AvailabilityDetector:
    """Silent series, components and sources, and unreadable sources (see the module docstring)."""

    name = DETECTOR
    incident_type = INCIDENT_TYPE
    scope: Scope = DATA  # the whole window and the source status, once per scan, after the FDR control
    settings_model = AvailabilitySettings  # the typed detectors.availability block

    def run(self, window: Window, config: SystemConfig) -> list[CheckResult]:
        """Return the availability checks of the data ``window`` was split from, silence measured at its end."""
        return availability_checks(config, whole_window(window, config.models), window.current.start)
