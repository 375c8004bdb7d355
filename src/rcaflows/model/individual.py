"""Individual fairness on the prediction log: near-identical individuals across protected groups.

Group gaps (demographic parity, equalized odds) compare groups as wholes; a model can pass them
and still treat two people who differ only in a protected attribute differently. This module
measures that on the logs alone, with no access to the model (a nearest-neighbour form of
situation testing, after Luong, Ruggieri and Turini, KDD 2011):

* Two rows are **near-identical** when every categorical feature and every *other* group column
  is equal, and the root-mean-square difference of the non-protected numeric features, each in
  the reference window's robust standard deviation, is at most ``tolerance``. Protected group
  columns that are also model features are left out of the match (they are what may differ).
* For each row, its nearest near-identical row of **another** value of the protected column
  (the cross-group pair) and its nearest near-identical row of the **same** value (the
  same-group pair) are found with one k-d tree per group value (``scipy.spatial.cKDTree``,
  bounded by the tolerance, so the search prunes early in any number of dimensions; approximate
  within a factor 1.5 of the nearest distance, which any near-identical partner satisfies).
* A pair is **discordant** when the outcomes differ: the predicted class (binary, multiclass),
  or the prediction (regression; the score for a binary model when ``outcome_tolerance`` is set)
  by more than a tolerance.
* Near-identical rows disagree now and then anyway (two rows either side of the decision
  threshold), so the statistic is the **excess**: on the rows that have both pairs, the share of
  discordant cross-group pairs minus the share of discordant same-group pairs. A model that
  ignores the protected attribute has an excess near zero whatever the groups' base rates; one
  that flips outcomes for one group among near-identical rows has a large one.

Each row contributes one paired difference ``d = cross - same`` in {-1, 0, 1}, so the excess is a
mean with an ordinary standard error, and its rise from the reference window is a Welch z-test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial import cKDTree

from rcaflows.config.models import ModelConfig
from rcaflows.model.log import group_columns

#: Spacing of the codes of exact-match columns: far beyond any tolerance (at most 1), so a kd-tree
#: bounded by the tolerance never pairs two rows that differ in one of them.
_EXACT = 10.0
#: Approximate search: a returned neighbour is at most (1 + eps) times as far as the nearest one (and
#: always within the tolerance, so still near-identical); halves the search time in 8+ dimensions.
_EPS = 0.5
#: Default regression outcome tolerance, in reference prediction SDs: rows up to ``tolerance`` (0.25)
#: RMS feature SDs apart over a handful of features differ by up to about half a prediction SD under
#: a smooth model, so a smaller difference is not a different outcome.
REGRESSION_TOLERANCE = 0.5
#: Seed of the row sample beyond ``max_rows`` (fixed: the same window gives the same answer).
SEED = 20_261_207
#: The reference window is searched on at most this many rows per current row (and never fewer than
#: ``REFERENCE_MIN_ROWS``): its excess is then known at least ~2x more precisely than the current
#: window's, so more reference rows barely change the comparison's uncertainty, while the search
#: cost grows with them (a 24 h reference is ~20x the current hour's rows, 95 % of the work).
REFERENCE_PER_CURRENT = 5
REFERENCE_MIN_ROWS = 10_000


@dataclass(frozen=True)
class Outcomes:
    """The per-row outcome compared between near-identical rows, and what counts as different."""

    values: np.ndarray
    tolerance: float | None  # None: exact comparison (classes)
    ordered: bool  # whether "higher" means a better (more favourable) outcome can be said

    def differ(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        """Return whether rows ``i`` and ``j`` got different outcomes."""
        a, b = self.values[i], self.values[j]
        if self.tolerance is None:
            return np.asarray(a != b)
        return np.asarray(np.abs(a.astype(float) - b.astype(float)) > self.tolerance)

    def higher(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        """Return whether row ``i`` got the higher outcome of the pair (only meaningful when ``ordered``)."""
        return np.asarray(self.values[i].astype(float) > self.values[j].astype(float))


@dataclass
class IndividualFairness:
    """Near-identical pairs across one protected column in one window, and how often they disagree."""

    column: str
    rows: int  # rows searched (after sampling)
    matched: int  # rows with both a cross-group and a same-group near-identical row
    cross_discordant: int
    same_discordant: int
    diff_sum: float  # sum of the per-row paired differences (cross - same)
    diff_sq: float  # their sum of squares
    by_group: dict[str, dict[str, float]] = field(default_factory=dict)
    examples: list[dict[str, Any]] = field(default_factory=list)
    problem: str | None = None

    @property
    def rate(self) -> float:
        """Return the share of matched rows whose cross-group pair got a different outcome."""
        return self.cross_discordant / self.matched if self.matched else math.nan

    @property
    def floor(self) -> float:
        """Return the share of matched rows whose same-group pair got a different outcome."""
        return self.same_discordant / self.matched if self.matched else math.nan

    @property
    def excess(self) -> float:
        """Return ``rate - floor``: how much more often the protected attribute changes the outcome."""
        return self.diff_sum / self.matched if self.matched else math.nan

    @property
    def se(self) -> float:
        """Return the standard error of :attr:`excess` (per-row paired differences)."""
        n = self.matched
        if n < 2:
            return math.nan
        var = max(self.diff_sq / n - self.excess**2, 0.0) * n / (n - 1)
        return math.sqrt(var / n)

    def interval(self, confidence: float) -> tuple[float, float]:
        """Return the two-sided ``confidence`` interval of :attr:`excess`."""
        z = float(stats.norm.ppf(0.5 + confidence / 2))
        return self.excess - z * self.se, self.excess + z * self.se


def rise_p(current: IndividualFairness, reference: IndividualFairness) -> float:
    """Return the one-sided p of a rise of the excess from the reference window (Welch z; 1.0 if undefined)."""
    if current.matched < 2 or reference.matched < 2:
        return 1.0
    se = math.sqrt(current.se**2 + reference.se**2)
    diff = current.excess - reference.excess
    if se == 0:
        return 0.0 if diff > 0 else 1.0
    return float(stats.norm.sf(diff / se))


def numeric_columns(frame: pd.DataFrame, columns: list[str]) -> list[str]:
    """Return the columns of ``frame`` among ``columns`` that are numeric (booleans count); the rest match exactly."""
    return [
        c for c in columns if c in frame.columns and (pd.api.types.is_numeric_dtype(frame[c]) or frame[c].dtype == bool)
    ]


def robust_scale(reference: pd.DataFrame, columns: list[str]) -> dict[str, float]:
    """Return each numeric column's robust standard deviation in the reference (IQR / 1.349, else std, else 1).

    Both windows are matched on the reference's scale, so "near-identical" means the same in each.
    """
    out = {}
    for col in columns:
        x = pd.to_numeric(reference[col], errors="coerce").to_numpy(dtype=float) if col in reference else np.array([])
        x = x[np.isfinite(x)]
        s = 0.0
        if len(x) > 1:
            q1, q3 = np.percentile(x, [25, 75])
            s = (q3 - q1) / 1.349 or float(np.std(x))
        out[col] = s if s > 0 else 1.0
    return out


def outcomes(
    view: pd.DataFrame, task: str, threshold: float, tolerance: float | None, regression_tolerance: float
) -> Outcomes:
    """Return the outcome compared between near-identical rows of a model view.

    Raises:
        ValueError: when the view has no column the task's outcome is read from.
    """
    if task == "binary":
        if tolerance is not None and "score" in view.columns:
            return Outcomes(view["score"].to_numpy(dtype=float), tolerance, True)
        if "prediction" in view.columns:
            return Outcomes(view["prediction"].to_numpy(dtype=float) >= 0.5, None, True)
        if "score" in view.columns:
            return Outcomes(view["score"].to_numpy(dtype=float) >= threshold, None, True)
        raise ValueError("a binary model's log needs a prediction or a score column")
    if "prediction" not in view.columns:
        raise ValueError(f"a {task} model's log needs a prediction column")
    if task == "multiclass":
        return Outcomes(view["prediction"].astype(str).to_numpy(dtype=object), None, False)
    if task == "regression":
        return Outcomes(view["prediction"].to_numpy(dtype=float), regression_tolerance, True)
    raise ValueError(f"individual fairness is not defined for {task} models (items in lists, not individuals)")


def _match_space(view: pd.DataFrame, numeric: list[str], exact: list[str], scale: dict[str, float]) -> np.ndarray:
    """Return the rows as points where the Euclidean distance is the RMS scaled numeric difference.

    Exact-match columns (categoricals, the other group columns, and a missing-value flag per numeric
    column) are codes spaced :data:`_EXACT` apart; a missing numeric value sits at 0 with its flag set.
    """
    n = len(view)
    dims: list[np.ndarray] = []
    norm = math.sqrt(max(len(numeric), 1))
    for col in numeric:
        x = pd.to_numeric(view[col], errors="coerce").to_numpy(dtype=float)
        miss = ~np.isfinite(x)
        dims.append(np.where(miss, 0.0, x / scale[col] / norm))
        if miss.any():
            dims.append(miss * _EXACT)
    for col in exact:
        codes, _ = pd.factorize(view[col], use_na_sentinel=False)
        dims.append(codes.astype(float) * _EXACT)
    if not dims:
        return np.zeros((n, 1))
    return np.column_stack(dims)


def measure(
    view: pd.DataFrame,
    column: str,
    *,
    features: list[str],
    groups: list[str],
    scale: dict[str, float],
    result: Outcomes,
    tolerance: float,
    max_rows: int,
    ids: pd.Series | None = None,
    examples: int = 5,
) -> IndividualFairness:
    """Return the near-identical pairs across ``column`` in one window of a model view.

    Args:
        view: the window's rows (a model view: features and group columns under their own names).
        column: the protected column whose values the pairs differ in.
        features: the model's feature columns; group columns among them are left out of the match.
        groups: every declared group column; the others than ``column`` must match exactly.
        scale: robust scale of each numeric feature (:func:`robust_scale` of the reference).
        result: the outcome of each row of ``view`` (:func:`outcomes`).
        tolerance: the largest RMS scaled difference of near-identical rows.
        max_rows: rows searched at most (a seeded random sample beyond it).
        ids: a readable id per row for the example pairs (default: the view's index).
        examples: how many discordant example pairs to keep (the closest ones).
    """
    if column not in view.columns:
        return IndividualFairness(column, 0, 0, 0, 0, 0.0, 0.0, problem=f"group column '{column}' is missing")
    present = [c for c in features if c in view.columns and c not in groups]
    missing = [c for c in features if c not in view.columns and c not in groups]
    numeric = [c for c in present if c in scale]
    exact = [c for c in present if c not in scale] + [g for g in groups if g != column and g in view.columns]
    keep = np.flatnonzero(view[column].notna().to_numpy())
    if len(keep) > max_rows:
        keep = np.sort(np.random.default_rng(SEED).choice(keep, max_rows, replace=False))
    sub = view.iloc[keep]
    values = result.values[keep]
    out = Outcomes(values, result.tolerance, result.ordered)
    points = _match_space(sub, numeric, exact, scale)
    codes, names = pd.factorize(sub[column].astype(str), sort=True)
    problem = f"features missing from the log, not matched on: {missing}" if missing else None
    n = len(sub)
    cross_d = np.full(n, np.inf)
    cross_j = np.full(n, -1)
    same_d = np.full(n, np.inf)
    same_j = np.full(n, -1)
    members = [np.flatnonzero(codes == k) for k in range(len(names))]
    trees = [cKDTree(points[m]) if len(m) else None for m in members]
    for a, rows_a in enumerate(members):
        if len(rows_a) == 0:
            continue
        pa = points[rows_a]
        tree_a = trees[a]
        assert tree_a is not None
        if len(rows_a) > 1:
            d2, j2 = tree_a.query(pa, k=2, distance_upper_bound=tolerance, eps=_EPS)
            # the nearest other row: skip the row itself (an exact duplicate may come first)
            self_first = j2[:, 0] == np.arange(len(rows_a))
            d_s = np.where(self_first, d2[:, 1], d2[:, 0])
            j_s = np.where(self_first, j2[:, 1], j2[:, 0])
            ok = np.isfinite(d_s)
            same_d[rows_a[ok]] = d_s[ok]
            same_j[rows_a[ok]] = rows_a[j_s[ok]]
        for b, rows_b in enumerate(members):
            tree_b = trees[b]
            if b == a or tree_b is None:
                continue
            d_c, j_c = tree_b.query(pa, k=1, distance_upper_bound=tolerance, eps=_EPS)
            better = np.isfinite(d_c) & (d_c < cross_d[rows_a])
            cross_d[rows_a[better]] = d_c[better]
            cross_j[rows_a[better]] = rows_b[j_c[better]]
    both = np.flatnonzero((cross_j >= 0) & (same_j >= 0))
    if len(both) == 0:
        return IndividualFairness(column, n, 0, 0, 0, 0.0, 0.0, problem=problem)
    cdis = out.differ(both, cross_j[both])
    sdis = out.differ(both, same_j[both])
    diff = cdis.astype(float) - sdis.astype(float)
    by_group: dict[str, dict[str, float]] = {}
    g = codes[both]
    for k, name in enumerate(names):
        mine = g == k
        m = int(mine.sum())
        if not m:
            continue
        entry: dict[str, float] = {
            "matched": m,
            "cross_rate": float(cdis[mine].mean()),
            "same_rate": float(sdis[mine].mean()),
        }
        if out.ordered and cdis[mine].any():
            # of this group's discordant cross-group pairs, how often it got the higher outcome
            rows = both[mine & cdis]
            entry["favoured"] = float(out.higher(rows, cross_j[rows]).mean())
        by_group[str(name)] = entry
    label = ids.iloc[keep].astype(str).to_numpy() if ids is not None else np.asarray(sub.index.astype(str))
    disc = both[cdis]
    order = disc[np.argsort(cross_d[disc], kind="stable")[:examples]]
    example_rows = [
        {
            "a": str(label[i]),
            "b": str(label[cross_j[i]]),
            "groups": [str(names[codes[i]]), str(names[codes[cross_j[i]]])],
            "outcomes": [_plain(values[i]), _plain(values[cross_j[i]])],
            "distance": round(float(cross_d[i]), 4),
        }
        for i in order
    ]
    return IndividualFairness(
        column,
        n,
        len(both),
        int(cdis.sum()),
        int(sdis.sum()),
        float(diff.sum()),
        float((diff**2).sum()),
        by_group,
        example_rows,
        problem,
    )


@dataclass
class Comparison:
    """One protected column's individual fairness in the current and the reference window."""

    current: IndividualFairness
    reference: IndividualFairness

    @property
    def p_value(self) -> float:
        """Return the one-sided p of a rise of the excess from the reference (:func:`rise_p`)."""
        return rise_p(self.current, self.reference)


def compare_windows(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    model: ModelConfig,
    *,
    columns: list[str] | None = None,
    current_ids: pd.Series | None = None,
) -> list[Comparison]:
    """Return, per protected column, the near-identical pairs of both windows of model views.

    The numeric scale and the regression outcome tolerance come from the reference, so both windows
    are judged on the same yardstick; ``columns`` defaults to the model's declared group columns;
    ``current_ids`` names the current rows in the example pairs (e.g. the request ids; default: index).

    Raises:
        ValueError: when the task has no individual outcome (ranking) or the outcome column is missing.
    """
    cfg = model.analysis.individual_fairness
    groups = columns if columns is not None else group_columns(model)
    features = [f for f in model.features if f not in groups]
    basis = reference if not reference.empty else current
    numeric = numeric_columns(basis, features)
    scale = robust_scale(basis, numeric)
    reg_tol = 0.0
    if model.task == "regression" and "prediction" in basis.columns:
        p = pd.to_numeric(basis["prediction"], errors="coerce")
        reg_tol = (
            cfg.outcome_tolerance if cfg.outcome_tolerance is not None else REGRESSION_TOLERANCE * float(np.nanstd(p))
        )
    res_cur = outcomes(current, model.task, model.threshold, cfg.outcome_tolerance, reg_tol)
    res_ref = (
        outcomes(reference, model.task, model.threshold, cfg.outcome_tolerance, reg_tol) if len(reference) else None
    )
    ref_rows = min(cfg.max_rows, max(REFERENCE_MIN_ROWS, REFERENCE_PER_CURRENT * len(current)))
    out = []
    for col in groups:
        kw: dict[str, Any] = {"features": features, "groups": groups, "scale": scale, "tolerance": cfg.tolerance}
        cur = measure(current, col, result=res_cur, ids=current_ids, max_rows=cfg.max_rows, **kw)
        ref = (
            measure(reference, col, result=res_ref, ids=None, examples=0, max_rows=ref_rows, **kw)
            if res_ref is not None
            else IndividualFairness(col, 0, 0, 0, 0, 0.0, 0.0, problem="no reference rows")
        )
        out.append(Comparison(cur, ref))
    return out


def _plain(v: Any) -> Any:
    """Return a JSON-friendly scalar of an outcome value."""
    if isinstance(v, (bool, np.bool_)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        return round(float(v), 6)
    if isinstance(v, np.integer):
        return int(v)
    return str(v)
