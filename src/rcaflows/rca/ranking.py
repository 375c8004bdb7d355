"""Robust, vectorized anomaly scoring of many metric series, and the public :func:`rank_root_causes`.

The scoring core (BARO-style, after Pham et al., FSE 2024) is shared by the public ranking API and
the statistical / component phases:

1. :func:`to_matrix` turns a long frame (``timestamp, component, metric, value``) into a
   ``T x N`` matrix on a regular time grid (any sampling interval; gaps stay NaN; samples that
   fall into one grid cell are averaged).
2. :func:`score_matrix` scores every series by its largest z in the anomalous period against
   the reference's mean and standard deviation (NSigma-style; no smoothing, so a 5-minute series
   with three points after the incident keeps its peak). With a separate baseline period the
   deviation must also hold against the series' own level just before the incident, so a
   difference between two traffic periods is not a cause. A series constant in the reference
   gets a 1e-9 scale: any move of it is strong evidence. The onset is the first sample, at or
   before the peak, from which the z stays beyond ``threshold``.
   :func:`score_with_lookback` lets a column whose clear shift was already under way before the
   incident time start where it began, so the top cause does not flip with the exact minute an
   operator passes (detection, SLO violation, or a guess up to ``LOOKBACK`` late).
3. :func:`rank_components` (the one metric ranking: :func:`rank_root_causes` and the RCA flow's
   component phase both use it) sums each component's evidence ``z / (z + Z_EVIDENCE)`` over its
   series (breadth counts, and no single series can dominate), adds ``CALLER_SUPPORT`` of its
   direct callers' summed evidence (up to its own) when a topology is given (a fault propagates
   to every caller), discounts components that moved later than the first mover they are connected to,
   and demotes victims whose dependency moved earlier (``VICTIM_FACTOR``) or with them.

Measured on the 78 real incidents of ``../shared/data/rca`` (``python ../shared/eval/devscore.py rca``):
Avg@5 .623 (AC@1 .449) against NSigma .49 (.33); petshop .650 (.31), nezha OB .968 (.88), nezha TT
.171 (.14). The top-cause confidence, calibrated on the same incidents, has an expected calibration
error of .021 in-sample and .078 under 5-fold cross-validation (mean of 20 splits;
``bench/rca_calibrate.py``).

Everything is whole-array numpy: no Python loop runs over points or series.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from importlib import resources
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
import yaml

from rcaflows.data import METRIC_COLUMNS, check_frame
from rcaflows.errors import DataError
from rcaflows.rca.models import RankedCause
from rcaflows.timeutil import utc

#: robust z at which a series counts as anomalous
Z_THRESHOLD = 3.0
#: robust z that maps to a score of 0.5
Z_HALF = 8.0
#: samples the smoothed z must stay beyond the threshold to mark an onset
SUSTAIN = 3
#: relative change (of the baseline median) below which a deviation is scaled down
MIN_EFFECT = 0.1
#: share of the samples between onset and peak that must be beyond the threshold
ONSET_SHARE = 0.8
#: width of the centred rolling mean (samples)
SMOOTH = 5
#: largest grid the matrix may have (rows); coarser steps are used beyond it
MAX_ROWS = 20_000
#: smallest scale, as a share of the reference mean (0: only a 1e-9 floor, so a series that was
#: constant in the reference and then moved counts as strongly anomalous, as it should)
SCALE_FLOOR = 0.0
#: z at which one series gives half of its evidence to its component (evidence = z / (z + Z_EVIDENCE))
Z_EVIDENCE = 30.0
#: a component gets this share of its anomalous direct callers' summed evidence (up to its own):
#: a fault propagates to every caller, so an anomaly that explains more callers' is better supported
CALLER_SUPPORT = 0.5
#: baseline rows used for the median/IQR (evenly spaced when there are more)
MAX_BASE = 400
#: onset delay scale in grid steps (a component k steps after the first mover keeps 1 / (1 + k / LATE_STEPS))
LATE_STEPS = 5.0
#: how far before the incident time a shift that is still on may have begun (the incident time
#: can be the detection or SLO-violation time, well after the cause moved)
LOOKBACK = pd.Timedelta(minutes=60)
#: the first reach of that look-back (see :func:`score_with_lookback`)
SHORT_LOOKBACK = pd.Timedelta(minutes=10)
#: share of its score a victim (a dependency moved earlier) keeps
VICTIM_FACTOR = 0.7
#: share of its score a component keeps when it moved together (within a step) with a direct dependency
COMOVING_FACTOR = 0.7
#: onset differences up to this many grid steps are no order (samples of one move can land one
#: step apart; the victim rule uses the same tolerance)
LATE_TOL = 1.0
#: a component whose deviation never held ``SUSTAIN`` samples (a spike) ranks as if it moved this
#: many steps after the first mover, once the anomalous period is long enough to tell (at least
#: ``SPIKE_ROWS * SUSTAIN`` samples; with a few 5-minute samples a real shift need not be sustained)
SPIKE_LATE = 2 * LATE_STEPS
SPIKE_ROWS = 4
#: softmax temperature over the final scores that gives the raw confidence (1: no sharpening; the
#: top probability then separates right from wrong rankings best on the development incidents)
SOFTMAX_T = 1.0
#: no ranking from metrics alone is ever certain: the calibrated confidence is capped here
MAX_CONFIDENCE = 0.95


@lru_cache(maxsize=1)
def rank_calibration() -> tuple[np.ndarray, np.ndarray]:
    """Return the isotonic map (raw top-cause confidence -> observed accuracy) stored in ``rules.yaml``."""
    text = resources.files("rcaflows.rca").joinpath("rules.yaml").read_text(encoding="utf-8")
    cal = (yaml.safe_load(text) or {}).get("rank_calibration") or {}
    xs, ys = np.asarray(cal.get("raw", [0.0, 1.0]), float), np.asarray(cal.get("calibrated", [0.0, 1.0]), float)
    return xs, ys


def raw_confidence(final: np.ndarray) -> np.ndarray:
    """Return the uncalibrated confidences: a softmax over the final scores."""
    w = np.exp((final - final.max()) / SOFTMAX_T)
    return w / w.sum()


def calibrated_confidence(final: np.ndarray) -> np.ndarray:
    """Return confidences whose best value follows the fitted calibration map (they sum to at most 1).

    The best candidate gets ``interp(raw_best)`` on the isotonic map fitted on the development
    incidents (``bench/rca_calibrate.py``); the others keep their raw ratios to it, scaled down
    when needed so that all sum to at most 1: a runner-up never shows the top's confidence.
    """
    raw = raw_confidence(final)
    xs, ys = rank_calibration()
    best = int(np.argmax(raw))
    top = float(np.clip(np.interp(raw[best], xs, ys), 0.0, MAX_CONFIDENCE))
    rest = float(raw.sum() - raw[best])
    scale = top / max(float(raw[best]), 1e-300)
    if rest > 0:
        scale = min(scale, (1.0 - top) / rest)
    out = raw * scale
    out[best] = top
    return out


@dataclass(frozen=True)
class Matrix:
    """Metric series on a shared regular time grid: ``values[t, j]`` is series ``j`` at ``times[t]``."""

    times: pd.DatetimeIndex
    values: np.ndarray
    components: np.ndarray
    metrics: np.ndarray

    @property
    def keys(self) -> list[tuple[str, str]]:
        """Return the ``(component, metric)`` of every column."""
        return list(zip(self.components.tolist(), self.metrics.tolist(), strict=True))

    @property
    def step(self) -> pd.Timedelta:
        """Return the grid step (1 minute for an empty or one-row grid)."""
        if len(self.times) < 2:
            return pd.Timedelta(minutes=1)
        return pd.Timedelta(self.times[1] - self.times[0])

    def frame(self) -> pd.DataFrame:
        """Return the matrix as a wide frame with ``(component, metric)`` columns."""
        cols = pd.MultiIndex.from_arrays([self.components, self.metrics], names=["component", "metric"])
        return pd.DataFrame(self.values, index=self.times, columns=cols)


def _codes(col: pd.Series, period: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Return integer codes and uniques of a string column.

    Fast paths avoid hashing a million strings: categorical columns, data grouped by series
    (contiguous runs) and time-major data that repeats the same ``period`` keys at every timestamp.
    """
    if isinstance(col.dtype, pd.CategoricalDtype):
        codes = col.cat.codes.to_numpy()
        return codes.astype(np.int64), np.asarray(col.cat.categories, dtype=object)
    if hasattr(col.array, "__arrow_array__"):
        return _arrow_codes(col, period)
    values = col.to_numpy(dtype=object)
    n = len(values)
    if n > 1:
        starts = np.flatnonzero(values[1:] != values[:-1]) + 1
        if len(starts) < n // 20:
            starts = np.concatenate([[0], starts])
            head_codes, uniques = pd.factorize(values[starts])
            lengths = np.diff(np.append(starts, n))
            return np.repeat(head_codes, lengths).astype(np.int64), np.asarray(uniques, dtype=object)
        if 1 < period < n and bool((values[period:] == values[:-period]).all()):
            head_codes, uniques = pd.factorize(values[:period])
            return np.resize(head_codes.astype(np.int64), n), np.asarray(uniques, dtype=object)
    codes, uniques = pd.factorize(values)
    return codes.astype(np.int64), np.asarray(uniques, dtype=object)


