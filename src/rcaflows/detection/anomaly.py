"""Anomaly scores: :func:`score_series` (one series) and :func:`score_matrix` (many at once).

The score is an *anomaly likelihood* in the sense of Numenta's HTM detector: not "how far is
this point from a forecast" but "how improbable is the recent behaviour under this series' own
longer-run behaviour", so that one threshold fixed in advance means the same on a spiky count, a
seasonal rate and a slow temperature. Every statistic at ``t`` uses points ``≤ t`` only: appending
points never changes a past score. All windows count points (not time), with fixed lengths that
never depend on the length of the input.

1. **Forecast residual** ``z`` (robust, causal; blocks of 8 points keep it cheap over thousands
   of series): level = median of the last 5 complete block medians (≈ 40 points; a level shift is
   absorbed after 24–31 points); optional season = median residual at ``t − P, t − 2P, t − 3P``
   (used once two periods of history exist); bias = median of the last 8 block medians of the
   residual (removes a trend's lag); scale = 1.47 × median of the last 16 block medians of
   ``|residual|``, floored at their RMS (sparse counts, heavy tails). ``z = residual / scale``.
2. **Three tail probabilities**, each a Gaussian tail of a statistic under the mean and standard
   deviation of the *same statistic* over a trailing window (this is the step that calibrates
   one series against itself):

   * *recent error*: the mean over the last 10 points of ``log(1 + |z|)`` against the last
     2,000 such means (Numenta's anomaly likelihood; the log tames heavy-tailed errors);
   * *point error*: ``|z|`` against the last 2,000 values of ``|z|`` (a lone large spike);
   * *level*: the mean of the last 10 values against the mean and deviation of the last 4,000
     values (a windowed Gaussian; catches slow drifts that the forecast follows).

   Each tail probability ``p`` becomes ``−log10(p) / D`` capped at 1, with ``D`` = 15, 30 and 10
   decades respectively: score 0.5 means ``p = 10^(−D/2)``. The point error is the most
   heavy-tailed statistic, so it must be the most improbable to count; the 10-point means are
   closer to Gaussian. The surprise is the largest of the three; it needs 200 points of history.
3. **Range novelty** (as HTM's "spatial anomaly"): a value outside the range of every earlier
   value, widened by 5 % of that range, scores 1 (after 100 points), unless another value did
   so within the previous 100 points (a drift to ever new extremes alarms once).
4. **Alarm, then adapt** (causal refractory state): NAB and on-call both charge every repeated
   alarm, and only the first moment of a level shift is news. A surprise counts in full only if
   it exceeds the largest surprise of the previous 400 points by 0.1; otherwise it is multiplied
   by ``1 − that maximum``. A shift thus scores high once; while it persists, the scores stay
   low, and a new, stronger anomaly still gets through.

**Meaning**: scores lie in [0, 1]; **0.5 is the default page-worthy level**: an event with a
tail probability of 10⁻⁵ (level), 10⁻⁷·⁵ (recent error) or 10⁻¹⁵ (single point) against the
series' own history, or a value outside its range so far. Above 0.8 is unmistakable; below 0.1
is ordinary (p ≳ 0.1). Pure noise reaches 0.5 on fewer than 0.4 points in 1,000 when it is
light-tailed (Gaussian, sparse or large Poisson counts, a daily cycle, a trend, a random walk;
mostly record values) and on about 1 in 1,000 when heavy-tailed (Student-t(3), lognormal).
The defaults were chosen once for all series (measured on NAB's development half: 58.9 at 0.5,
60.6 at the best corpus threshold, standard profile).

**Inputs**: missing (NaN) and infinite values score NaN and are skipped by every statistic.
Scores start once there is history: range novelty after 100 points, the tail probabilities
after 200 (about 225 for the error statistics, which wait for the forecast); earlier points,
constant series and series of fewer than 10 points score 0. ``score_series`` scores repeated
or backward timestamps in arrival order with a warning (one score per point, input order).
The result is invariant to ``x → a·x + b`` (a > 0) up to floating point and a 1e-9 scale floor.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view
from scipy import special

from rcaflows.detection.stats import _nanmedian
from rcaflows.errors import DataError

__all__ = ["alarm_onset", "score_matrix", "score_series"]

# forecast residual
_BLOCK = 8  # points per block; divides the common daily periods (24, 96, 144, 288, 1440)
_LEVEL_BLOCKS = 5
_BIAS_BLOCKS = 8
_SCALE_BLOCKS = 16
_MIN_SCALE_BLOCKS = 2
_SEASONS = 3  # past periods compared with
_KAPPA = 1.47  # median of block medians of |N(0,1)| residuals → σ (measured by simulation)
_RMS_FLOOR = 1.0  # of the median block RMS; ≈ 0.96σ on Gaussian noise
_Z_CAP = 1e6  # |z| beyond this is certain anyway; the cap keeps the running sums finite
# tail probabilities
_SHORT = 10  # points averaged by the recent-error and level statistics (Numenta's window)
_ERROR_WINDOW = 2000  # points of error history the error statistics are calibrated against
_LEVEL_WINDOW = 4000  # points of value history the level statistic is calibrated against
_MIN_HISTORY = 200  # reference values needed before a tail probability is trusted
_DECADES_RECENT = 15.0  # −log10 p that scores 1, per statistic (0.5 at half of it)
_DECADES_POINT = 30.0
_DECADES_LEVEL = 10.0
_RANGE_TOLERANCE = 0.05  # of the range seen so far
_RANGE_WARMUP = 100  # points before range novelty counts
_NOVELTY_REFRACTORY = 100  # points after a range novelty in which the next one is not news
# alarm, then adapt
_REFRACTORY = 400  # points an alarm damps the following surprises for
_RENEW = 0.1  # how much a surprise must beat the recent maximum to count in full
_CHUNK = 128  # series scored together
# onset of the current episode
ALARM = 0.5  # the page-worthy score
ONSET_PERSISTENCE = 0.8  # share of the way to the current level the mean since the onset must cover


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




def _residual_z(x: np.ndarray, lags: np.ndarray | None, seasonal_on: np.ndarray | None) -> np.ndarray:
    """Return the robust forecast residual z of a (T × N) array (NaN: missing or warm-up)."""
    t, _ = x.shape
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
        return np.where(absr == 0, 0.0, r / scale)


def _trailing_sums(a: np.ndarray, window: int, squares: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the count, sum and sum of squares (if asked, else an empty array) of the non-NaN
    values among the last ``window`` rows, including the current one.

    Without NaN the count is the same for every series and comes back as one (T × 1) column.
    """
    t = a.shape[0]
    w = min(window, t)

    def running(part: np.ndarray) -> np.ndarray:
        run = np.cumsum(part, axis=0, dtype=float)
        run[w:] -= run[: t - w].copy()  # rows t-window+1 … t (slices: cheaper than a gather)
        return run

    missing = np.isnan(a)
    if missing.any():
        count = running(~missing)
        a = np.where(missing, 0.0, a)
    else:
        count = np.minimum(np.arange(1.0, t + 1), w)[:, None]
    return count, running(a), running(np.square(a)) if squares else np.empty(0)


