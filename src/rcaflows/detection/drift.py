"""Drift: :func:`detect_drift`, a per-column two-sample test with an effect size.

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
from scipy import special, stats

from rcaflows.detection.stats import bh_adjust

__all__ = ["detect_drift"]

_MAX_LEVELS = 50
_CATEGORICAL_MAX_DISTINCT = 10
_DRIFT_SEED = 0


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