def _arrow_codes(col: pd.Series, period: int) -> tuple[np.ndarray, np.ndarray]:
    """Return codes and uniques of an Arrow-backed string column without making Python strings.

    pandas 3 stores strings in Arrow: converting a million of them to Python objects costs more
    than the whole ranking, so the layout checks and the encoding run in Arrow compute kernels.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = col.array.__arrow_array__()
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    n = len(arr)
    if arr.null_count:
        arr = pc.fill_null(arr.cast(pa.string()), "")
    if 1 < period < n and pc.all(pc.equal(arr.slice(period), arr.slice(0, n - period))).as_py():
        head = arr.slice(0, period).dictionary_encode()
        codes = head.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        return np.resize(codes, n), np.asarray(head.dictionary.to_pylist(), dtype=object)
    if n > 1:
        change = pc.not_equal(arr.slice(1), arr.slice(0, n - 1)).to_numpy(zero_copy_only=False)
        starts = np.flatnonzero(change) + 1
        if len(starts) < n // 20:
            starts = np.concatenate([[0], starts])
            heads = arr.take(pa.array(starts)).dictionary_encode()
            head_codes = heads.indices.to_numpy(zero_copy_only=False).astype(np.int64)
            lengths = np.diff(np.append(starts, n))
            return np.repeat(head_codes, lengths), np.asarray(heads.dictionary.to_pylist(), dtype=object)
    enc = arr.dictionary_encode()
    return enc.indices.to_numpy(zero_copy_only=False).astype(np.int64), np.asarray(
        enc.dictionary.to_pylist(), dtype=object
    )


def _ns(ts: pd.Series) -> np.ndarray:
    """Return UTC timestamps as int64 nanoseconds."""
    arr = ts.array
    unit = getattr(arr, "unit", "ns")
    i8 = np.asarray(arr.asi8, dtype=np.int64)
    factor = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}[unit]
    return i8 * factor if factor != 1 else i8


def to_matrix(
    long: pd.DataFrame,
    where: str = "metrics",
    *,
    step: pd.Timedelta | None = None,
    origin: pd.Timestamp | None = None,
) -> Matrix:
    """Pivot long metrics to a regular grid.

    Args:
        long: frame with columns ``timestamp`` (timezone-aware), ``component``, ``metric``, ``value``.
        where: name used in error messages.
        step: grid step; estimated from the median sampling interval of the series when None.
        origin: grid origin; the first timestamp when None.

    Raises:
        DataError: missing columns, naive timestamps or a non-numeric ``value``.
    """
    long = check_frame(long, METRIC_COLUMNS, where)
    col = long["value"]
    if pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype):
        value = col.to_numpy(dtype=float, na_value=np.nan)
    else:
        value = pd.to_numeric(col, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    ok = np.isfinite(value)
    if not ok.all():
        long, value = long.loc[ok], value[ok]
    if long.empty:
        return Matrix(
            pd.DatetimeIndex([], tz="UTC"),
            np.empty((0, 0)),
            np.array([], dtype=object),
            np.array([], dtype=object),
        )
    t = _ns(long["timestamp"])
    # rows sharing the first timestamp: the period of a time-major layout
    period = int(np.argmax(t != t[0])) if len(t) > 1 and (t != t[0]).any() else 0
    comp_codes, comps = _codes(long["component"], period)
    met_codes, mets = _codes(long["metric"], period)
    pair = comp_codes * len(mets) + met_codes
    present = np.bincount(pair, minlength=len(comps) * len(mets)) > 0
    key_uniques = np.flatnonzero(present)
    lookup = np.cumsum(present) - 1
    key_codes = lookup[pair]
    n_keys = len(key_uniques)
    t0 = int(origin.value) if origin is not None else int(t.min())
    t1 = int(t.max())
    if step is None:
        # The typical sampling interval: median over series of (last - first) / (samples - 1).
        # (estimated on up to 64 evenly chosen series: plenty for a median)
        chosen = np.zeros(n_keys, dtype=bool)
        chosen[np.linspace(0, n_keys - 1, min(n_keys, 64)).astype(np.int64)] = True
        sample = chosen[key_codes]
        kc, ts_ = key_codes[sample], t[sample]
        counts = np.bincount(kc, minlength=n_keys)
        lo = np.full(n_keys, np.iinfo(np.int64).max)
        hi = np.full(n_keys, np.iinfo(np.int64).min)
        np.minimum.at(lo, kc, ts_)
        np.maximum.at(hi, kc, ts_)
        multi = counts > 1
        if multi.any():
            step_ns = int(np.median((hi[multi] - lo[multi]) / (counts[multi] - 1)))
        else:
            step_ns = 60_000_000_000
        # Snap to whole seconds so that regularly sampled data lands exactly on the grid.
        step_ns = max(1_000_000_000, round(step_ns / 1e9) * 1_000_000_000)
    else:
        step_ns = int(pd.Timedelta(step).value)
    n_rows = int((t1 - t0) // step_ns) + 1
    if n_rows > MAX_ROWS:
        step_ns = int(np.ceil((t1 - t0) / (MAX_ROWS - 1)))
        n_rows = int((t1 - t0) // step_ns) + 1
    rows = (t - t0 + step_ns // 2) // step_ns
    keep = (rows >= 0) & (rows < n_rows)
    if not keep.all():
        rows, key_codes, value = rows[keep], key_codes[keep], value[keep]
    flat = rows * n_keys + key_codes
    size = n_rows * n_keys
    counts = np.bincount(flat, minlength=size)
    if counts.max(initial=0) <= 1:
        mat = np.full(size, np.nan)
        mat[flat] = value
    else:
        sums = np.bincount(flat, weights=value, minlength=size)
        with np.errstate(invalid="ignore", divide="ignore"):
            mat = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    times = pd.DatetimeIndex(pd.to_datetime(t0 + step_ns * np.arange(n_rows), utc=True))
    return Matrix(
        times=times,
        values=mat.reshape(n_rows, n_keys),
        components=comps[key_uniques // len(mets)],
        metrics=mets[key_uniques % len(mets)],
    )


def align(matrix: Matrix, keys: list[tuple[str, str]]) -> np.ndarray:
    """Return ``matrix.values`` with columns reordered to ``keys`` (NaN where a key is absent)."""
    index = {k: i for i, k in enumerate(matrix.keys)}
    out = np.full((len(matrix.times), len(keys)), np.nan)
    src = [index.get(k, -1) for k in keys]
    have = [j for j, s in enumerate(src) if s >= 0]
    if have:
        out[:, have] = matrix.values[:, [src[j] for j in have]]
    return out


def smooth(values: np.ndarray, width: int = SMOOTH) -> np.ndarray:
    """Return a centred, NaN-aware rolling mean along axis 0."""
    if width <= 1 or len(values) == 0:
        return values.copy()
    half = width // 2
    finite = np.isfinite(values)
    all_finite = bool(finite.all())
    filled = values if all_finite else np.where(finite, values, 0.0)
    n, m = values.shape
    cs = np.zeros((n + width, m))
    np.cumsum(filled, axis=0, out=cs[half + 1 : half + 1 + n])
    cs[half + 1 + n :] = cs[half + n]
    s = cs[width : width + n] - cs[:n]
    if all_finite:
        idx = np.arange(n)
        c = (np.minimum(idx + half, n - 1) - np.maximum(idx - half, 0) + 1)[:, None]
        return s / c
    cn = np.zeros((n + width, m))
    np.cumsum(finite, axis=0, out=cn[half + 1 : half + 1 + n])
    cn[half + 1 + n :] = cn[half + n]
    c = cn[width : width + n] - cn[:n]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(c > 0, s / np.maximum(c, 1), np.nan)
    return np.where(finite, out, np.nan)


def ffill(values: np.ndarray) -> np.ndarray:
    """Forward-fill NaN along axis 0 (series sampled more coarsely than the grid hold their value)."""
    finite = np.isfinite(values)
    if finite.all() or len(values) == 0:
        return values
    idx = np.where(finite, np.arange(len(values))[:, None], 0)
    np.maximum.accumulate(idx, axis=0, out=idx)
    out = np.take_along_axis(values, idx, axis=0)
    return out


def nan_quantiles(values: np.ndarray, qs: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Return per-column quantiles (rows = ``qs``) ignoring NaN, and the count of finite values."""
    n = np.isfinite(values).sum(axis=0)
    if values.shape[0] == 0:
        return np.full((len(qs), values.shape[1]), np.nan), n
    srt = np.sort(values, axis=0)  # NaN sorts last
    out = np.empty((len(qs), values.shape[1]))
    top = np.maximum(n - 1, 0)
    for i, q in enumerate(qs):
        pos = q * top
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, top)
        frac = pos - lo
        vlo = np.take_along_axis(srt, lo[None, :], axis=0)[0]
        vhi = np.take_along_axis(srt, hi[None, :], axis=0)[0]
        out[i] = vlo + (vhi - vlo) * frac
    out[:, n == 0] = np.nan
    return out, n