def _trailing_mean(a: np.ndarray, window: int) -> np.ndarray:
    """Return the mean of the non-NaN values among the last ``window`` rows (NaN if none)."""
    count, total, _ = _trailing_sums(a, window)
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / count


def _surprise(stat: np.ndarray, ref: np.ndarray, window: int, decades: float, two_sided: bool) -> np.ndarray:
    """Return ``−log10 P(N(μ, σ) ≥ stat) / decades`` in [0, 1], μ, σ from ``ref``'s last ``window`` rows.

    0 where fewer than ``_MIN_HISTORY`` reference values exist, ``stat`` is missing or at most μ.
    σ is floored at 1e-8 of the reference's RMS (the rounding of the running sums), so a
    constant reference makes any real departure certain (score 1).
    """
    count, mu, var = _trailing_sums(ref, window, squares=True)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        mu /= count
        var /= count  # the mean square, for now
        floor2 = 1e-16 * var
        var -= np.square(mu)
        np.maximum(var, floor2, out=var)
        dev = np.subtract(stat, mu, out=mu)
        if two_sided:
            np.abs(dev, out=dev)
        hit = (np.square(dev) > floor2) & (dev > 0) & (count >= _MIN_HISTORY)  # NaN compares False
        z = dev[hit] / np.sqrt(var[hit])
    score = np.zeros(stat.shape)
    score[hit] = special.log_ndtr(-z) / (-np.log(10.0) * decades)
    return np.minimum(score, 1.0, out=score)


