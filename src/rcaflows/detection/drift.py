"""Drift: :func:`detect_drift`, per-column two-sample tests gated by a practical-significance rule.

A column drifts when both hold:

1. **The change is real.** Its p-value, Benjamini–Hochberg adjusted across the tested columns,
   is below ``alpha``; a column's p-value is the smallest of its tests times their number
   (Bonferroni). Numeric columns: two-proportion z-tests of the share of values at or below
   17 reference quantiles (0.1 % … 99.9 %; a binned KS that weighs the tails by their variance;
   cuts expected fewer than 5 times on a side are skipped) on a seeded subsample of at most
   ``max_rows`` rows per side, Welch's test of the mean and a two-proportion test of the null
   share on every row. Categorical columns (object, string, category, bool, or numeric with at
   most 10 distinct values): chi-square on the level counts (null is a level; levels expected
   fewer than 5 times on a side pooled into one) and a z-test of each pooled level's share.
2. **The change matters.** One effect reaches its bar in :class:`DriftRule`. The bars are set
   once, at about half the smallest change a data team must hear about (a share moving 3
   points, a mean moving 0.1 sd, a tail stretching ×2), so that at 100,000 rows estimation
   noise neither hides those changes nor promotes ones a third their size:

   ===================  ======================================================  =====
   aspect               size                                                    bar
   ===================  ======================================================  =====
   ``share``            numeric: largest change of the share of values at or    0.02
                        below a reference quantile; categorical: largest change
                        of one level's share (null and never-seen levels count)
   ``mean``             change of the mean in reference standard deviations      0.05
   ``tail``             factor by which q99 − q50 or q50 − q01 grows or shrinks  1.5
   ``null_share``       change of the share of nulls (NaN, None, ±inf)           0.02
   ``total_variation``  categorical: half the L1 distance of the level shares    0.1
   ===================  ======================================================  =====

``effect`` is 0.1 × size / bar of the column's largest aspect: 0.1 means "at the bar", the
default ``min_effect``, so callers keep the scale of the earlier W1/TVD effect sizes; ``size``
and ``reason`` give the native number. The tests and the bars look at the same changes, so a
significant but trivial difference at large n (a mean moving 0.03 sd) stays below every bar.

Speed: one pass per column over numpy views (no copy of the frame), one sort of the
subsample per side, level counts hashed in arrow for arrow-backed strings; no scipy
distribution objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from rcaflows.detection.stats import bh_adjust
from rcaflows.errors import DataError

__all__ = ["DriftRule", "detect_drift"]

_CATEGORICAL_MAX_DISTINCT = 10
_DRIFT_SEED = 0
#: reference quantiles at which the share of values at or below is compared
_CUTS = np.array([0.001, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.975, 0.99, 0.999])
_TAILS = np.array([0.01, 0.5, 0.99])  # tail lengths: q99 − q50 and q50 − q01
_MIN_EXPECTED = 5.0  # normal and chi-square approximations need this many expected values
_SCALE = 0.1  # effect = _SCALE × size / bar, so 0.1 marks the bar
_COLUMNS = [
    "column",
    "method",
    "statistic",
    "p_value",
    "effect",
    "drifted",
    "n_reference",
    "n_current",
    "aspect",
    "size",
    "reason",
]


@dataclass(frozen=True)
class DriftRule:
    """Practical-significance bars: a change below every bar is not drift, however significant."""

    share: float = 0.02
    mean_sd: float = 0.05
    tail_ratio: float = 1.5
    null_share: float = 0.02
    total_variation: float = 0.1


# --------------------------------------------------------------------------- column kinds


def _kind(s: pd.Series) -> str:
    """Return ``numeric`` (numbers, datetimes, durations) or ``categorical`` (anything else, bool)."""
    dt = s.dtype
    if pd.api.types.is_bool_dtype(dt):
        return "categorical"
    if (
        pd.api.types.is_numeric_dtype(dt)
        or pd.api.types.is_datetime64_any_dtype(dt)
        or pd.api.types.is_timedelta64_dtype(dt)
    ):
        return "numeric"
    return "categorical"


def _as_float(s: pd.Series) -> np.ndarray:
    """Return the column as float64 (datetimes as ns since the epoch); nulls become NaN."""
    if pd.api.types.is_datetime64_any_dtype(s.dtype) or pd.api.types.is_timedelta64_dtype(s.dtype):
        arr = s.array
        if not hasattr(arr, "asi8"):  # arrow-backed timestamps: via numpy's datetime64
            arr = s.astype("timedelta64[ns]" if pd.api.types.is_timedelta64_dtype(s.dtype) else "datetime64[ns]").array
        ns = np.asarray(arr.asi8)
        out = ns.astype(float)
        out[ns == np.iinfo(np.int64).min] = np.nan  # NaT
        return out
    return s.to_numpy(dtype=float, na_value=np.nan)


def _subsample(n: int, cap: int, rng: np.random.Generator) -> np.ndarray | slice:
    """Return the rows to keep: all of them, or ``cap`` sorted random rows."""
    if n <= cap:
        return slice(None)
    return np.sort(rng.choice(n, size=cap, replace=False))


def _two_prop(k1: np.ndarray, n1: np.ndarray, k2: np.ndarray, n2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return |z| and the two-sided p-value of the difference of two shares (p = 1 where undefined)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        pooled = (k1 + k2) / (n1 + n2)
        se = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
        z = np.abs(k2 / n2 - k1 / n1) / se
    z = np.where(np.isfinite(z), z, 0.0)
    return z, 2 * special.ndtr(-z)


def _simes(p: np.ndarray) -> float:
    """Return the Simes combination of p-values: min over i of K·p_(i) / i."""
    if len(p) == 0:
        return 1.0
    ranked = np.sort(p) * len(p) / np.arange(1, len(p) + 1)
    return float(min(1.0, ranked.min()))


# --------------------------------------------------------------------------- numeric


def _finite(v: np.ndarray) -> tuple[np.ndarray, float]:
    """Return the finite values and their sum; one pass when there is no NaN or ±inf."""
    total = float(np.add.reduce(v))
    if np.isfinite(total):
        return v, total
    v = v[np.isfinite(v)]
    return v, float(np.add.reduce(v))


def _var(v: np.ndarray, mean: float) -> float:
    """Return the sample variance around a known mean (two passes, no cancellation)."""
    d = v - mean
    return float(np.einsum("i,i->", d, d)) / max(len(v) - 1, 1)  # np.dot would wake BLAS threads


def _numeric(ref: pd.Series, cur: pd.Series, sel_r: np.ndarray | slice, sel_c: np.ndarray | slice) -> dict[str, Any]:
    """Return the tests and effect sizes of one numeric column.

    Means and null shares use every row; quantiles, quantile shares and the count of distinct
    values use the rows ``sel_*`` (the seeded subsample), sorted once.
    """
    vr_all, vc_all = _as_float(ref), _as_float(cur)
    vr, total_r = _finite(vr_all)
    vc, total_c = _finite(vc_all)
    nr, nc = len(vr), len(vc)
    n_r_all, n_c_all = len(vr_all), len(vc_all)
    out: dict[str, Any] = {"n_r": nr, "n_c": nc, "distinct": 0.0}
    z_null, p_null = _two_prop(
        np.array([n_r_all - nr], float),
        np.array([n_r_all], float),
        np.array([n_c_all - nc], float),
        np.array([n_c_all], float),
    )
    out.update(z_null=float(z_null[0]), p_null=float(p_null[0]))
    out.update(null_r=(n_r_all - nr) / max(n_r_all, 1), null_c=(n_c_all - nc) / max(n_c_all, 1))
    if nr < 2 or nc < 2:
        return out
    sr, sc = vr_all[sel_r], vc_all[sel_c]
    sr = np.sort(sr[np.isfinite(sr)])
    sc = np.sort(sc[np.isfinite(sc)])
    out["distinct"] = float(max((np.diff(sr) > 0).sum(), (np.diff(sc) > 0).sum()) + 1)

    # shares at or below reference quantiles (a binned KS whose cuts each get a z-test)
    cuts = sr[np.round((len(sr) - 1) * _CUTS).astype(int)]
    fr = np.searchsorted(sr, cuts, side="right") / len(sr)
    fc = np.searchsorted(sc, cuts, side="right") / len(sc)
    n1, n2 = float(len(sr)), float(len(sc))
    z, p = _two_prop(fr * n1, np.full(len(cuts), n1), fc * n2, np.full(len(cuts), n2))
    pooled = (fr * n1 + fc * n2) / (n1 + n2)
    small = min(n1, n2)
    valid = (pooled * small >= _MIN_EXPECTED) & ((1 - pooled) * small >= _MIN_EXPECTED)
    valid &= np.r_[True, np.diff(cuts) > 0]  # a tied cut repeats the test before it
    moves = np.abs(fc - fr)
    at = int(moves.argmax())
    out.update(
        z_cut=float(np.where(valid, z, 0.0).max()),
        p_cuts=p[valid],
        share_size=float(moves[at]),
        share_q=float(_CUTS[at]),
        share_cut=float(cuts[at]),
        share_r=float(fr[at]),
        share_c=float(fc[at]),
    )

    # mean, in reference sd, on every row (Welch; n ≥ tens of rows: its normal limit)
    mean_r, mean_c = total_r / nr, total_c / nc
    var_r, var_c = _var(vr, mean_r), _var(vc, mean_c)
    se = np.sqrt(var_r / nr + var_c / nc)
    t = abs(mean_c - mean_r) / se if se > 0 else 0.0
    sd = max(np.sqrt(var_r), 1e-12, 1e-9 * abs(mean_r))
    out.update(t=t, p_t=float(2 * special.ndtr(-t)), mean_size=abs(mean_c - mean_r) / sd, mean_delta=mean_c - mean_r)

    # tails: q99 − q50 and q50 − q01 on each side (20,000 rows hold 200 beyond each)
    qr = sr[np.round((len(sr) - 1) * _TAILS).astype(int)]
    qc = sc[np.round((len(sc) - 1) * _TAILS).astype(int)]
    with np.errstate(invalid="ignore", divide="ignore"):
        up = float(np.log((qc[2] - qc[1]) / (qr[2] - qr[1])))
        lo = float(np.log((qc[1] - qc[0]) / (qr[1] - qr[0])))
    # a zero length (half the values tied) has no ratio: the quantile shares see those columns
    out.update(tail_up=up if np.isfinite(up) else 0.0, tail_lo=lo if np.isfinite(lo) else 0.0)
    return out


# --------------------------------------------------------------------------- categorical


def _level_counts(s: pd.Series) -> tuple[np.ndarray, np.ndarray, float]:
    """Return the non-null levels, their counts and the null count, hashed without a Python loop."""
    arr = s.array
    chunked = getattr(arr, "_pa_array", None)
    if chunked is not None:  # arrow-backed strings: count in arrow, no conversion to objects
        import pyarrow.compute as pc

        vc = pc.value_counts(chunked)
        values = np.asarray(vc.field("values").to_numpy(zero_copy_only=False), dtype=object)
        counts = np.asarray(vc.field("counts").to_numpy(zero_copy_only=False), dtype=float)
        null = pd.isna(values)
        return values[~null], counts[~null], float(counts[null].sum())
    try:
        codes, uniques = pd.factorize(s, use_na_sentinel=True)
    except TypeError:  # unhashable values (lists, dicts): compare them as their text
        codes, uniques = pd.factorize(s.map(lambda v: v if v is None or v != v else str(v)), use_na_sentinel=True)
    counts = np.bincount(codes + 1, minlength=len(uniques) + 1).astype(float)
    return np.asarray(uniques, dtype=object), counts[1:], float(counts[0])


def _categorical(ref: pd.Series, cur: pd.Series, rule: DriftRule) -> dict[str, object]:
    """Return the chi-square/level tests and share effects of one categorical column."""
    vals_r, cnt_r, null_r = _level_counts(ref)
    vals_c, cnt_c, null_c = _level_counts(cur)
    pos = pd.Index(vals_r).get_indexer(vals_c)  # -1: a level the reference never had
    new = pos < 0
    r = np.r_[cnt_r, np.zeros(int(new.sum())), null_r]
    c = np.zeros(len(r))
    c[np.where(new, len(cnt_r) + np.cumsum(new) - 1, pos)] = cnt_c
    c[-1] = null_c
    labels = np.r_[vals_r, vals_c[new], np.array([None], dtype=object)]
    keep = (r + c) > 0
    r, c, labels = r[keep], c[keep], labels[keep]
    n_r, n_c = r.sum(), c.sum()
    share_r, share_c = r / n_r, c / n_c
    moves = np.abs(share_c - share_r)
    tvd = 0.5 * float(moves.sum())
    at = int(moves.argmax())
    is_null = labels[at] is None
    label = "null" if is_null else repr(labels[at])
    size_share, what = float(moves[at]), f"share of {label} {share_r[at]:.3f} -> {share_c[at]:.3f}"
    # pool the levels expected fewer than _MIN_EXPECTED times on a side into one (chosen from the
    # pooled counts only, which the test conditions on, so the pooling does not bias it)
    expected_min = (r + c) * min(n_r, n_c) / (n_r + n_c)
    rare = expected_min < _MIN_EXPECTED
    pooled = np.vstack([np.c_[r[~rare], c[~rare]], [[r[rare].sum(), c[rare].sum()]]])
    pooled = pooled[pooled.sum(axis=1) > 0]
    stat, p_chi = 0.0, 1.0
    z_max, p_lvl = 0.0, 1.0
    if len(pooled) >= 2:
        col_tot = pooled.sum(axis=0)
        expected = pooled.sum(axis=1, keepdims=True) * col_tot[None, :] / col_tot.sum()
        stat = float(((pooled - expected) ** 2 / expected).sum())
        p_chi = float(special.chdtrc(len(pooled) - 1, stat))
        z, p = _two_prop(pooled[:, 0], np.full(len(pooled), n_r), pooled[:, 1], np.full(len(pooled), n_c))
        tested = len(pooled) if len(pooled) > 2 else 1  # two levels: one test
        z_max, p_lvl = float(z.max()), min(1.0, float(p.min()) * tested)
    if p_chi <= p_lvl:
        method, statistic, p_col = "chi2", stat, min(1.0, 2 * p_chi)
    else:
        method, statistic, p_col = "level_share", z_max, min(1.0, 2 * p_lvl)
    aspects = [
        # nulls are a level here; when they moved most, the row says so (method null_rate)
        ("null_share", size_share, size_share / rule.null_share, what)
        if is_null
        else ("share", size_share, size_share / rule.share, what),
        ("total_variation", tvd, tvd / rule.total_variation, f"total variation of the level shares {tvd:.3f}"),
    ]
    return {
        "method": method,
        "statistic": statistic,
        "p": p_col,
        "aspects": aspects,
        "n_r": int(cnt_r.sum()),
        "n_c": int(cnt_c.sum()),
    }


# --------------------------------------------------------------------------- entry point


def detect_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    alpha: float = 0.001,
    min_effect: float = _SCALE,
    columns: list[str] | None = None,
    *,
    max_rows: int = 20_000,
    rule: DriftRule | None = None,
) -> pd.DataFrame:
    """Test every column of ``current`` against ``reference`` for a change that is real and matters.

    Args:
        reference: the baseline rows.
        current: the rows under test.
        alpha: false discovery rate (Benjamini–Hochberg across the tested columns).
        min_effect: bar on ``effect``; 0.1 applies :class:`DriftRule` as documented, 0.2
            doubles every bar (the tail bar in log units: 1.5 becomes 2.25), 0.05 halves them.
        columns: columns to test; default all columns of either frame.
        max_rows: per-side cap on the seeded subsample behind the numeric quantiles and
            quantile shares (means, null shares and categorical level counts use every row).
        rule: the practical-significance bars (default :class:`DriftRule`).

    Returns:
        One row per column: ``column, method, statistic, p_value, effect, drifted,
        n_reference, n_current, aspect, size, reason``. ``p_value`` is BH-adjusted;
        ``method`` names the test behind it (``quantile_share``, ``mean``, ``chi2``,
        ``level_share``), or is ``null_rate`` (the null share is the change that matters),
        ``no_data`` (no values on either side, or a frame without rows; never drifted) or
        ``schema`` (column missing on one side, or numeric on one side and categorical on the
        other; always drifted). ``effect`` = 0.1 × size / bar of the largest ``aspect``;
        ``size`` is that aspect's native number and ``reason`` says it in words.
        ``n_*`` count non-null values.

    Raises:
        DataError: an input is not a DataFrame, has duplicate column names, or a requested
            column is in neither frame.
    """
    rule = rule or DriftRule()
    for side, frame in (("reference", reference), ("current", current)):
        if not isinstance(frame, pd.DataFrame):
            raise DataError(f"detect_drift: {side} must be a pandas DataFrame, got {type(frame).__name__}")
        dup = frame.columns[frame.columns.duplicated()].unique().tolist()
        if dup:
            raise DataError(f"detect_drift: {side} has duplicate column names {dup}; expected unique names")
    if columns is None:
        columns = list(dict.fromkeys([*reference.columns, *current.columns]))
    missing = [c for c in columns if c not in reference.columns and c not in current.columns]
    if missing:
        raise DataError(
            f"detect_drift: column(s) {missing} are in neither frame; reference has {list(reference.columns)[:20]}"
        )
    n_r_all, n_c_all = len(reference), len(current)
    rows: dict[str, dict[str, object]] = {}
    numeric: list[str] = []
    categorical: list[str] = []
    for col in columns:
        in_r, in_c = col in reference.columns, col in current.columns
        row: dict[str, object] = {"column": col, "statistic": np.nan, "p_value": np.nan, "size": np.nan}
        rows[col] = row
        if not (in_r and in_c):
            side = "reference" if in_r else "current"
            n = int((reference if in_r else current)[col].notna().sum())
            row.update(n_reference=n if in_r else 0, n_current=n if in_c else 0)
            row.update(method="schema", effect=1.0, drifted=True, aspect="schema", reason=f"only in the {side} frame")
            continue
        kr, kc = _kind(reference[col]), _kind(current[col])
        if kr != kc:
            # a side without a single value has no type of its own (all-None object vs float)
            null_r, null_c = bool(reference[col].isna().all()), bool(current[col].isna().all())
            if not (null_r or null_c):
                row.update(
                    n_reference=int(reference[col].notna().sum()),
                    n_current=int(current[col].notna().sum()),
                    method="schema",
                    effect=1.0,
                    drifted=True,
                    aspect="schema",
                    reason=f"{kr} ({reference[col].dtype}) in reference, {kc} ({current[col].dtype}) in current",
                )
                continue
            kr = kc if null_r else kr
        if n_r_all == 0 or n_c_all == 0:
            row.update(n_reference=0, n_current=0)
            row.update(method="no_data", effect=0.0, drifted=False, aspect="none", reason="a frame without rows")
        elif kr == "numeric":
            numeric.append(col)
        else:
            categorical.append(col)

    Aspect = tuple[str, float, float, str]  # name, native size, size relative to its bar, reason
    tested: list[tuple[str, str, float, float, list[Aspect]]] = []
    rng = np.random.default_rng(_DRIFT_SEED)
    sel_r = _subsample(n_r_all, max_rows, rng)
    sel_c = _subsample(n_c_all, max_rows, rng)
    for col in numeric:
        res = _numeric(reference[col], current[col], sel_r, sel_c)
        row = rows[col]
        row["n_reference"], row["n_current"] = int(res["n_r"]), int(res["n_c"])
        if res["n_r"] == 0 and res["n_c"] == 0:
            row.update(method="no_data", effect=0.0, drifted=False, aspect="none", reason="no values on either side")
            continue
        has = "t" in res
        if has and res["distinct"] <= _CATEGORICAL_MAX_DISTINCT:
            categorical.append(col)  # few values: compare level shares (nulls are a level)
            continue
        null_size = abs(res["null_c"] - res["null_r"])
        null_aspect = (
            "null_share",
            null_size,
            null_size / rule.null_share,
            (f"null share {res['null_r']:.3f} -> {res['null_c']:.3f}"),
        )
        if not has:  # values on one side only: the null share is all there is to compare
            tested.append((col, "null_rate", res["z_null"], res["p_null"], [null_aspect]))
            continue
        # Simes over the cut, mean and null tests: valid for these positively dependent tests
        # and, unlike Bonferroni, not charged 17 times when neighbouring cuts all move
        p_all = np.r_[res["p_cuts"], res["p_t"], res["p_null"]]
        p_col = _simes(p_all)
        tests = [
            ("quantile_share", res["z_cut"], float(res["p_cuts"].min()) if len(res["p_cuts"]) else 1.0),
            ("mean", res["t"], res["p_t"]),
            ("null_rate", res["z_null"], res["p_null"]),
        ]
        name, stat, _ = min(tests, key=lambda t: t[2])
        up, lo = res["tail_up"], res["tail_lo"]  # signed log ratios of the tail lengths
        side, tail = ("upper", up) if abs(up) >= abs(lo) else ("lower", lo)
        span = "q99 - q50" if side == "upper" else "q50 - q01"
        aspects = [
            (
                "share",
                res["share_size"],
                res["share_size"] / rule.share,
                f"share at or below {res['share_cut']:.4g} (reference q{res['share_q']:g}) "
                f"{res['share_r']:.3f} -> {res['share_c']:.3f}",
            ),
            (
                "mean",
                res["mean_size"],
                res["mean_size"] / rule.mean_sd,
                f"mean moved {res['mean_delta']:+.4g} ({res['mean_size']:.3f} reference sd)",
            ),
            (
                "tail",
                float(np.exp(abs(tail))),
                abs(tail) / float(np.log(rule.tail_ratio)),
                f"{side} tail length ({span}) x{np.exp(tail):.2f}",
            ),
            null_aspect,
        ]
        tested.append((col, name, stat, p_col, aspects))
    for col in categorical:
        out = _categorical(reference[col], current[col], rule)
        row = rows[col]
        row["n_reference"], row["n_current"] = out["n_r"], out["n_c"]
        if out["n_r"] == 0 and out["n_c"] == 0:
            row.update(method="no_data", effect=0.0, drifted=False, aspect="none", reason="no values on either side")
            continue
        tested.append((col, str(out["method"]), float(out["statistic"]), float(out["p"]), out["aspects"]))  # type: ignore[arg-type]

    adjusted = bh_adjust(np.array([t[3] for t in tested], dtype=float))
    for (col, method, stat, _, aspects), p_adj in zip(tested, adjusted, strict=True):
        name, size, ratio, reason = max(aspects, key=lambda a: a[2])
        effect = _SCALE * ratio
        hit = bool(p_adj < alpha and effect >= min_effect)
        rows[col].update(
            method="null_rate" if name == "null_share" else method,
            statistic=stat,
            p_value=float(p_adj),
            effect=float(effect),
            drifted=hit,
            aspect=name,
            size=size,
            reason=reason,
        )
    out = pd.DataFrame([rows[c] for c in columns], columns=_COLUMNS)
    if out.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in _COLUMNS})
    out["drifted"] = out["drifted"].astype(bool)
    return out.reset_index(drop=True)
