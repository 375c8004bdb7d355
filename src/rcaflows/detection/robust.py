"""The hourly metric checks: every series judged by the anomaly scorer, then by size.

A series *fails* when both hold:

1. **It alarmed** (statistical evidence, the scorer the benchmarks measure): its reference and
   current samples, in time order, are scored by :func:`rcaflows.detection.anomaly.score_matrix`
   (with a daily period when the reference covers two days or more), and
   :func:`~rcaflows.detection.anomaly.alarm_onset` finds an alarm (score ≥ 0.5) from which the
   series has mostly sat at its current level: the onset of the current episode. A level shift
   alarms at its first point and the scorer then adapts, so an ongoing shift keeps failing
   through that first alarm while a blip that came back does not count. A series with fewer
   than :data:`COLD_HISTORY` reference samples cannot alarm yet; the size gates alone judge it.
2. **It is large** (practical significance, the config's thresholds): the current level — the
   median of its last ``sustain`` minutes, so a shift must cover half of that span — is at least
   ``min_relative_change`` past the baseline *and* at least ``z_threshold`` reference scales
   past it, in its bad direction. The scale is the reference's MAD·1.4826 floored per metric
   kind, so a 0.2 % error rate moving to 0.26 % is not "large" however quiet it was. When the
   reference covers a day or more, the baseline is taken at the same clock time on earlier days
   (±30 min) so a daily cycle is not mistaken for a shift; the whole-reference baseline must
   agree at half strength, so neither is yesterday's blip.

A series *warns* when it is large at half of both thresholds but does not fail. Its ``onset`` is
the onset of the current episode (for fail and warn); its ``score`` is the weaker of the scorer's
peak since that onset and the size score ``1 − 0.5^r`` (``r``: the smaller of the two size
ratios, so 0.5 at the thresholds), kept ≥ 0.5 for a failure and below it otherwise.

All arithmetic runs on (time × series) matrices in blocks of series: no Python loop per point or
per series. Only series that are large at half strength are scored, since nothing else can warn
or fail.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

import rcaflows.detection.stats  # noqa: F401  (first: anomaly and stats import each other)
from rcaflows.config.models import MetricKind, MetricSpec
from rcaflows.data import Window
from rcaflows.detection.anomaly import alarm_onset, score_matrix
from rcaflows.detection.base import CheckFactory, fmt_change, fmt_num, to_datetime
from rcaflows.detection.models import CheckResult
from rcaflows.vocab import CheckStatus

MAD_TO_SIGMA = 1.4826
#: Same-clock-time neighbourhood on earlier days used for the seasonal baseline.
SEASONAL_HALF_WIDTH = timedelta(minutes=30)
#: Reference samples the scorer needs to judge a series: its tail probabilities start after about
#: 225 points, and in the first few hundred new records (range novelty) are still common.
COLD_HISTORY = 300

#: Smallest scale per kind, in the metric's own unit ("%" or a fraction for rates), so a
#: near-constant series (0.2 % errors that barely wiggle) does not turn every blip into z = 50.
_PERCENT_FLOORS: dict[MetricKind, float] = {
    MetricKind.ERROR_RATE: 0.05,
    MetricKind.TIMEOUT_RATE: 0.05,
    MetricKind.NULL_RATE: 0.1,
    MetricKind.CPU: 1.0,
    MetricKind.MEMORY: 1.0,
}
_ABSOLUTE_FLOORS: dict[MetricKind, float] = {
    MetricKind.ERROR_RATE: 0.0005,
    MetricKind.TIMEOUT_RATE: 0.0005,
    MetricKind.NULL_RATE: 0.001,
    MetricKind.CPU: 0.01,
    MetricKind.MEMORY: 0.01,
    MetricKind.LATENCY: 0.5,
    MetricKind.THROUGHPUT: 1.0,
    MetricKind.ROW_COUNT: 1.0,
    MetricKind.FRESHNESS: 1.0,
}

SHIFT_COLUMNS = [
    "component",
    "metric",
    "kind",
    "unit",
    "direction",
    "status",
    "current",
    "baseline",
    "scale",
    "z",
    "bad_z",
    "rel_change",
    "score",
    "onset",
    "n_reference",
    "n_current",
    "seasonal",
    "sustain_min",
]


def kind_floor(kind: MetricKind, unit: str) -> float:
    """Return the absolute scale floor of a metric kind in its unit."""
    if unit == "%" and kind in _PERCENT_FLOORS:
        return _PERCENT_FLOORS[kind]
    return _ABSOLUTE_FLOORS.get(kind, 1e-9)


def default_direction(spec: MetricSpec) -> int:
    """Return +1 when a rise is bad, -1 when a drop is bad."""
    return 1 if spec.higher_is_worse else -1


#: rows of a long frame pivoted at once; bounds the pivot's temporaries to a few hundred MB
_PIVOT_ROWS = 2_000_000
#: series whose statistics are computed at once; bounds the median's copies
_STAT_COLUMNS = 512
#: series scored at once; bounds the scorer's copies
_SCORE_COLUMNS = 256


def _wide(long: pd.DataFrame, keys: pd.MultiIndex) -> tuple[np.ndarray, np.ndarray]:
    """Pivot long metrics to ``(times, values)``: sorted int64 ns times and a (time × key) matrix.

    The pivot scatters ``_PIVOT_ROWS`` rows at a time straight into the result, in the order of
    ``keys`` (keys without data stay NaN), so beyond the result it needs only per-chunk
    temporaries: on 10k series × 7 days of minutes (100 M rows) that is the difference between a
    6 GiB peak and one below 3× the matrix. Duplicated samples of a series at one timestamp are
    averaged; infinite values count as missing.
    """
    if long.empty:
        return np.zeros(0, dtype=np.int64), np.empty((0, len(keys)))
    key_column = _key_columns(long["component"], long["metric"], keys)
    values = long["value"]
    if not pd.api.types.is_numeric_dtype(values.dtype):
        # A series with non-numeric values is judged on its numeric ones (often none: no_data).
        values = pd.to_numeric(values, errors="coerce")
    stamps = long["timestamp"].array
    if not isinstance(stamps, pd.arrays.DatetimeArray):
        stamps = pd.to_datetime(long["timestamp"]).array
    n = len(long)
    chunks = range(0, n, _PIVOT_ROWS)

    def ns(i: int) -> np.ndarray:
        return stamps[i : i + _PIVOT_ROWS].as_unit("ns").asi8

    times = np.unique(np.concatenate([np.unique(ns(i)) for i in chunks]))
    k = len(keys)
    out = np.full((len(times), k), np.nan)
    flat = out.reshape(-1)
    placed = 0

    def cells(i: int) -> tuple[np.ndarray, np.ndarray]:
        c = key_column(i, i + _PIVOT_ROWS)
        v = values.iloc[i : i + _PIVOT_ROWS].to_numpy(dtype=float, na_value=np.nan)
        ok = (c >= 0) & np.isfinite(v)
        return np.searchsorted(times, ns(i)[ok]) * k + c[ok], v[ok]

    for i in chunks:
        cell, v = cells(i)
        flat[cell] = v
        placed += len(cell)
    if placed != int(np.count_nonzero(~np.isnan(flat))):
        # Some cells got more than one sample (the last one won above): average them instead.
        sums = np.zeros(flat.shape)
        counts = np.zeros(flat.shape, dtype=np.uint32)
        for i in chunks:
            cell, v = cells(i)
            np.add.at(sums, cell, v)
            np.add.at(counts, cell, 1)
        np.divide(sums, counts, out=flat, where=counts > 0)
        flat[counts == 0] = np.nan
    return times, out


def _codes(col: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Return per-row integer codes (-1: missing) and the distinct values of a name column.

    Categorical columns (what the sources produce) give their codes without a per-row copy.
    """
    if isinstance(col.dtype, pd.CategoricalDtype):
        return col.cat.codes.to_numpy(), np.asarray(col.cat.categories, dtype=object)
    codes, uniq = pd.factorize(col, use_na_sentinel=True)
    return codes, np.asarray(uniq, dtype=object)


