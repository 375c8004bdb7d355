"""Change points: :func:`change_points` and :func:`onset`.

Change points (:func:`change_points`, :func:`onset`)
    PELT (Killick et al. 2012) with the Gaussian mean-change (L2) cost and a BIC-style penalty
    ``3·σ²·log n``, where σ = MAD(first differences) / (0.6745·√2) is immune to the level
    shifts being searched for. Values further than 3σ from a short running median are clipped
    first, so isolated spikes do not open segments. Changes in variance alone are not sought.
    :func:`onset` ranks the change points by the shift of the segment medians around them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rcaflows.detection.anomaly import _check_index

__all__ = ["change_points", "onset"]

_CP_PENALTY = 3.0


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
