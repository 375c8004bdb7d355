"""Statistical building blocks of detection: anomaly scores, change points, drift tests.

Anomaly scores (:func:`score_series`, :func:`score_matrix`)
    Causal robust standardisation; every statistic at time ``t`` uses points before ``t`` only.
    Points are grouped into blocks of ``_BLOCK`` (8) consecutive points, counted from the start.
    Block medians make the rolling statistics cheap enough to run over thousands of series at
    once, and a block is only used once it is complete and in the past, which keeps the scores
    causal: appending points never changes a past score.

    1. level: the median of the medians of the last 5 complete blocks (≈ 40 points). A level
       shift is absorbed once 3 of those 5 blocks are past it (24–31 points).
    2. season (optional, ``period`` points): the level residual minus the median of the level
       residuals at ``t - P, t - 2P, t - 3P`` (a mean when fewer are present), used once two
       periods of history exist. Residuals rather than raw values are compared, so a level
       shift that happened days ago does not return as a false seasonal alarm.
    3. bias: the median of the last 8 block medians of the seasonal residual, which removes
       the constant lag a trend leaves against a lagged median.
    4. scale: ``_KAPPA`` × the median of the last 16 block medians of ``|residual|``
       (≈ 128 points; ``_KAPPA`` makes it equal σ on Gaussian noise), floored at the median of
       the same blocks' root-mean-square residual and at ``1e-9·|level|``. The RMS floor is
       inactive on Gaussian noise; it matters for series that are mostly one repeated value
       (sparse counts, whose MAD is 0) and heavy tails, and a lone spike moves only one block.
    5. score: ``z⁴ / (z⁴ + 3⁴)`` with ``z = residual / scale``: |z| = 2 → 0.16, 3 → 0.5,
       4 → 0.76, 5 → 0.89, 6 → 0.94, 8 → 0.98. Scores start once two blocks of residuals
       exist (point 24); earlier points score 0.

    The result is invariant to ``x → a·x + b`` (a > 0) up to the tiny floor. Missing and
    infinite values score NaN and are skipped by every statistic.

Change points (:func:`change_points`, :func:`onset`)
    PELT (Killick et al. 2012) with the Gaussian mean-change (L2) cost and a BIC-style penalty
    ``3·σ²·log n``, where σ = MAD(first differences) / (0.6745·√2) is immune to the level
    shifts being searched for. Values further than 3σ from a short running median are clipped
    first, so isolated spikes do not open segments. Changes in variance alone are not sought.
    :func:`onset` ranks the change points by the shift of the segment medians around them.

Drift (:func:`detect_drift`)
    Numeric columns: two-sample Kolmogorov–Smirnov (asymptotic p-value) with effect size
    Wasserstein-1 / robust std of the reference (IQR/1.349, falling back to std), computed for
    all columns at once from one merge of the sorted samples; each side is capped at
    ``max_rows`` rows by a seeded subsample (n in the tens of thousands already detects any
    effect above ``min_effect``). A change of the null share is tested separately
    (two-proportion z-test; effect = absolute change of the share). Categorical columns
    (object, category, bool, string, or numeric with ≤ 10 distinct values): chi-square on the
    level counts (nulls are a level; levels beyond the top 50 pooled into ``__other__``, or
    ``__new__`` for levels the reference never had),
    effect = total variation distance. p-values are Benjamini–Hochberg adjusted across all
    tests; a column drifts when an adjusted p < ``alpha`` and its effect ≥ ``min_effect``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view
from scipy import special, stats

from rcaflows.errors import DataError

__all__ = [
    "bh_adjust",
    "change_points",
    "detect_drift",
    "onset",
    "robust_location_scale",
    "score_matrix",
    "score_series",
]

_BLOCK = 8  # points per block; divides the common daily periods (24, 96, 144, 288, 1440)
_LEVEL_BLOCKS = 5
_BIAS_BLOCKS = 8
_SCALE_BLOCKS = 16
_MIN_SCALE_BLOCKS = 2
_SEASONS = 3  # past periods compared with
_CHUNK = 128  # series scored together
_KAPPA = 1.47  # median of block medians of |N(0,1)| residuals → σ (measured by simulation)
_Z_HALF = 3.0  # |z| that scores 0.5
_RMS_FLOOR = 1.0  # of the median block RMS; ≈ 0.96σ on Gaussian noise
_HILL = 4  # steepness of the |z| → score map (hard-wired in _hill)
_CP_PENALTY = 3.0
_MAX_LEVELS = 50
_CATEGORICAL_MAX_DISTINCT = 10
_DRIFT_SEED = 0


# --------------------------------------------------------------------------- robust helpers


def robust_location_scale(x: np.ndarray, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Return the NaN-median and the floored MAD·1.4826 of ``x`` along ``axis``.

    The scale is at least ``max(1e-9, 1e-3·|median|)``, so a constant input yields a usable
    (tiny) scale instead of zero. An all-NaN slice yields NaN for both.
    """
    a = np.asarray(x, dtype=float)
    a = np.where(np.isfinite(a), a, np.nan)
    with np.errstate(all="ignore"):
        med = _nanmedian(np.moveaxis(a, axis, -1))
        mad = _nanmedian(np.abs(np.moveaxis(a, axis, -1) - med[..., None])) * 1.4826
        floor = np.maximum(1e-9, 1e-3 * np.abs(med))
    return med, np.where(np.isnan(mad), np.nan, np.maximum(mad, floor))