def z_to_score(z: np.ndarray | float) -> np.ndarray:
    """Map a robust z to a score in [0, 1] (``Z_HALF`` maps to 0.5)."""
    za = np.nan_to_num(np.abs(np.asarray(z, dtype=float)), nan=0.0)
    return za**2 / (za**2 + Z_HALF**2)


@dataclass(frozen=True)
class Scores:
    """Per-series result of :func:`score_matrix` (arrays of length N, aligned with the keys)."""

    keys: list[tuple[str, str]]
    z: np.ndarray  # largest |robust z| of the smoothed series in the anomalous period
    direction: np.ndarray  # +1 rise, -1 drop
    score: np.ndarray  # z mapped to [0, 1]
    onset: np.ndarray  # datetime64[ns] (NaT when the series never stays beyond the threshold)
    onset_clamped: np.ndarray  # True when the onset is the first anomalous sample (it may be earlier)
    base_median: np.ndarray
    base_scale: np.ndarray
    cur_median: np.ndarray
    n_base: np.ndarray
    n_cur: np.ndarray
    zs: np.ndarray  # T_cur x N smoothed robust z in the anomalous period
    times: pd.DatetimeIndex  # anomalous-period times

    def frame(self) -> pd.DataFrame:
        """Return the per-series results as a frame indexed by ``(component, metric)``."""
        idx = pd.MultiIndex.from_tuples(self.keys, names=["component", "metric"]) if self.keys else None
        return pd.DataFrame(
            {
                "z": self.z,
                "direction": self.direction,
                "score": self.score,
                "onset": pd.to_datetime(self.onset, utc=True),
                "onset_clamped": self.onset_clamped,
                "base_median": self.base_median,
                "base_scale": self.base_scale,
                "cur_median": self.cur_median,
                "n_base": self.n_base,
                "n_cur": self.n_cur,
            },
            index=idx,
        )