def _range_novelty(x: np.ndarray) -> np.ndarray:
    """Return 1 where a value leaves the range of all earlier values by > _RANGE_TOLERANCE of it."""
    hi = np.fmax.accumulate(np.where(np.isnan(x), -np.inf, x), axis=0)
    lo = np.fmin.accumulate(np.where(np.isnan(x), np.inf, x), axis=0)
    nan_row = np.full((1, x.shape[1]), np.nan)
    hi = np.concatenate([nan_row, hi[:-1]])
    lo = np.concatenate([nan_row, lo[:-1]])
    seen = np.concatenate([np.zeros((1, x.shape[1])), np.cumsum(~np.isnan(x), axis=0)[:-1]])
    with np.errstate(invalid="ignore"):
        margin = _RANGE_TOLERANCE * (hi - lo)
        novel = ((x > hi + margin) | (x < lo - margin)) & (margin > 0) & (seen >= _RANGE_WARMUP)
    return novel.astype(float)


def _past_max(a: np.ndarray, k: int) -> np.ndarray:
    """Return the max of rows ``t-k … t-1`` for every row t (−inf for row 0), in O(T·N).

    van Herk / Gil–Werman over the array front-padded with k rows of −inf: per block of k rows,
    prefix and suffix maxima; a window is the suffix of one block and the prefix of the next,
    so only rows before t are read.
    """
    t, n = a.shape
    nb = -(-(t + k) // k)
    b = np.full((nb * k, n), -np.inf)
    b[k : k + t] = a
    blocks = b.reshape(nb, k, n)
    prefix = np.maximum.accumulate(blocks, axis=1).reshape(nb * k, n)
    suffix = np.maximum.accumulate(blocks[:, ::-1], axis=1)[:, ::-1].reshape(nb * k, n)
    i = np.arange(t)
    return np.maximum(suffix[i], prefix[i + k - 1])


def _alarm_then_adapt(s: np.ndarray) -> np.ndarray:
    """Keep a surprise only if it beats the last _REFRACTORY points' maximum by _RENEW, else damp it."""
    recent = np.maximum(_past_max(s, _REFRACTORY), 0.0)
    return np.where(s > recent + _RENEW, s, s * (1.0 - recent))


def _score_core(x: np.ndarray, lags: np.ndarray | None, seasonal_on: np.ndarray | None) -> np.ndarray:
    """Score a (T × N) float array; ``lags`` (S × T) holds past same-phase rows (-1: none)."""
    x = np.where(np.isfinite(x), x, np.nan)
    # centre on the first value: running sums of squares stay exact under x → a·x + b
    first = x[np.argmax(~np.isnan(x), axis=0), np.arange(x.shape[1])]
    xc = x - np.where(np.isnan(first), 0.0, first)
    z = np.abs(_residual_z(xc, lags, seasonal_on))
    np.minimum(z, _Z_CAP, out=z)
    recent_err = _trailing_mean(np.log1p(z), _SHORT)
    point_err = z
    level = _trailing_mean(xc, _SHORT)
    surprise = _surprise(recent_err, recent_err, _ERROR_WINDOW, _DECADES_RECENT, two_sided=False)
    np.maximum(surprise, _surprise(point_err, point_err, _ERROR_WINDOW, _DECADES_POINT, False), out=surprise)
    np.maximum(surprise, _surprise(level, xc, _LEVEL_WINDOW, _DECADES_LEVEL, two_sided=True), out=surprise)
    novel = _range_novelty(xc)
    novel[_past_max(novel, _NOVELTY_REFRACTORY) > 0] = 0.0  # a drift to ever new extremes alarms once
    score = np.maximum(_alarm_then_adapt(surprise), novel)
    return np.where(np.isnan(x), np.nan, score)


def score_matrix(values: np.ndarray, period: int | None = None) -> np.ndarray:
    """Score every point of many regularly sampled series at once (see the module docstring).

    Args:
        values: time × series array; NaN and ±inf are missing.
        period: seasonal period in points (e.g. 1440 for daily on minute data), or None.

    Returns:
        Array of the same shape with scores in [0, 1] (NaN where the value is missing).

    Raises:
        DataError: ``values`` is not 2-D or ``period`` is below 2.
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


def alarm_onset(
    scores: np.ndarray,
    values: np.ndarray,
    baseline: np.ndarray,
    current: np.ndarray,
    *,
    since: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Return, per series, the row where its current episode began and whether an alarm opened it.

    The one onset estimator of rcaflows: the hourly metric checks and the detectors' per-bucket
    rates read the start of a change here. A row *holds* when the mean of the series from it to
    the end covers at least :data:`ONSET_PERSISTENCE` of the way from ``baseline`` to
    ``current`` (the series has mostly sat at its current level since then, so an earlier blip
    that came back is not the start). The onset is the first alarm (``score ≥ 0.5``) at or
    after ``since`` that holds: the scorer alarms at the first point of a shift and then adapts,
    so that alarm dates it; as the alarm may answer a change of the last ``_SHORT`` points (a
    modest shift takes a few points to become improbable), the onset moves back to the first of
    them that holds and is past halfway to the current level. Without an alarm, it is the first
    row that holds and is itself past halfway to the current level (too little history to score,
    a change too gradual to be news at any one point, or one that began while the scorer was
    still adapting to an earlier alarm).
    That last case counts as alarmed: within :data:`_REFRACTORY` points of an alarm the scorer
    lets through only a stronger surprise (see "alarm, then adapt"), so a second shift of the
    same strength is part of the episode the first alarm opened.

    Args:
        scores: time × series scores (:func:`score_matrix`); NaN where the value is missing.
        values: the scored values, same shape.
        baseline: per series, the usual level.
        current: per series, the level now; a series with ``current == baseline`` has no episode.
        since: first row searched.

    Returns:
        ``(rows, alarmed)``: the onset row per series (-1: none) and whether it is an alarm's
        (an alarm at it, or within :data:`_REFRACTORY` points before it).
    """
    x = np.asarray(values, dtype=float)
    span = np.asarray(current, dtype=float) - np.asarray(baseline, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        way = (x - baseline) / span  # 0 at the usual level, 1 at the current one
    valid = np.isfinite(way)
    way = np.where(valid, way, 0.0)
    n_after = np.cumsum(valid[::-1], axis=0)[::-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_after = np.cumsum(way[::-1], axis=0)[::-1] / n_after
    holds = valid & (mean_after >= ONSET_PERSISTENCE) & (np.arange(len(x)) >= since)[:, None]
    alarms = np.nan_to_num(np.asarray(scores, dtype=float), nan=0.0) >= ALARM
    alarm = holds & alarms
    fallback = holds & (way >= 0.5)
    at_alarm = alarm.any(axis=0)
    first_alarm = np.argmax(alarm, axis=0)
    # An alarm may answer a change up to _SHORT points old (the recent-error statistic averages
    # them): date it at the first point of that span that already holds and is past halfway.
    t = np.arange(len(x))[:, None]
    build_up = fallback & (t > first_alarm - _SHORT) & (t <= first_alarm)
    first_alarm = np.where(build_up.any(axis=0), np.argmax(build_up, axis=0), first_alarm)
    rows = np.where(at_alarm, first_alarm, np.where(fallback.any(axis=0), np.argmax(fallback, axis=0), -1))
    # the last alarm at or before each row: is the fallback onset inside an alarm's refractory span?
    last = np.maximum.accumulate(np.where(alarms, np.arange(len(x))[:, None], -1), axis=0)
    before = last[np.maximum(rows, 0), np.arange(x.shape[1])]
    adapting = (rows >= 0) & (before >= 0) & (rows - before <= _REFRACTORY)
    return rows, at_alarm | adapting


def _check_index(index: pd.Index, where: str) -> pd.DatetimeIndex:
    """Return ``index`` as a DatetimeIndex after checking it is strictly increasing."""
    index = _as_datetime_index(index, where)
    ns = index.as_unit("ns").asi8
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


def _as_datetime_index(index: pd.Index, where: str) -> pd.DatetimeIndex:
    """Return ``index`` as a DatetimeIndex without NaT, or raise a DataError saying why not."""
    if not isinstance(index, pd.DatetimeIndex):
        if index.dtype == object and len(index) and all(isinstance(v, pd.Timestamp) for v in index):
            zones = {str(v.tz) for v in index}
            raise DataError(
                f"{where}: the index mixes timestamps of several time zones ({', '.join(sorted(zones))}); "
                "localize naive timestamps or convert all of them to one zone (tz_convert('UTC')) first"
            )
        raise DataError(f"{where}: expected a DatetimeIndex, got {type(index).__name__}")
    if index.hasnans:
        pos = int(np.flatnonzero(index.isna())[0])
        raise DataError(f"{where}: missing timestamp (NaT) at position {pos}")
    return index


def _clock(index: pd.DatetimeIndex, where: str) -> np.ndarray:
    """Return the index as ns since the epoch, made non-decreasing (warns when it was not increasing).

    Policy for real feeds: points are scored in arrival order, one score per point. A timestamp
    that goes back in time (a clock step, a daylight-saving repeat) is treated as arriving at the
    latest time seen so far, and repeated timestamps are scored as separate points. Both only
    matter for the seasonal look-up, which uses these times; the result stays causal.
    """
    ns = index.as_unit("ns").asi8
    step = np.diff(ns)
    back, same = int((step < 0).sum()), int((step == 0).sum())
    if back or same:
        first = int(np.flatnonzero(step <= 0)[0]) + 1
        warnings.warn(
            f"{where}: timestamps are not strictly increasing ({back} step(s) back in time, {same} repeated; "
            f"first at position {first}: {index[first]} after {index[first - 1]}); scoring in arrival order "
            "with each time taken as the latest seen so far",
            UserWarning,
            stacklevel=3,
        )
        ns = np.maximum.accumulate(ns)
    return ns


def score_series(series: pd.Series, *, period: str | pd.Timedelta | None = "1D") -> pd.Series:
    """Score every point of one series in [0, 1] causally; 0.5 is the page-worthy level.

    The method and the meaning of the score are in the module docstring; this shares its core
    with :func:`score_matrix`. Sampling may be irregular: windows count points, and the seasonal
    comparison looks up the past point nearest to ``t - k·period`` (within half the local
    sampling interval). Timestamps that repeat or go back in time are scored in arrival order
    with a warning (see :func:`_clock`), so there is always exactly one score per input point.

    Args:
        series: numeric values indexed by a DatetimeIndex (naive or tz-aware, not mixed).
        period: the seasonal period as a duration; None disables the seasonal term. It is used
            at a point once two periods of history exist and the last period holds ≥ 8 points.

    Returns:
        Scores on the same index, in the input order; NaN where the value is missing or infinite.

    Raises:
        DataError: the index is not a DatetimeIndex (or mixes time zones) or holds NaT, or the
            values are not numeric.
    """
    where = f"series {series.name!r}" if series.name is not None else "series"
    index = _as_datetime_index(series.index, where)
    if not (pd.api.types.is_numeric_dtype(series.dtype) or series.dtype == bool):
        raise DataError(f"{where}: values must be numeric, got dtype {series.dtype}; convert with pd.to_numeric")
    x = series.to_numpy(dtype=float, na_value=np.nan)
    if len(x) == 0:
        return pd.Series(x, index=series.index, name=series.name)
    lags = on = None
    if period is not None and len(x) > 1:
        p = pd.Timedelta(period).value
        if p <= 0:
            raise DataError(f"{where}: period must be a positive duration, got {period!r}")
        ns = _clock(index, where)
        on = (ns - ns[0]) >= 2 * p
        in_last_period = np.arange(len(ns)) - np.searchsorted(ns, ns - p, side="right") + 1
        on &= in_last_period >= 8
        if on.any():
            gap = np.diff(ns, prepend=ns[0] - 1)
            lag_rows = []
            for k in range(1, _SEASONS + 1):
                target = ns - k * p
                # the last point at or before the target among the past ones (times may repeat)
                j = np.clip(np.searchsorted(ns, target), 1, len(ns) - 1)
                nearer_left = (target - ns[j - 1]) <= (ns[j] - target)
                j = np.where(nearer_left, j - 1, j)
                ok = (np.abs(ns[j] - target) * 2 <= gap) & (target >= ns[0]) & (j < np.arange(len(ns)))
                lag_rows.append(np.where(ok, j, -1))
            lags = np.stack(lag_rows)
    elif len(x) > 1:
        _clock(index, where)  # the same warning without a seasonal term
    scores = _score_core(x[:, None], lags, on)[:, 0]
    return pd.Series(scores, index=series.index, name=series.name)