def _nanmedian(a: np.ndarray) -> np.ndarray:
    """Return the median over the last axis ignoring NaN (NaN where a slice is all NaN)."""
    s = np.sort(a, axis=-1)  # NaN sorts last
    n = (~np.isnan(s)).sum(axis=-1)
    lo = np.maximum((n - 1) // 2, 0)[..., None]
    hi = np.maximum(n // 2, 0)[..., None]
    with np.errstate(invalid="ignore"):
        med = 0.5 * (np.take_along_axis(s, lo, -1) + np.take_along_axis(s, hi, -1))[..., 0]
    return np.where(n > 0, med, np.nan)


def _median_of_few(arrays: list[np.ndarray]) -> np.ndarray:
    """Return the elementwise NaN-median of up to three arrays (0 where all are NaN)."""
    missing = [np.isnan(a) for a in arrays]
    n = np.full(arrays[0].shape, len(arrays), dtype=np.int8)
    total = np.zeros(arrays[0].shape)
    for a, m in zip(arrays, missing, strict=True):
        n -= m
        total += np.where(m, 0.0, a)
    with np.errstate(invalid="ignore", divide="ignore"):
        med = total / n
    if len(arrays) == 3:
        a, b, c = arrays
        total -= np.fmin(np.fmin(a, b), c)
        total -= np.fmax(np.fmax(a, b), c)
        np.copyto(med, total, where=n == 3)
    med[n == 0] = 0.0
    return med


def _hill(z: np.ndarray) -> np.ndarray:
    """Map |z| to [0, 1): 3 → 0.5, 8 → 0.98."""
    with np.errstate(over="ignore", invalid="ignore"):
        u2 = np.square(z / _Z_HALF)
        z4 = np.square(u2, out=u2)  # _HILL = 4, without the slow float power
        return np.where(np.isinf(z4), 1.0, z4 / (1.0 + z4))


# --------------------------------------------------------------------------- anomaly scores


def _blocks(a: np.ndarray) -> np.ndarray:
    """Return ``a`` (T × N) padded with NaN and shaped (blocks × N × _BLOCK)."""
    t, n = a.shape
    nb = -(-t // _BLOCK)
    pad = np.full((nb * _BLOCK - t, n), np.nan)
    return np.concatenate([a, pad]).reshape(nb, _BLOCK, n).transpose(0, 2, 1)


def _past_window(blocks: np.ndarray, k: int) -> np.ndarray:
    """Return for each block j the values of blocks ``j-k … j-1`` (nb × N × k, NaN-padded)."""
    nb, n = blocks.shape
    padded = np.concatenate([np.full((k, n), np.nan), blocks])
    return sliding_window_view(padded, k, axis=0)[:nb]


def _expand(per_block: np.ndarray, t: int) -> np.ndarray:
    """Repeat a per-block statistic (nb × N) for each of the block's points (T × N)."""
    return np.repeat(per_block, _BLOCK, axis=0)[:t]


def _score_core(x: np.ndarray, lags: np.ndarray | None, seasonal_on: np.ndarray | None) -> np.ndarray:
    """Score a (T × N) float array; ``lags`` (S × T) holds past same-phase rows (-1: none)."""
    t, _ = x.shape
    x = np.where(np.isfinite(x), x, np.nan)
    with np.errstate(all="ignore"):
        level = _expand(_nanmedian(_past_window(_nanmedian(_blocks(x)), _LEVEL_BLOCKS)), t)
        r = x - level
        if lags is not None and seasonal_on is not None and seasonal_on.any():
            padded = np.concatenate([r, np.full((1, r.shape[1]), np.nan)])  # row -1 is NaN
            rows = np.flatnonzero(seasonal_on)
            r[rows] -= _median_of_few([padded[lag[rows]] for lag in lags])
        bias = _expand(_nanmedian(_past_window(_nanmedian(_blocks(r)), _BIAS_BLOCKS)), t)
        r = r - np.where(np.isnan(bias), 0.0, bias)
        absr = np.abs(r)
        blocks = _blocks(absr)
        med_abs = _past_window(_nanmedian(blocks), _SCALE_BLOCKS)
        n_blocks = (~np.isnan(med_abs)).sum(axis=-1)
        scale = _KAPPA * _nanmedian(med_abs)
        block_rms = np.sqrt(np.nansum(np.square(blocks), axis=-1) / (~np.isnan(blocks)).sum(axis=-1))
        rms = _nanmedian(_past_window(block_rms, _SCALE_BLOCKS))
        scale = np.fmax(scale, _RMS_FLOOR * rms)
        scale = np.where(n_blocks >= _MIN_SCALE_BLOCKS, scale, np.nan)
        scale = _expand(scale, t)
        scale = np.maximum(scale, np.maximum(1e-9 * np.abs(level), np.finfo(float).tiny))
        z = np.where(absr == 0, 0.0, r / scale)
        score = _hill(z)
    score = np.where(np.isnan(score), 0.0, score)  # warm-up: no level or scale yet
    return np.where(np.isnan(x), np.nan, score)


def score_matrix(values: np.ndarray, period: int | None = None) -> np.ndarray:
    """Score every point of many regularly sampled series at once.

    Args:
        values: time × series array; NaN and ±inf are missing.
        period: seasonal period in points (e.g. 1440 for daily on minute data), or None.

    Returns:
        Array of the same shape with scores in [0, 1] (NaN where the value is missing).
    """
    x = np.asarray(values, dtype=float)
    if x.ndim != 2:
        raise DataError(f"score_matrix expects a 2-D time × series array, got shape {x.shape}")
    if period is not None and period < 2:
        raise DataError(f"score_matrix: period must be at least 2 points, got {period}")
    t = x.shape[0]
    if t == 0:
        return x.copy()
    lags = on = None
    if period is not None and t > 2 * period:
        idx = np.arange(t)
        lags = np.stack([idx - k * period for k in range(1, _SEASONS + 1)])
        lags[lags < 0] = -1
        on = idx >= 2 * period
    # Chunks of series bound the temporaries to a few MB: on 10,080 × 1,000 that is 3× faster
    # than one pass, whose 80 MB temporaries spend their time in page faults.
    out = np.empty_like(x)
    for j in range(0, x.shape[1], _CHUNK):
        out[:, j : j + _CHUNK] = _score_core(x[:, j : j + _CHUNK], lags, on)
    return out


def _check_index(index: pd.Index, where: str) -> pd.DatetimeIndex:
    """Return ``index`` as a DatetimeIndex after checking it is strictly increasing."""
    if not isinstance(index, pd.DatetimeIndex):
        raise DataError(f"{where}: expected a DatetimeIndex, got {type(index).__name__}")
    ns = index.as_unit("ns").asi8
    if index.hasnans:
        pos = int(np.flatnonzero(index.isna())[0])
        raise DataError(f"{where}: missing timestamp at position {pos}")
    step = np.diff(ns)
    if (step < 0).any():
        pos = int(np.flatnonzero(step < 0)[0]) + 1
        raise DataError(
            f"{where}: timestamps out of order at position {pos} ({index[pos]} after {index[pos - 1]}); "
            "sort the series by time first"
        )
    if (step == 0).any():
        pos = int(np.flatnonzero(step == 0)[0]) + 1
        raise DataError(
            f"{where}: duplicate timestamp {index[pos]} at positions {pos - 1} and {pos}; aggregate duplicates first"
        )
    return index


def score_series(series: pd.Series, *, period: str | pd.Timedelta | None = "1D") -> pd.Series:
    """Score every point of one series in [0, 1] (≈1 is page-worthy), causally.

    Sampling may be irregular: windows count points, and the seasonal comparison looks up the
    past point nearest to ``t - k·period`` (within half the local sampling interval).

    Args:
        series: values indexed by a strictly increasing DatetimeIndex (naive or tz-aware).
        period: the seasonal period as a duration; None disables the seasonal term. It is used
            at a point once two periods of history exist and the last period holds ≥ 8 points.

    Returns:
        Scores on the same index; NaN where the value is missing.

    Raises:
        DataError: the index is not a DatetimeIndex, unsorted, or holds duplicates.
    """
    where = f"series {series.name!r}" if series.name is not None else "series"
    index = _check_index(series.index, where)
    if not (pd.api.types.is_numeric_dtype(series.dtype) or series.dtype == bool):
        raise DataError(f"{where}: values must be numeric, got dtype {series.dtype}")
    x = series.to_numpy(dtype=float, na_value=np.nan)
    lags = on = None
    if period is not None and len(x) > 1:
        p = pd.Timedelta(period).value
        ns = index.as_unit("ns").asi8
        on = (ns - ns[0]) >= 2 * p
        in_last_period = np.arange(len(ns)) - np.searchsorted(ns, ns - p, side="right") + 1
        on &= in_last_period >= 8
        if on.any():
            gap = np.diff(ns, prepend=ns[0] - 1)
            lag_rows = []
            for k in range(1, _SEASONS + 1):
                target = ns - k * p
                j = np.clip(np.searchsorted(ns, target), 1, len(ns) - 1)
                nearer_left = (target - ns[j - 1]) <= (ns[j] - target)
                j = np.where(nearer_left, j - 1, j)
                ok = (np.abs(ns[j] - target) * 2 <= gap) & (target >= ns[0])
                lag_rows.append(np.where(ok, j, -1))
            lags = np.stack(lag_rows)
    scores = _score_core(x[:, None], lags, on)[:, 0]
    return pd.Series(scores, index=series.index, name=series.name)


# --------------------------------------------------------------------------- change points


def _noise_sigma(x: np.ndarray) -> float:
    """Return σ from the MAD of first differences (std of differences when the MAD is 0)."""
    d = np.diff(x)
    mad = float(np.median(np.abs(d - np.median(d))))
    sigma = mad / (0.6745 * np.sqrt(2.0))
    if sigma == 0.0:
        sigma = float(np.std(d)) / np.sqrt(2.0)
    return sigma


def change_points(series: pd.Series | np.ndarray, penalty: float | None = None, min_size: int = 5) -> list[int]:
    """Return the positions where a new mean segment starts (PELT, L2 cost).

    Args:
        series: values; NaN/±inf are dropped and positions refer to the original positions.
        penalty: cost of one extra change point; default ``3·σ²·log n`` with σ from the MAD of
            first differences.
        min_size: the shortest segment allowed.

    Returns:
        Sorted positions (never 0); [] for constant series or fewer than ``2·min_size`` points.
    """
    raw = np.asarray(series, dtype=float)
    finite = np.flatnonzero(np.isfinite(raw))
    x = raw[finite]
    n = len(x)
    min_size = max(int(min_size), 1)
    if n < 2 * min_size:
        return []
    x = x - np.median(x)
    sigma = _noise_sigma(x)
    if sigma == 0.0 and np.ptp(x) == 0.0:
        return []
    if sigma > 0.0:
        # Clip isolated outliers to 3σ around a short running median (it keeps steps and any
        # plateau of min_size points), so a lone spike does not become two change points.
        width = max(3, min_size - 1 + min_size % 2)
        smooth = pd.Series(x).rolling(width, center=True, min_periods=1).median().to_numpy()
        x = smooth + np.clip(x - smooth, -3 * sigma, 3 * sigma)
    if penalty is None:
        if sigma == 0.0:
            return []
        penalty = _CP_PENALTY * sigma**2 * np.log(n)
    s1 = np.concatenate([[0.0], np.cumsum(x)])
    s2 = np.concatenate([[0.0], np.cumsum(x * x)])
    f = np.full(n + 1, np.inf)
    f[0] = -penalty
    last = np.zeros(n + 1, dtype=np.int64)
    # candidate segment starts τ with their S1[τ] and F[τ] - S2[τ]; the loop minimises
    # F[τ] + cost(τ, t) - S2[t] = (F[τ] - S2[τ]) - (S1[t] - S1[τ])² / (t - τ)
    cand = np.zeros(n + 1)
    cand_s1 = np.zeros(n + 1)
    cand_g = np.zeros(n + 1)
    cand_g[0] = f[0]
    m = 1
    for t in range(min_size, n + 1):
        new = t - min_size
        if new >= min_size:
            cand[m], cand_s1[m], cand_g[m] = new, s1[new], f[new] - s2[new]
            m += 1
        d = s1[t] - cand_s1[:m]
        total = cand_g[:m] - d * d / (t - cand[:m])
        i = int(np.argmin(total))
        f[t] = total[i] + s2[t] + penalty
        last[t] = int(cand[i])
        # PELT pruning: a start whose cost already exceeds F[t] can never start the last segment
        keep = total <= total[i] + penalty
        if not keep.all():
            k = int(keep.sum())
            cand[:k], cand_s1[:k], cand_g[:k] = cand[:m][keep], cand_s1[:m][keep], cand_g[:m][keep]
            m = k
    cps: list[int] = []
    t = n
    while t > 0:
        t = int(last[t])
        if t > 0:
            cps.append(int(finite[t]))
    return sorted(cps)


def onset(series: pd.Series, baseline_end: pd.Timestamp | None = None) -> pd.Timestamp | None:
    """Return when the largest mean shift of ``series`` starts, or None without a change.

    The shift of a change point is ``|median(after) − median(before)| / σ`` over its two
    neighbouring segments. With ``baseline_end``, only changes after it count.
    """
    where = f"series {series.name!r}" if series.name is not None else "series"
    index = _check_index(series.index, where)
    values = series.to_numpy(dtype=float, na_value=np.nan)
    all_cps = change_points(values)
    cps = all_cps
    if baseline_end is not None:
        cps = [c for c in cps if index[c] > pd.Timestamp(baseline_end)]
    if not cps:
        return None
    bounds = [0, *all_cps, len(values)]
    best, best_shift = None, -1.0
    for c in cps:
        k = bounds.index(c)
        before = values[bounds[k - 1] : c]
        after = values[c : bounds[k + 1]]
        shift = abs(float(np.nanmedian(after)) - float(np.nanmedian(before)))
        if shift > best_shift:
            best, best_shift = c, shift
    return None if best is None else pd.Timestamp(index[best])


# --------------------------------------------------------------------------- drift


def bh_adjust(p: np.ndarray) -> np.ndarray:
    """Return Benjamini–Hochberg adjusted p-values; NaN stays NaN and is not counted."""
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    m = int(ok.sum())
    if m == 0:
        return out
    pv = p[ok]
    order = np.argsort(pv)
    ranked = pv[order] * m / np.arange(1, m + 1)
    ranked = np.minimum.accumulate(ranked[::-1])[::-1]
    adj = np.empty(m)
    adj[order] = np.minimum(ranked, 1.0)
    out[ok] = adj
    return out


def _is_categorical(s: pd.Series) -> bool:
    """Return True for object, category, bool and string columns."""
    return not pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype)


def _present(s: pd.Series) -> int:
    """Return the number of values that are neither null nor ±inf."""
    if pd.api.types.is_float_dtype(s.dtype):
        return int(np.isfinite(s.to_numpy(dtype=float, na_value=np.nan)).sum())
    return int(s.notna().sum())


def _subsample(n: int, cap: int, rng: np.random.Generator) -> np.ndarray | slice:
    """Return the rows to keep: all of them, or ``cap`` sorted random rows."""
    if n <= cap:
        return slice(None)
    return np.sort(rng.choice(n, size=cap, replace=False))


def _ks_numeric(ref: np.ndarray, cur: np.ndarray) -> dict[str, np.ndarray]:
    """Return KS statistic, p-value, W1/robust-std effect and distinct values per column.

    ``ref`` and ``cur`` are (columns × rows) float arrays; NaN is missing.
    """
    ra = np.sort(ref, axis=1)
    ca = np.sort(cur, axis=1)
    nr = (~np.isnan(ra)).sum(axis=1)
    nc = (~np.isnan(ca)).sum(axis=1)
    merged = np.concatenate([ra, ca], axis=1)
    order = np.argsort(merged, axis=1, kind="stable")  # merges two sorted runs in O(n)
    vals = np.take_along_axis(merged, order, axis=1)
    # NaNs sort last, so up to position nr + nc the ECDFs are counts of the points seen so far
    seen_r = np.cumsum(order < ra.shape[1], axis=1, dtype=np.int32)
    seen = np.arange(1, merged.shape[1] + 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        diff = np.abs(seen_r / nr[:, None] - (seen - seen_r) / nc[:, None])[:, :-1]
    gaps = np.diff(vals, axis=1)  # NaN past the last value
    run_end = gaps > 0  # the ECDFs are only compared after the last of tied values
    ks = np.max(diff, axis=1, where=run_end, initial=0.0)
    w1 = np.sum(diff * gaps, axis=1, where=run_end)
    distinct = run_end.sum(axis=1) + ((nr + nc) > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        en = np.sqrt(nr * nc / (nr + nc))
        p = special.kolmogorov(en * ks)

    # robust std of the reference: IQR / 1.349, falling back to the std
    def at(q: float) -> np.ndarray:
        return np.take_along_axis(ra, np.clip(np.round((nr - 1) * q).astype(int), 0, None)[:, None], 1)[:, 0]

    with np.errstate(all="ignore"):
        spread = (at(0.75) - at(0.25)) / 1.349
        mean = np.nansum(ra, axis=1) / nr
        std = np.sqrt(np.nansum(np.square(ra - mean[:, None]), axis=1) / nr)
        spread = np.where(spread > 0, spread, std)
        spread = np.maximum(np.nan_to_num(spread), np.maximum(1e-12, 1e-9 * np.abs(at(0.5))))
        effect = w1 / spread
    return {"statistic": ks, "p_value": p, "effect": effect, "distinct": distinct}


def _chi2_categorical(ref: pd.Series, cur: pd.Series) -> tuple[float, float, float]:
    """Return chi-square statistic, p-value and total variation distance of the level counts."""
    counts = pd.concat(
        [ref.value_counts(dropna=False), cur.value_counts(dropna=False)], axis=1, keys=["r", "c"]
    ).fillna(0.0)
    counts = counts[(counts["r"] + counts["c"]) > 0]
    table = counts.to_numpy(dtype=float)
    if len(table) > _MAX_LEVELS:
        order = table.sum(axis=1).argsort(kind="stable")[::-1]
        rest = table[order[_MAX_LEVELS:]]
        # the tail splits into levels the reference knows and levels it never saw, so a tail
        # that moves to new values (new users, new ids) is not hidden inside one bucket
        seen = rest[:, 0] > 0
        other, new = rest[seen].sum(axis=0), rest[~seen].sum(axis=0)
        table = np.vstack([table[order[:_MAX_LEVELS]], other[None, :], new[None, :]])
        table = table[table.sum(axis=1) > 0]
    col_tot = table.sum(axis=0)
    tvd = 0.5 * float(np.abs(table[:, 0] / col_tot[0] - table[:, 1] / col_tot[1]).sum())
    if len(table) < 2:
        return 0.0, 1.0, tvd
    expected = table.sum(axis=1, keepdims=True) * col_tot[None, :] / col_tot.sum()
    stat = float(((table - expected) ** 2 / expected).sum())
    p = float(stats.chi2.sf(stat, len(table) - 1))
    return stat, p, tvd


def detect_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    alpha: float = 0.001,
    min_effect: float = 0.1,
    columns: list[str] | None = None,
    *,
    max_rows: int = 20_000,
) -> pd.DataFrame:
    """Test every column of ``current`` against ``reference`` for a distribution change.

    Args:
        reference: the baseline rows.
        current: the rows under test.
        alpha: false discovery rate (Benjamini–Hochberg across all tests).
        min_effect: smallest effect that counts as drift (W1 in robust standard deviations,
            total variation distance, or change of the null share).
        columns: columns to test; default all columns of either frame.
        max_rows: per-side cap on rows used by the KS test (seeded subsample).

    Returns:
        One row per column: ``column, method, statistic, p_value, effect, drifted,
        n_reference, n_current``; ``p_value`` is BH-adjusted. ``method`` is ``ks``, ``chi2``,
        ``null_rate`` (only the null share moved), ``no_data`` (no values on either side, or
        a frame without rows) or
        ``schema`` (column missing on one side; always drifted). ``n_*`` count non-null values.
    """
    if columns is None:
        columns = list(dict.fromkeys([*reference.columns, *current.columns]))
    rows: dict[str, dict[str, object]] = {}
    tests: list[tuple[str, str, float, float, float]] = []  # column, method, stat, p, effect
    nr_all, nc_all = len(reference), len(current)
    numeric: list[str] = []
    non_null: dict[str, tuple[int, int]] = {}
    for col in columns:
        in_r, in_c = col in reference.columns, col in current.columns
        nr = _present(reference[col]) if in_r else 0
        nc = _present(current[col]) if in_c else 0
        rows[col] = {"column": col, "n_reference": nr, "n_current": nc}
        non_null[col] = (nr, nc)
        if not (in_r and in_c):
            rows[col].update(method="schema", statistic=np.nan, p_value=np.nan, effect=1.0, drifted=True)
        elif nr_all == 0 or nc_all == 0 or (nr == 0 and nc == 0):
            rows[col].update(method="no_data", statistic=np.nan, p_value=np.nan, effect=0.0, drifted=False)
        elif _is_categorical(reference[col]) or _is_categorical(current[col]):
            tests.append((col, "chi2", *_chi2_categorical(reference[col], current[col])))
        else:
            numeric.append(col)
    if numeric:
        rng = np.random.default_rng(_DRIFT_SEED)
        rsel = _subsample(nr_all, max_rows, rng)
        csel = _subsample(nc_all, max_rows, rng)
        ref = reference[numeric].to_numpy(dtype=float, na_value=np.nan)[rsel].T
        cur = current[numeric].to_numpy(dtype=float, na_value=np.nan)[csel].T
        ref = np.ascontiguousarray(np.where(np.isfinite(ref), ref, np.nan))  # rows of one column
        cur = np.ascontiguousarray(np.where(np.isfinite(cur), cur, np.nan))
        ks = _ks_numeric(ref, cur)
        for j, col in enumerate(numeric):
            nr, nc = non_null[col]
            if nr and nc and ks["distinct"][j] <= _CATEGORICAL_MAX_DISTINCT:
                tests.append((col, "chi2", *_chi2_categorical(reference[col], current[col])))
                continue
            if nr and nc:
                tests.append((col, "ks", float(ks["statistic"][j]), float(ks["p_value"][j]), float(ks["effect"][j])))
            # the null share: a feature that goes missing is drift even if its values do not move
            if nr_all and nc_all:
                k_r, k_c = nr_all - nr, nc_all - nc
                share_r, share_c = k_r / nr_all, k_c / nc_all
                pooled = (k_r + k_c) / (nr_all + nc_all)
                se = np.sqrt(pooled * (1 - pooled) * (1 / nr_all + 1 / nc_all))
                z = abs(share_c - share_r) / se if se > 0 else 0.0
                tests.append((col, "null_rate", z, float(2 * stats.norm.sf(z)), abs(share_c - share_r)))
    adjusted = bh_adjust(np.array([t[3] for t in tests], dtype=float))
    for (col, method, stat, _, effect), p_adj in zip(tests, adjusted, strict=True):
        hit = bool(p_adj < alpha and effect >= min_effect)
        row = rows[col]
        first = "method" not in row
        # keep the distribution test unless only the null share drifted
        if first or (hit and not row["drifted"]):
            row.update(method=method, statistic=stat, p_value=p_adj, effect=effect, drifted=hit)
    out = pd.DataFrame([rows[c] for c in columns])
    cols = ["column", "method", "statistic", "p_value", "effect", "drifted", "n_reference", "n_current"]
    if out.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    out = out[cols]
    out["drifted"] = out["drifted"].astype(bool)
    return out.reset_index(drop=True)
