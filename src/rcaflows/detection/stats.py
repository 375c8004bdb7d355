"""Statistical building blocks shared by detection: robust location/scale, NaN medians, FDR.

The scorers live in their own modules: :mod:`rcaflows.detection.anomaly` (anomaly scores),
:mod:`rcaflows.detection.changepoints` (change points, onsets), :mod:`rcaflows.detection.drift`
(distribution drift). Their public functions are re-exported here for existing callers.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "bh_adjust",
    "change_points",
    "detect_drift",
    "onset",
    "robust_location_scale",
    "score_matrix",
    "score_series",
]


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


# re-exports (after the helpers above: those modules import them from here)
from rcaflows.detection.anomaly import score_matrix, score_series  # noqa: E402
from rcaflows.detection.changepoints import change_points, onset  # noqa: E402
from rcaflows.detection.drift import detect_drift  # noqa: E402