def score_matrix(
    keys: list[tuple[str, str]],
    times: pd.DatetimeIndex,
    values: np.ndarray,
    split: int,
    baseline: np.ndarray | None = None,
    *,
    threshold: float = Z_THRESHOLD,
    sustain: int = SUSTAIN,
    min_effect: float = MIN_EFFECT,
    starts: np.ndarray | None = None,
) -> Scores:
    """Score every column of ``values`` against its baseline.

    Args:
        keys: ``(component, metric)`` of every column.
        times: row times of ``values``.
        values: ``T x N`` matrix.
        split: first row of the anomalous period; rows before it are the baseline unless
            ``baseline`` is given.
        baseline: optional ``Tb x N`` matrix of known-normal data (same columns).
        threshold: robust z that counts as anomalous.
        sustain: samples the z must stay beyond ``threshold`` to mark an onset.
        min_effect: relative change of the baseline median below which the z is scaled down
            proportionally (0 disables it).
        starts: optional first anomalous row of every column (each at most ``split``, see
            :func:`continuing_starts`): a column's reference then ends, and its anomalous period
            begins, at its own start.
    """
    sm = ffill(values)  # unsmoothed: a 5-minute series with three points after the incident keeps its peak
    pre = sm[:split]
    base = ffill(baseline) if baseline is not None else pre
    n_cols = values.shape[1]
    lo = split
    if starts is not None and len(starts) and int(starts.min()) < split:
        # A shift already under way before `split` (an incident time given late): the column's
        # reference stops where the shift began, so the shift is measured, not averaged into the reference.
        lo = int(starts.min())
        rows = np.arange(len(sm))[:, None]
        pre = np.where(rows[:split] < starts[None, :], pre, np.nan)
        if baseline is None:
            base = pre
        cur = np.where(rows[lo:] >= starts[None, :], sm[lo:], np.nan)
    else:
        starts = None
        cur = sm[split:]
    # Location and scale of the reference: mean and std (what NSigma uses; on real incidents it
    # ranks better than median/IQR, whose zero IQR on sparse counts turns every blip into z = 1e9).
    stride = max(1, len(base) // MAX_BASE)
    sample = base[::stride]
    n_base = np.isfinite(base).sum(axis=0)
    with warnings.catch_warnings(), np.errstate(invalid="ignore", all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: handled below
        mean = np.nanmean(sample, axis=0)
        scale = np.nanstd(sample, axis=0)
        (med,), _ = nan_quantiles(sample, (0.5,))
        # A separate baseline can come from another day or another traffic level: a series must
        # then deviate from it *and* from its own level just before the incident (the rows before
        # `split`), so a whole-system difference between the two periods is not mistaken for a cause.
        pre_mean = np.nanmean(pre, axis=0) if baseline is not None and len(pre) else np.full(n_cols, np.nan)
    floor = np.maximum(SCALE_FLOOR * np.abs(np.nan_to_num(mean)), 1e-9)
    scale = np.where(np.isfinite(scale) & (scale > floor), scale, floor)
    with np.errstate(invalid="ignore"):
        zs = (cur - mean) / scale
        zp = (cur - pre_mean) / scale
        zs = np.where(np.isfinite(zp) & (np.abs(zp) < np.abs(zs)), zp, zs)
    absz = np.abs(zs)
    n_cur = np.isfinite(cur).sum(axis=0)
    has = (n_cur > 0) & (n_base > 0)
    filled = np.where(np.isfinite(absz), absz, -1.0)
    arg = filled.argmax(axis=0) if len(cur) else np.zeros(n_cols, dtype=np.int64)
    zmax = np.where(has & (len(cur) > 0), filled[arg, np.arange(n_cols)] if len(cur) else 0.0, 0.0)
    zmax = np.maximum(zmax, 0.0)
    direction = np.sign(zs[arg, np.arange(n_cols)]) if len(cur) else np.zeros(n_cols)
    direction = np.nan_to_num(direction)
    if min_effect > 0 and len(cur):
        # Practical significance: a shift smaller than `min_effect` of the baseline level (e.g.
        # a null rate of 0.50 % -> 0.52 %) is scaled down however many sigmas it is.
        peak_dev = np.abs(zmax * scale)
        with np.errstate(invalid="ignore", divide="ignore"):
            rel = np.where(np.abs(med) > 1e-12, peak_dev / np.abs(med), np.inf)
        zmax = zmax * np.clip(np.nan_to_num(rel, nan=1.0, posinf=np.inf) / min_effect, 0.0, 1.0)
    # Onset: the first row, at or before the peak, from which |z| stays beyond the threshold (at
    # least ONSET_SHARE of the rows up to the peak, and `sustain` rows in a row at the start).
    onset = np.full(n_cols, np.datetime64("NaT"), dtype="datetime64[ns]")
    clamped = np.zeros(n_cols, dtype=bool)
    sel = np.flatnonzero(has & (zmax >= threshold))  # only anomalous series have an onset
    if len(cur) and len(sel):
        n_cur_rows = len(cur)
        rows_idx = np.arange(n_cur_rows)
        az = absz[:, sel]
        beyond = az >= threshold
        cs = np.zeros((n_cur_rows + 1, len(sel)), dtype=np.int32)
        np.cumsum(beyond, axis=0, out=cs[1:])
        m = max(1, min(sustain, n_cur_rows))
        ends = np.minimum(rows_idx + m, n_cur_rows)
        run_ok = (cs[ends] - cs[rows_idx]) >= (ends - rows_idx)[:, None]
        peak = arg[sel]
        count_to_peak = cs[peak + 1, np.arange(len(sel))][None, :] - cs[rows_idx]
        length = (peak[None, :] - rows_idx[:, None] + 1).astype(float)
        share_ok = count_to_peak >= ONSET_SHARE * length
        ok = beyond & run_ok & share_ok & (rows_idx[:, None] <= peak[None, :])
        first = np.where(ok.any(axis=0), ok.argmax(axis=0), -1)
        ct = times[lo:].to_numpy(dtype="datetime64[ns]")
        valid = first >= 0
        onset[sel[valid]] = ct[first[valid]]
        own = (starts[sel] - lo) if starts is not None else 0
        clamped[sel] = valid & (first <= own)
    (cur_med,), _ = nan_quantiles(cur[:: max(1, len(cur) // 200)], (0.5,))
    return Scores(
        keys=keys,
        z=zmax,
        direction=direction,
        score=z_to_score(zmax),
        onset=onset,
        onset_clamped=clamped,
        base_median=med,
        base_scale=scale,
        cur_median=cur_med,
        n_base=n_base,
        n_cur=n_cur,
        zs=zs,
        times=times[lo:],
    )


def continuing_starts(
    values: np.ndarray,
    split: int,
    back: int,
    baseline: np.ndarray | None = None,
    *,
    threshold: float = Z_HALF,
    sustain: int = SUSTAIN,
    min_effect: float = MIN_EFFECT,
    min_ref: int = 3,
) -> np.ndarray:
    """Return each column's first anomalous row: ``split``, or earlier when a shift was already on.

    Operators pass the detection time, the SLO-violation time or a guess, often minutes after the
    cause moved. A column whose every row from some ``r`` (at most ``back`` rows before ``split``)
    through ``sustain`` rows after ``split`` lies beyond
    ``threshold`` of the reference before ``r`` had already shifted at ``r``: it starts there (the
    earliest such ``r``), so the shift is scored against the data before it instead of being
    averaged into the reference. A past blip that ended before ``split`` does not qualify.
    """
    n_rows, n_cols = values.shape
    starts = np.full(n_cols, split, dtype=np.int64)
    first = max(min_ref if baseline is None else 1, split - back)
    last = split - 1
    end = min(n_rows, split + sustain)
    if n_cols == 0 or last < first or end <= split:
        return starts
    x = ffill(values[:end])
    finite = np.isfinite(x)
    x0 = np.where(finite, x, 0.0)
    c1 = np.zeros((end + 1, n_cols))
    c2 = np.zeros((end + 1, n_cols))
    cn = np.zeros((end + 1, n_cols))
    np.cumsum(x0, axis=0, out=c1[1:])
    np.cumsum(x0 * x0, axis=0, out=c2[1:])
    np.cumsum(finite, axis=0, out=cn[1:])
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        b_mean = np.nanmean(baseline, axis=0) if baseline is not None else None
        b_scale = np.nanstd(baseline, axis=0) if baseline is not None else None
        for r in range(last, first - 1, -1):  # latest first: the earliest qualifying start wins
            n = cn[r]
            mean = c1[r] / np.maximum(n, 1)
            scale = np.sqrt(np.maximum(c2[r] / np.maximum(n, 1) - mean * mean, 0.0))
            ref_mean = mean if b_mean is None else b_mean
            if b_scale is not None:
                scale = b_scale
            scale = np.where(np.isfinite(scale) & (scale > 1e-9), scale, 1e-9)
            dev = np.abs(x[r:end] - ref_mean)
            if b_mean is not None:  # against the baseline and against the level just before
                dev = np.minimum(dev, np.abs(x[r:end] - mean))
            z = dev / scale
            if min_effect > 0:
                rel = dev / np.where(np.abs(ref_mean) > 1e-12, np.abs(ref_mean), np.nan)
                z = z * np.clip(np.nan_to_num(rel, nan=1.0, posinf=1.0) / min_effect, 0.0, 1.0)
            ok = (np.nan_to_num(z, nan=0.0) >= threshold).all(axis=0) & (n >= (min_ref if b_mean is None else 1))
            starts = np.where(ok, r, starts)
    return starts


def fmt_time(ts: Any) -> str:
    """Render a timestamp as ``HH:MM`` UTC (``YYYY-MM-DD HH:MM`` is in the details)."""
    if ts is None or pd.isna(ts):
        return "unknown"
    return (
        pd.Timestamp(ts).tz_convert("UTC").strftime("%H:%M")
        if pd.Timestamp(ts).tzinfo
        else pd.Timestamp(ts).strftime("%H:%M")
    )


def fmt_num(x: float) -> str:
    """Render a number compactly (3 significant digits)."""
    if x is None or not np.isfinite(x):
        return "n/a"
    return f"{x:.3g}"


def victims(
    topology: nx.DiGraph,
    onsets: dict[str, pd.Timestamp | None],
    tolerance: pd.Timedelta,
) -> dict[str, tuple[str, pd.Timedelta]]:
    """Return ``{component: (dependency, lead)}`` for components with an earlier-anomalous dependency.

    A dependency is any topology descendant (``u -> v``: u depends on v).  ``lead`` is how much
    earlier the earliest such dependency moved.
    """
    out: dict[str, tuple[str, pd.Timedelta]] = {}
    for comp, onset in onsets.items():
        if onset is None or comp not in topology:
            continue
        best: tuple[str, pd.Timedelta] | None = None
        for dep in nx.descendants(topology, comp):
            d_on = onsets.get(dep)
            if d_on is None:
                continue
            lead = onset - d_on
            if lead > tolerance and (best is None or lead > best[1]):
                best = (dep, lead)
        if best is not None:
            out[comp] = best
    return out


def rank_root_causes(
    metrics: pd.DataFrame,
    incident_time: Any,
    baseline: pd.DataFrame | None = None,
    topology: nx.DiGraph | None = None,
) -> list[RankedCause]:
    """Rank components by how likely they caused an incident that began at ``incident_time``.

    Each series is scored by its largest z (mean/std of the reference) after ``incident_time``,
    reaching back to shifts that were already under way when the time was given late
    (:func:`score_with_lookback`), and components are ranked by :func:`rank_components`, the same
    ranking the RCA flow's ``component`` phase uses. Confidence is a softmax over the final scores,
    mapped through the isotonic calibration stored in ``rules.yaml`` (fitted once on the 78
    development incidents by ``bench/rca_calibrate.py``).

    Args:
        metrics: long metrics ``timestamp`` (UTC), ``component``, ``metric``, ``value``; any
            sampling interval, gaps allowed.
        incident_time: timezone-aware time the incident began (or was detected).
        baseline: known-normal metrics in the same format; when None the data before
            ``incident_time`` is used, or the first third of the data if nothing precedes it.
        topology: optional dependency graph, edge ``u -> v`` when u depends on v.

    Returns:
        Causes ordered best first (only components with a z of at least 3); empty when nothing
        deviates (all-constant metrics, a single sample, no data after the incident time).

    Raises:
        DataError: malformed frames, a naive ``incident_time``, or an ``incident_time`` after the
            last sample or before the first one.
    """
    try:
        t_inc = pd.Timestamp(utc(incident_time))
    except (ValueError, TypeError) as exc:
        raise DataError(f"rank_root_causes: incident_time: {exc}") from None
    mat = to_matrix(metrics, "rank_root_causes: metrics")
    if mat.values.size == 0:
        return []
    base_vals: np.ndarray | None = None
    if baseline is not None:
        bmat = to_matrix(baseline, "rank_root_causes: baseline", step=mat.step)
        base_vals = align(bmat, mat.keys)
        if bmat.values.size and not np.isfinite(base_vals).any():
            raise DataError(
                "rank_root_causes: baseline: no (component, metric) series in common with the metrics "
                f"(baseline has e.g. {', '.join(f'{c}/{m}' for c, m in bmat.keys[:3])}; metrics have e.g. "
                f"{', '.join(f'{c}/{m}' for c, m in mat.keys[:3])}); pass a baseline of the same system"
            )
    split, notes = incident_split(mat, t_inc, base_vals is not None, "rank_root_causes")
    if base_vals is None and split >= len(mat.times):
        return []
    sc = score_with_lookback(mat, split, base_vals)
    return _rank_components(sc, mat.step, topology, notes)


def incident_split(mat: Matrix, t_inc: pd.Timestamp, has_baseline: bool, where: str) -> tuple[int, list[str]]:
    """Return the first row at or after ``t_inc`` and notes on how the reference was chosen.

    Without a baseline and with fewer than three rows before ``t_inc``, the first third of the data
    serves as reference (and a note says so).

    Raises:
        DataError: ``t_inc`` after the last sample, or more than one grid step before the first
            one (the data would hold no reference and no onset; that is a wrong time or window,
            not evidence).
    """
    times = mat.times
    if t_inc > times[-1]:
        raise DataError(
            f"{where}: incident_time {t_inc.isoformat()} is after the last sample "
            f"({times[-1].isoformat()}); pass metrics that cover the incident"
        )
    if t_inc < times[0] - mat.step:
        raise DataError(
            f"{where}: incident_time {t_inc.isoformat()} is before the first sample "
            f"({times[0].isoformat()}); pass metrics from before the incident, or the incident's time"
        )
    split = int(times.searchsorted(t_inc, side="left"))
    notes: list[str] = []
    if not has_baseline and split < 3:
        split = max(1, len(times) // 3)
        notes.append(
            f"no data before the incident time; the first third of the data (to "
            f"{fmt_time(times[split - 1])}) served as baseline"
        )
    return split, notes


def score_with_lookback(mat: Matrix, split: int, base_vals: np.ndarray | None) -> Scores:
    """Score ``mat`` from ``split``, reaching back to shifts that were already under way.

    A clear shift that began before the split and is still on starts its column's anomalous period
    (:func:`continuing_starts`). The reach grows in steps of ``SHORT_LOOKBACK``, up to
    ``LOOKBACK``, only while the incident looks older than the reach: nothing deviates clearly (no
    z of ``Z_HALF``: a reference that already holds the shift hides it), or a shift starts within
    ``SUSTAIN`` rows of the reach's edge (it may have begun before). A fresh fault at the incident
    time keeps the short reach, so an older, unrelated shift is not dug up as its cause.
    """
    step = mat.step
    short = max(1, int(SHORT_LOOKBACK / step))
    longest = max(short, int(LOOKBACK / step))
    reach = short
    while True:
        starts = continuing_starts(mat.values, split, reach, base_vals)
        sc = score_matrix(mat.keys, mat.times, mat.values, split, base_vals, starts=starts)
        edge = split - reach
        if reach >= longest or edge <= 0:
            return sc
        clear = len(sc.z) > 0 and float(np.max(sc.z)) >= Z_HALF
        at_edge = bool((starts[starts < split] <= edge + SUSTAIN).any())
        if clear and not at_edge:
            return sc
        reach = min(longest, reach + short)


def _component_arrays(sc: Scores) -> dict[str, Any]:
    """Return per-component arrays: its most deviating series, its onset and its summed evidence.

    The onset of a component is the earliest onset among its series that deviate at least half as
    much as its worst one (and beyond the threshold).
    """
    comps = np.array([k[0] for k in sc.keys], dtype=object)
    mets = np.array([k[1] for k in sc.keys], dtype=object)
    codes, uniq = pd.factorize(comps)
    n = len(uniq)
    z_all = np.nan_to_num(sc.z, nan=0.0)
    zmax = np.full(n, -1.0)
    np.maximum.at(zmax, codes, z_all)
    is_best = z_all >= zmax[codes]
    best_idx = np.full(n, -1)
    best_idx[codes[is_best][::-1]] = np.flatnonzero(is_best)[::-1]
    strong = (z_all >= np.maximum(Z_THRESHOLD, 0.5 * zmax[codes])) & ~np.isnat(sc.onset)
    big = np.iinfo(np.int64).max
    on_i8 = np.where(strong, sc.onset.astype("datetime64[ns]").view("i8"), big)
    first = np.full(n, big)
    np.minimum.at(first, codes, on_i8)
    onset = np.where(first == big, np.datetime64("NaT", "ns"), first.view("datetime64[ns]"))
    anomalous = z_all >= Z_THRESHOLD
    n_anom = np.bincount(codes, weights=anomalous, minlength=n).astype(int)
    others: list[list[tuple[str, float]]] = [[] for _ in range(n)]
    for j in np.flatnonzero(anomalous & ~np.isin(np.arange(len(z_all)), best_idx)):
        others[codes[j]].append((str(mets[j]), float(z_all[j])))
    for lst in others:
        lst.sort(key=lambda t: -t[1])
        del lst[3:]
    # each series contributes at most 1: one wild series (a counter that was constant in the
    # reference) cannot outweigh a component where latency, errors and throughput all moved
    evidence = np.bincount(codes, weights=z_all / (z_all + Z_EVIDENCE), minlength=n)
    return {
        "component": uniq.astype(object),
        "metric": mets[best_idx],
        "z": zmax,
        "direction": sc.direction[best_idx],
        "cur_median": sc.cur_median[best_idx],
        "base_median": sc.base_median[best_idx],
        "onset": onset,
        "n_anomalous": n_anom,
        "others": others,
        "evidence": evidence,
    }


def caller_support(comps: np.ndarray, evidence: np.ndarray, topology: nx.DiGraph | None) -> np.ndarray:
    """Return ``CALLER_SUPPORT`` × the summed evidence of each component's direct callers (capped at its own).

    Summed rather than the loudest caller's: of two anomalous dependencies behind one loud caller
    (a service and the load balancer its caller sees it through), the one that also explains its
    other callers' anomalies is the better supported root.
    """
    out = np.zeros(len(comps))
    if topology is None or CALLER_SUPPORT == 0:
        return out
    ev = dict(zip(comps.tolist(), evidence.tolist(), strict=True))
    for i, comp in enumerate(comps.tolist()):
        if comp in topology:
            callers = sum(ev.get(p, 0.0) for p in topology.predecessors(comp) if p != comp)
            out[i] = CALLER_SUPPORT * min(callers, ev[comp])
    return out


def _connected_groups(topology: nx.DiGraph, comps: list[str]) -> list[int]:
    """Return the weakly connected part of ``topology`` each component belongs to (-1 when absent)."""
    index: dict[str, int] = {}
    for i, part in enumerate(nx.weakly_connected_components(topology)):
        for node in part:
            index[node] = i
    return [index.get(c, -1) for c in comps]


def rank_components(sc: Scores, step: pd.Timedelta, topology: nx.DiGraph | None) -> list[dict[str, Any]]:
    """Return the anomalous components (z of at least ``Z_THRESHOLD``) ranked best first.

    The one metric ranking of rcaflows: :func:`rank_root_causes` returns it, and the ``component``
    phase of the RCA flow turns it into the findings synthesis orders. Each component's score is
    its summed per-series evidence plus ``CALLER_SUPPORT`` of its direct callers' summed evidence,
    divided by ``1 + late / LATE_STEPS`` (``late``: grid steps beyond ``LATE_TOL`` after the first
    mover it is connected to; a spike that never held counts ``SPIKE_LATE``), times
    ``VICTIM_FACTOR`` when a dependency in ``topology`` moved earlier (:func:`victims`, the one
    victim rule) or ``COMOVING_FACTOR`` when a direct dependency moved within the same step.

    Returns:
        One record per component: ``component``, ``metric`` (its most deviating series), ``z``,
        ``direction``, ``cur_median``, ``base_median``, ``onset`` (Timestamp or NaT),
        ``n_anomalous``, ``others``, ``evidence``, ``support``, ``late``, ``victim_of`` and ``lead``
        (None unless a victim), ``comoving_with`` (None unless it moved with a direct dependency)
        and ``score``.
    """
    if not sc.keys:
        return []
    arr = _component_arrays(sc)
    keep = np.flatnonzero(arr["z"] >= Z_THRESHOLD)
    if not len(keep):
        return []
    support = caller_support(arr["component"], arr["evidence"], topology)[keep]
    cols: dict[str, Any] = {k: (v[keep] if isinstance(v, np.ndarray) else [v[i] for i in keep]) for k, v in arr.items()}
    onset: np.ndarray = cols["onset"]
    known = ~np.isnat(onset)
    late = np.zeros(len(keep))
    comps: list[str] = cols["component"].tolist()
    if known.any():
        # Onset order: a component that moved k grid steps after the earliest one keeps
        # 1 / (1 + k / LATE_STEPS) of its evidence, so a loud follower rarely outranks the first mover.
        # With a topology only a mover it is connected to counts: an unrelated job that happened
        # to move first explains nothing about it.
        i8 = np.where(known, onset.astype("datetime64[ns]").astype(np.int64), np.iinfo(np.int64).max)
        first = np.full(len(keep), int(i8.min()))
        if topology is not None and topology.number_of_nodes():
            group = _connected_groups(topology, comps)
            for g_id in set(group) - {-1}:
                members = np.array([x == g_id for x in group])
                first[members] = int(i8[members].min())
        late = np.where(known, np.clip((i8 - first) / step.value - LATE_TOL, 0.0, None), 0.0)
    if len(sc.times) >= SPIKE_ROWS * SUSTAIN:
        late = np.where(known, late, SPIKE_LATE)
    score = (cols["evidence"] + support) / (1.0 + late / LATE_STEPS)
    stamps = [None if np.isnat(o) else pd.Timestamp(o, tz="UTC") for o in onset]
    demote = victims(topology, dict(zip(comps, stamps, strict=True)), tolerance=step) if topology is not None else {}
    is_victim = np.array([c in demote for c in comps], dtype=bool)
    # a component whose dependency moved earlier is more likely suffering than failing
    score = np.where(is_victim, score * VICTIM_FACTOR, score)
    # moving together with a direct dependency (within a step): the dependency is the likelier root
    with_dep: list[str | None] = [None] * len(comps)
    if topology is not None:
        on = dict(zip(comps, stamps, strict=True))
        for i, c in enumerate(comps):
            if is_victim[i] or c not in topology or stamps[i] is None:
                continue
            with_dep[i] = next(
                (
                    d
                    for d in sorted(topology.successors(c))
                    if d != c and (t := on.get(d)) is not None and abs(stamps[i] - t) <= step
                ),
                None,
            )
    comoving = np.array([d is not None for d in with_dep], dtype=bool)
    score = np.where(comoving, score * COMOVING_FACTOR, score)
    order = np.argsort(-score, kind="stable")
    out: list[dict[str, Any]] = []
    for i in order.tolist():
        c = comps[i]
        out.append(
            {
                "component": c,
                "metric": str(cols["metric"][i]),
                "z": float(cols["z"][i]),
                "direction": float(cols["direction"][i]),
                "cur_median": float(cols["cur_median"][i]),
                "base_median": float(cols["base_median"][i]),
                "onset": pd.NaT if stamps[i] is None else stamps[i],
                "n_anomalous": int(cols["n_anomalous"][i]),
                "others": cols["others"][i],
                "evidence": float(cols["evidence"][i]),
                "support": float(support[i]),
                "late": float(late[i]),
                "victim_of": demote[c][0] if c in demote else None,
                "lead": demote[c][1] if c in demote else None,
                "comoving_with": with_dep[i],
                "score": float(score[i]),
            }
        )
    return out


def metric_sentence(row: Any) -> str:
    """Return the evidence sentence of a ranked component's most deviating series."""
    arrow = "rose" if row["direction"] > 0 else "fell"
    onset = row["onset"]
    return (
        f"{row['component']}/{row['metric']} {arrow} to {fmt_num(row['cur_median'])} (baseline median "
        f"{fmt_num(row['base_median'])}, z {row['z']:.1f})"
        + (f", first sustained deviation at {fmt_time(onset)} UTC" if not pd.isna(onset) else "")
    )


def victim_sentence(row: Any) -> str:
    """Return why a ranked component looks like a victim (empty when it does not)."""
    if row["victim_of"] is None:
        return ""
    return (
        f"likely a victim: its dependency {row['victim_of']} moved "
        f"{row['lead'] / pd.Timedelta(minutes=1):.0f} min earlier"
    )


def _rank_components(
    sc: Scores, step: pd.Timedelta, topology: nx.DiGraph | None, notes: list[str]
) -> list[RankedCause]:
    ranked = rank_components(sc, step, topology)
    if not ranked:
        return []
    final = np.array([r["score"] for r in ranked])
    conf = calibrated_confidence(final)
    out: list[RankedCause] = []
    for i, row in enumerate(ranked):
        ev = [metric_sentence(row)]
        if row["others"]:
            ev.append("also deviating: " + ", ".join(f"{m} (z {z:.1f})" for m, z in row["others"]))
        if row["victim_of"] is not None:
            ev.append(victim_sentence(row))
        ev.extend(notes)
        out.append(
            RankedCause(
                component=row["component"],
                metric=row["metric"],
                score=row["score"],
                confidence=float(np.clip(conf[i], 0.0, 1.0)),
                evidence=ev,
                onset=onset_or_none(row["onset"]),
            )
        )
    return out


def onset_or_none(value: Any) -> datetime | None:
    """Return a python datetime for a timestamp-like value, or None for NaT/None."""
    if value is None or pd.isna(value):
        return None
    ts = pd.Timestamp(value)
    if ts.tzinfo is None:
        ts = ts.tz_localize("UTC")
    return ts.to_pydatetime(warn=False)