def _key_columns(component: pd.Series, metric: pd.Series, keys: pd.MultiIndex) -> Callable[[int, int], np.ndarray]:
    """Return a function giving, for rows ``[i, j)``, the position of their series in ``keys`` (-1: not wanted)."""
    c_code, c_uniq = _codes(component)
    m_code, m_uniq = _codes(metric)
    n_m = max(len(m_uniq), 1)
    c_idx = pd.Index(c_uniq).get_indexer(keys.get_level_values(0))
    m_idx = pd.Index(m_uniq).get_indexer(keys.get_level_values(1))
    key_pair = np.where((c_idx >= 0) & (m_idx >= 0), c_idx.astype(np.int64) * n_m + m_idx, -1)
    n_pairs = len(c_uniq) * n_m
    lookup = np.full(n_pairs + 1, -1, dtype=np.int64)  # last slot: rows with a missing name
    wanted = key_pair >= 0
    lookup[key_pair[wanted]] = np.flatnonzero(wanted)

    def rows(i: int, j: int) -> np.ndarray:
        c, m = c_code[i:j].astype(np.int64), m_code[i:j]
        pair = c * n_m + m
        pair[(c < 0) | (m < 0)] = n_pairs
        return lookup[pair]

    return rows


def _nan_location_scale(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return per-column nan-median, MAD·1.4826 and count of ``x`` (time × series)."""
    n = np.count_nonzero(~np.isnan(x), axis=0)
    med = np.full(x.shape[1], np.nan)
    mad = np.full(x.shape[1], np.nan)
    if x.shape[0] == 0:
        return med, mad, n
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for j in range(0, x.shape[1], _STAT_COLUMNS):  # blocks of columns bound the copies
            block = x[:, j : j + _STAT_COLUMNS]
            med[j : j + _STAT_COLUMNS] = m = np.nanmedian(block, axis=0)
            mad[j : j + _STAT_COLUMNS] = np.nanmedian(np.abs(block - m), axis=0) * MAD_TO_SIGMA
    return med, mad, n


def _ns(ts: datetime | pd.Timestamp) -> int:
    return int(pd.Timestamp(ts).value)


def shift_table(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    specs: Sequence[MetricSpec],
    *,
    current_end: datetime,
    z_threshold: float,
    min_relative_change: float,
    sustain: timedelta,
    direction: Sequence[int] | None = None,
    seasonal: bool | None = None,
) -> pd.DataFrame:
    """Judge every series in ``specs`` with the anomaly scorer and the size gates; one row per series.

    See the module docstring for the rule. Series below half of both size gates are not scored
    (they cannot fail or warn); their ``score`` is their size score.

    Args:
        reference: long metrics of the reference window (``timestamp, component, metric, value``).
        current: long metrics of the current window.
        specs: the series to test (component, metric, kind, unit, higher_is_worse).
        current_end: end of the current window; the last ``sustain`` before it is the current level.
        z_threshold: size gate: the current level must be this many reference scales (MAD·1.4826,
            floored per kind) past the baseline to fail (half: warn).
        min_relative_change: size gate: smallest relative change that fails (half: warn).
        sustain: span whose median is the current level, so a shift must cover half of it;
            sparse series use at least their last 3 samples.
        direction: per spec, +1 (rise is bad), -1 (drop is bad) or 0 (both); default from
            ``higher_is_worse``.
        seasonal: compare the current level with the same clock time on earlier days; default:
            when the reference covers at least 23 h.

    Returns:
        A frame with :data:`SHIFT_COLUMNS`; ``status`` is ok, warn, fail or no_data.
    """
    specs = list(specs)
    if not specs:
        return pd.DataFrame(columns=SHIFT_COLUMNS)
    keys = pd.MultiIndex.from_tuples([(s.component, s.name) for s in specs], names=["component", "metric"])
    dirs = np.array([default_direction(s) for s in specs] if direction is None else list(direction), dtype=float)
    tr, R = _wide(reference, keys)
    tc, C = _wide(current, keys)
    end_ns = _ns(current_end)
    day_ns = int(timedelta(days=1).total_seconds() * 1e9)

    # Per-series sampling interval from the reference, so sparse (batch) series get >= 3 samples.
    n_ref_all = np.count_nonzero(~np.isnan(R), axis=0)
    ref_span = float(tr[-1] - tr[0]) if len(tr) > 1 else 0.0
    interval = np.where(n_ref_all > 1, ref_span / np.maximum(n_ref_all - 1, 1), 60e9)
    sustain_ns = np.maximum(float(sustain.total_seconds() * 1e9), 3 * interval)  # (S,)

    # Global baseline over the whole reference.
    g_med, g_mad, n_ref = _nan_location_scale(R)
    floors = np.array([kind_floor(s.kind, s.unit) for s in specs])

    def floor_scale(med: np.ndarray, mad: np.ndarray) -> np.ndarray:
        return np.fmax(np.fmax(mad, 1e-3 * np.abs(med)), floors)

    g_scale = floor_scale(g_med, g_mad)

    # Current level: median of each series over its own sustain span.
    in_sustain = tc[:, None] >= (end_ns - sustain_ns)[None, :]
    Cs = np.where(in_sustain, C, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        cur = np.nanmedian(Cs, axis=0) if len(tc) else np.full(len(specs), np.nan)
    n_cur = np.sum(~np.isnan(Cs), axis=0)
    del Cs, in_sustain

    def bad(z: np.ndarray) -> np.ndarray:
        return np.where(dirs == 0, np.abs(z), z * np.where(dirs == 0, 1.0, dirs))

    with np.errstate(divide="ignore", invalid="ignore"):
        g_z = (cur - g_med) / g_scale
    loc, scale, z = g_med.copy(), g_scale.copy(), g_z.copy()

    use_seasonal = seasonal if seasonal is not None else ref_span >= 23 * 3600e9
    seasonal_used = np.zeros(len(specs), dtype=bool)
    if use_seasonal and len(tr):
        half = int(SEASONAL_HALF_WIDTH.total_seconds() * 1e9)
        near = np.zeros(len(tr), dtype=bool)
        max_sustain = float(np.max(sustain_ns))
        for k in range(1, int(ref_span // day_ns) + 2):
            lo, hi = end_ns - k * day_ns - max_sustain - half, end_ns - k * day_ns + half
            near |= (tr >= lo) & (tr < hi)
        s_med, s_mad, s_n = _nan_location_scale(R[near])
        s_scale = floor_scale(s_med, s_mad)
        with np.errstate(divide="ignore", invalid="ignore"):
            s_z = (cur - s_med) / s_scale
        pick_s = (s_n >= 5) & np.isfinite(s_z)
        loc = np.where(pick_s, s_med, g_med)
        scale = np.where(pick_s, s_scale, g_scale)
        z = np.where(pick_s, s_z, g_z)
        seasonal_used = pick_s
        # The whole-day baseline must agree at half strength, so a blip at this time yesterday
        # does not make today's normal level look like a shift.
        g_cap = 2 * bad(g_z)
    else:
        g_cap = np.full(len(specs), np.inf)

    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(np.abs(loc) > 0, (cur - loc) / np.abs(loc), np.sign(cur - loc) * np.inf)
    bad_z = np.fmin(bad(z), g_cap)
    bad_rel = np.where(dirs == 0, np.abs(rel), rel * np.where(dirs == 0, 1.0, dirs))
    no_data = (n_cur == 0) | (n_ref < 3) | ~np.isfinite(z)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.minimum(bad_z / z_threshold, bad_rel / max(min_relative_change, 1e-12))
    ratio = np.nan_to_num(ratio, nan=0.0, posinf=1e6, neginf=0.0)
    size_score = np.clip(1.0 - 0.5 ** np.clip(ratio, 0.0, 60.0), 0.0, 1.0)
    big = ~no_data & (bad_z >= z_threshold) & (bad_rel >= min_relative_change)
    half_big = ~no_data & (bad_z >= z_threshold / 2) & (bad_rel >= min_relative_change / 2)

    # The scorer runs only where the size gates pass at half strength: elsewhere nothing can warn or fail.
    candidates = np.flatnonzero(half_big)
    onset_ns, alarmed, peak = _score_candidates(tr, R, tc, C, candidates, loc, cur, interval, ref_span >= 2 * day_ns)
    cold = n_ref_all < COLD_HISTORY  # too little history for the scorer to alarm: the size gates decide alone
    fail = big & (alarmed | cold)
    warn = half_big & ~fail
    status = np.where(no_data, "no_data", np.where(fail, "fail", np.where(warn, "warn", "ok")))
    score = np.where(np.isnan(peak) | cold, size_score, np.fmin(peak, size_score))
    score = np.where(fail, np.maximum(score, 0.5), np.minimum(score, 0.49))
    score = np.where(no_data, 0.0, score)
    onset = pd.Series(pd.to_datetime(np.where(fail | warn, onset_ns, _NAT).view("datetime64[ns]"), utc=True))

    return pd.DataFrame(
        {
            "component": [s.component for s in specs],
            "metric": [s.name for s in specs],
            "kind": [str(s.kind) for s in specs],
            "unit": [s.unit for s in specs],
            "direction": dirs.astype(int),
            "status": status,
            "current": cur,
            "baseline": loc,
            "scale": scale,
            "z": z,
            "bad_z": bad_z,
            "rel_change": rel,
            "score": score,
            "onset": onset,
            "n_reference": n_ref.astype(int),
            "n_current": n_cur.astype(int),
            "seasonal": seasonal_used,
            "sustain_min": sustain_ns / 60e9,
        }
    )


_NAT = np.iinfo(np.int64).min


def _score_candidates(
    tr: np.ndarray,
    R: np.ndarray,
    tc: np.ndarray,
    C: np.ndarray,
    cols: np.ndarray,
    baseline: np.ndarray,
    current: np.ndarray,
    interval: np.ndarray,
    seasonal: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Score the series ``cols`` over reference + current; return per series onset (ns), alarmed, peak score.

    Each series is scored on its own samples in time order (NaN rows dropped), so a batch series
    sampled every 15 minutes is a series of batches, not a mostly-empty minute grid. Series of one
    sampling interval share a seasonal period of one day in their own points (used when the
    reference covers two days). Blocks of :data:`_SCORE_COLUMNS` series bound the memory.
    """
    n = R.shape[1]
    onset_ns = np.full(n, _NAT, dtype=np.int64)
    alarmed = np.zeros(n, dtype=bool)
    peak = np.full(n, np.nan)
    if len(cols) == 0:
        return onset_ns, alarmed, peak
    times = np.concatenate([tr, tc])
    grid = float(np.median(np.diff(times))) if len(times) > 1 else 60e9
    steps = np.maximum(np.rint(interval / max(grid, 1.0)), 1.0)
    day_ns = timedelta(days=1).total_seconds() * 1e9
    for step in np.unique(steps[cols]):
        group = cols[steps[cols] == step]
        period = round(day_ns / (step * grid)) if seasonal else None
        period = period if period is not None and period >= 2 else None
        for j in range(0, len(group), _SCORE_COLUMNS):
            block = group[j : j + _SCORE_COLUMNS]
            X = np.concatenate([R[:, block], C[:, block]])
            # NaN rows first, then each series' samples in time order (a stable sort keeps the order).
            order = np.argsort(~np.isnan(X), axis=0, kind="stable")
            X = np.take_along_axis(X, order, axis=0)
            S = score_matrix(X, period)
            rows, hit = alarm_onset(S, X, baseline[block], current[block], since=0)
            found = rows >= 0
            onset_ns[block[found]] = times[order[rows[found], np.flatnonzero(found)]]
            alarmed[block] = hit
            with np.errstate(invalid="ignore"):
                since = np.where(found, rows, len(X))
                recent = np.where(np.arange(len(X))[:, None] >= since[None, :], S, np.nan)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                peak[block] = np.where(found, np.nanmax(recent, axis=0), 0.0)
    return onset_ns, alarmed, peak


def describe_shift(row: pd.Series) -> str:
    """Return the readable evidence sentence of one shift-table row."""
    unit = row["unit"] or ""
    if row["status"] == "no_data":
        return (
            f"{row['component']} {row['metric']}: no samples in the last {row['sustain_min']:.0f} min"
            if row["n_current"] == 0
            else f"{row['component']} {row['metric']}: too little reference data to judge"
        )
    basis = "same time on earlier days" if row["seasonal"] else "baseline"
    return (
        f"{row['component']} {row['metric']} median {fmt_num(row['current'], unit)} over the last "
        f"{row['sustain_min']:.0f} min vs {fmt_num(row['baseline'], unit)} {basis} "
        f"(robust z {row['z']:.1f}, {fmt_change(row['rel_change'])})"
    )


def shift_checks(
    table: pd.DataFrame,
    make: CheckFactory,
    *,
    z_threshold: float,
    subtype: str | None = None,
    fail_status: dict[str, CheckStatus] | None = None,
    check: str = "robust_shift",
) -> list[CheckResult]:
    """Turn a :func:`shift_table` into checks.

    Args:
        table: the shift table.
        make: the detector's check factory.
        z_threshold: threshold reported as evidence.
        subtype: subtype of every check; default the metric kind.
        fail_status: per kind, the status used instead of ``fail`` (e.g. freshness -> late).
        check: the check name.
    """
    out: list[CheckResult] = []
    fail_status = fail_status or {}
    for row in table.to_dict("records"):
        status = CheckStatus(row["status"])
        if status == CheckStatus.FAIL:
            status = fail_status.get(row["kind"], CheckStatus.FAIL)
        rel = row["rel_change"]
        sub = subtype or row["kind"]
        headline = f"{fmt_change(rel)} {row['metric']}"
        out.append(
            make(
                check=check,
                subtype=sub,
                component=row["component"],
                metric=row["metric"],
                status=status,
                statistic=row["current"],
                baseline=row["baseline"],
                threshold=z_threshold,
                score=float(row["score"]),
                onset=to_datetime(row["onset"]),
                message=describe_shift(pd.Series(row)),
                details={
                    "robust_z": _json(row["z"]),
                    "relative_change": _json(rel),
                    "scale": _json(row["scale"]),
                    "direction": int(row["direction"]),
                    "seasonal_baseline": bool(row["seasonal"]),
                    "n_reference": int(row["n_reference"]),
                    "n_current": int(row["n_current"]),
                    "unit": row["unit"],
                    "kind": row["kind"],
                    "headline": headline,
                    **(
                        {"reason": "missing" if row["n_current"] == 0 else "insufficient"}
                        if status == CheckStatus.NO_DATA
                        else {}
                    ),
                },
            )
        )
    return out


def _json(x: float) -> float | None:
    x = float(x)
    return x if np.isfinite(x) else None


def window_shift_checks(
    window: Window,
    specs: Sequence[MetricSpec],
    make: CheckFactory,
    *,
    z_threshold: float,
    min_relative_change: float,
    sustain: timedelta,
    direction: Sequence[int] | None = None,
    subtype: str | None = None,
    fail_status: dict[str, CheckStatus] | None = None,
) -> list[CheckResult]:
    """Test ``specs`` over a detection window's metrics (:func:`shift_table`) and return the checks."""
    if not specs:
        return []
    table = shift_table(
        window.reference.metrics,
        window.current.metrics,
        specs,
        current_end=window.current.end,
        z_threshold=z_threshold,
        min_relative_change=min_relative_change,
        sustain=sustain,
        direction=direction,
    )
    return shift_checks(table, make, z_threshold=z_threshold, subtype=subtype, fail_status=fail_status)
