"""Performance estimated before labels arrive: confidence-based estimation (CBPE) for classifiers.

As NannyML's CBPE does, the reference window's scores are calibrated against its labels
(isotonic regression, so a calibrated score is the probability of the positive class), and the
expected accuracy of unlabelled rows is the mean probability that each thresholded prediction is
right. A multiclass model's class scores are calibrated one class against the rest and the
calibrated probabilities of a row renormalised to sum to one (NannyML's multiclass CBPE); the
expected accuracy is the mean calibrated probability of the predicted class. The estimate holds
while the score-to-label relation (concept) is unchanged; it tracks a covariate shift, not a
concept shift, so it is reported as estimated and never fails a check alone.

A ranking model's item scores are calibrated the same way, to the probability that the item is
relevant (label > 0). Under independence of the items' relevance given their scores, a query's
chance of a relevant item in its top k is 1 - prod(1 - p_i) over its top-k items, and its chance
of holding any relevant item (the realised hit rate counts only those queries, as NDCG does) is
the same product over all its items; the expected hit rate@k is the ratio of their sums over the
queries (:func:`expected_hit_rate`). NDCG divides each list's DCG by the ideal DCG of its realised
grades and counts only lists that turn out to hold a relevant item, so E[DCG] / E[IDCG] is not
its expectation; :func:`expected_ndcg` instead draws every item's grade from its calibrated grade
distribution (:class:`GradeCalibrator`, one isotonic map per grade) and scores each draw exactly
as the realised NDCG is scored: the mean over draws is the expected realised NDCG under the same
independence assumption.

A regression error cannot be read off a calibrated confidence. As NannyML's DLE does,
:class:`DirectLoss` fits gradient-boosted trees of each reference row's absolute error on the
features and the prediction, and averages their prediction over the rows still without labels.
The trees are grown here (:class:`Booster`, histogram splits in whole-array numpy) because
LightGBM and scikit-learn are not runtime dependencies of rcaflows; their settings are
LightGBM's defaults, the ones DLE runs with.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import isotonic_regression

from rcaflows.model.metrics import ranking_arrays, ranks_within


@dataclass(frozen=True)
class Calibrator:
    """A monotone step map from raw score to calibrated positive probability."""

    knots: np.ndarray
    values: np.ndarray

    @classmethod
    def fit(cls, scores: np.ndarray, labels: np.ndarray) -> Calibrator:
        """Fit isotonic regression of 0/1 labels on scores."""
        order = np.argsort(scores, kind="stable")
        s, y = scores[order], labels[order].astype(float)
        fitted = isotonic_regression(y).x
        # one value per distinct score: the mean of its fitted values
        knots, start = np.unique(s, return_index=True)
        sums = np.add.reduceat(fitted, start)
        counts = np.diff(np.r_[start, len(s)])
        return cls(knots, sums / counts)

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        """Return calibrated probabilities (linear between knots, flat outside them)."""
        return np.interp(scores, self.knots, self.values)


@dataclass(frozen=True)
class Estimate:
    """Estimated accuracy of unlabelled rows and its standard error."""

    accuracy: float
    se: float
    n: int


def estimated_accuracy(calibrated: np.ndarray, predicted: np.ndarray) -> Estimate:
    """Return the expected accuracy of thresholded predictions given calibrated probabilities."""
    return expected_accuracy(np.where(predicted, calibrated, 1.0 - calibrated))


@dataclass(frozen=True)
class ClassCalibrator:
    """One-vs-rest calibrators of a multiclass model's class scores (columns in class order)."""

    per_class: tuple[Calibrator, ...]

    @classmethod
    def fit(cls, scores: np.ndarray, labels: np.ndarray) -> ClassCalibrator:
        """Fit one isotonic calibrator per class column of ``scores`` (n x k) on labels coded 0..k-1.

        Raises:
            ValueError: when the scores are not an n x k matrix matching the labels.
        """
        if scores.ndim != 2 or len(scores) != len(labels):
            raise ValueError(f"class scores must be an n x k matrix over the {len(labels)} labels; got {scores.shape}")
        return cls(tuple(Calibrator.fit(scores[:, c], labels == c) for c in range(scores.shape[1])))

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        """Return calibrated class probabilities, each row renormalised to sum to one (uniform if all zero)."""
        p = np.column_stack([cal(scores[:, c]) for c, cal in enumerate(self.per_class)])
        total = p.sum(axis=1, keepdims=True)
        k = p.shape[1]
        return np.divide(p, total, out=np.full_like(p, 1.0 / k), where=total > 0)


def estimated_multiclass_accuracy(probabilities: np.ndarray, predicted: np.ndarray) -> Estimate:
    """Return the expected accuracy of predicted class codes given calibrated class probabilities (n x k)."""
    return expected_accuracy(probabilities[np.arange(len(predicted)), predicted])


def expected_accuracy(right: np.ndarray) -> Estimate:
    """Return the mean of per-row probabilities of being right, with its Poisson-binomial standard error."""
    n = len(right)
    if n == 0:
        return Estimate(float("nan"), float("nan"), 0)
    # each row is right with probability right_i: Poisson-binomial variance
    return Estimate(float(right.mean()), float(np.sqrt((right * (1 - right)).sum()) / n), n)


@dataclass(frozen=True)
class RankingEstimate:
    """Expected hit rate@k of unlabelled ranked lists, its standard error and the expected queries counted."""

    hit_rate: float
    se: float
    queries: int  # lists judged
    expected_counted: float  # expected lists with a relevant item (the realised rate's denominator)


def expected_hit_rate(relevant: np.ndarray, query: np.ndarray, score: np.ndarray, k: int) -> RankingEstimate:
    """Return the expected hit rate@k given each item's calibrated probability of being relevant.

    ``relevant``, ``query`` (integer codes) and ``score`` are per item. A query's hit probability is
    ``h = 1 - prod(1 - p)`` over its k best-scored items and its probability of holding any relevant
    item ``a = 1 - prod(1 - p)`` over all its items (exact if relevance is independent given the
    scores). The realised hit rate is the mean hit over queries with a relevant item, so the estimate
    is ``sum(h) / sum(a)``; its standard error is the ratio's delta-method one under the same model
    (per query, ``Var(hit - R any) = h(1-h) + R^2 a(1-a) - 2R h(1-a)``, as a hit implies a relevant item).
    """
    if len(query) == 0:
        return RankingEstimate(float("nan"), float("nan"), 0, 0.0)
    nq = int(query.max()) + 1
    with np.errstate(divide="ignore"):
        log_miss = np.log1p(-np.clip(relevant, 0.0, 1.0))
    order = np.lexsort((-score, query))
    top = ranks_within(query, order) < k
    miss_top = np.bincount(query[order], weights=np.where(top, log_miss[order], 0.0), minlength=nq)
    miss_all = np.bincount(query, weights=log_miss, minlength=nq)
    present = np.bincount(query, minlength=nq) > 0
    h, a = (1.0 - np.exp(miss_top))[present], (1.0 - np.exp(miss_all))[present]
    counted = float(a.sum())
    if counted <= 0:
        return RankingEstimate(float("nan"), float("nan"), int(present.sum()), 0.0)
    r = float(h.sum()) / counted
    var = float((h * (1 - h) + r**2 * a * (1 - a) - 2 * r * h * (1 - a)).sum()) / counted**2
    return RankingEstimate(r, float(np.sqrt(max(var, 0.0))), int(present.sum()), counted)


def _ranking_inputs(
    reference: pd.DataFrame, rows: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return the reference's scored, labelled (score, label) and the current rows' (query codes, score).

    Raises:
        ValueError: when either view lacks the score or query column or the reference has no scored labels.
    """
    for name, frame in (("reference", reference), ("current", rows)):
        missing = [c for c in ("score", "query") if c not in frame.columns]
        if missing or (name == "reference" and "label" not in frame.columns):
            raise ValueError(f"a ranking estimate needs the {name} rows' score, query (and label) columns")
    s_ref = reference["score"].to_numpy(dtype=float)
    rel = reference["label"].to_numpy(dtype=float)
    ok = np.isfinite(s_ref) & np.isfinite(rel)
    if not ok.any():
        raise ValueError("no reference item with both a score and a label to calibrate on")
    scored = rows.loc[np.isfinite(rows["score"].to_numpy(dtype=float)) & rows["query"].notna().to_numpy()]
    q, _ = pd.factorize(scored["query"], sort=False)
    return s_ref[ok], rel[ok], q, scored["score"].to_numpy(dtype=float)


def estimate_hit_rate(reference: pd.DataFrame, rows: pd.DataFrame, k: int) -> RankingEstimate:
    """Return the expected hit rate@k of ``rows`` (a ranking model view without labels) from the reference.

    The reference's labelled items calibrate the score to P(label > 0) (isotonic, :class:`Calibrator`).

    Raises:
        ValueError: when either view lacks the score or query column or the reference has no scored labels.
    """
    s_ref, rel, q, s = _ranking_inputs(reference, rows)
    cal = Calibrator.fit(s_ref, rel > 0)
    return expected_hit_rate(cal(s), q, s, k)


#: Most distinct positive relevance grades the NDCG estimate calibrates (one isotonic map each).
MAX_GRADES = 10
#: Simulated grade draws of the NDCG estimate (fewer for large windows: about 2M item draws in all).
NDCG_DRAWS = 200


@dataclass(frozen=True)
class GradeCalibrator:
    """P(relevance >= g | score) for every positive grade g of the reference, isotonic each and nested."""

    grades: np.ndarray  # positive grades, ascending
    per_grade: tuple[Calibrator, ...]

    @classmethod
    def fit(cls, scores: np.ndarray, labels: np.ndarray) -> GradeCalibrator:
        """Fit one isotonic map of 1[label >= g] on the scores per positive grade g.

        Raises:
            ValueError: when the labels hold no positive grade, or more than ``MAX_GRADES`` of them.
        """
        grades = np.unique(labels[labels > 0])
        if len(grades) == 0 or len(grades) > MAX_GRADES:
            raise ValueError(
                f"{len(grades)} distinct positive relevance grades; the NDCG estimate needs 1 to {MAX_GRADES}"
            )
        return cls(grades, tuple(Calibrator.fit(scores, labels >= g) for g in grades))

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        """Return the n x grades matrix of P(relevance >= g), non-increasing along the grades."""
        p = np.column_stack([cal(scores) for cal in self.per_grade])
        return np.minimum.accumulate(p, axis=1)


@dataclass(frozen=True)
class NdcgEstimate:
    """Expected realised NDCG@k of unlabelled ranked lists and its standard error."""

    ndcg: float
    se: float  # the realised value's sampling SD under the calibrated model (SD over the draws)
    queries: int
    draws: int


def expected_ndcg(
    at_least: np.ndarray, grades: np.ndarray, query: np.ndarray, score: np.ndarray, k: int, *, seed: int = 0
) -> NdcgEstimate:
    """Return the expected realised NDCG@k given each item's calibrated P(relevance >= g) (n x grades).

    Each draw gives every item a grade from its distribution, independently, and is scored exactly
    as the realised metric (:func:`~rcaflows.model.metrics.ranking_arrays`: linear gains, the ideal
    DCG of the drawn grades, lists without a relevant item left out). The mean over the draws is
    the estimate, their SD its standard error. ``NDCG_DRAWS`` draws, fewer past 10,000 items.
    """
    n = len(score)
    if n == 0:
        return NdcgEstimate(float("nan"), float("nan"), 0, 0)
    draws = int(max(20, min(NDCG_DRAWS, 2_000_000 // n)))
    rng = np.random.default_rng(seed)
    by_score = np.lexsort((-score, query))
    values = np.r_[0.0, grades]
    out = []
    for _ in range(draws):
        grade = values[(rng.random(n)[:, None] < at_least).sum(axis=1)]
        ndcg, _ = ranking_arrays(query, grade, score, k, by_score)
        if len(ndcg):
            out.append(float(ndcg.mean()))
    if len(out) < 2:
        return NdcgEstimate(float("nan"), float("nan"), len(np.unique(query)), draws)
    v = np.asarray(out)
    return NdcgEstimate(float(v.mean()), float(v.std(ddof=1)), len(np.unique(query)), draws)


def estimate_ndcg(reference: pd.DataFrame, rows: pd.DataFrame, k: int) -> NdcgEstimate:
    """Return the expected NDCG@k of ``rows`` (a ranking model view without labels) from the reference.

    Raises:
        ValueError: as :func:`estimate_hit_rate`, and when the reference's grades are not 1 to
            ``MAX_GRADES`` distinct positive values (continuous relevance).
    """
    s_ref, rel, q, s = _ranking_inputs(reference, rows)
    cal = GradeCalibrator.fit(s_ref, rel)
    return expected_ndcg(cal(s), cal.grades, q, s, k)


@dataclass(frozen=True)
class RegressionEstimate:
    """Estimated MAE and RMSE of unlabelled rows."""

    mae: float
    rmse: float
    n: int


#: Boosted trees of the direct loss estimate: LightGBM's defaults (the model NannyML's DLE fits),
#: depth-wise (depth 5: up to 32 leaves against LightGBM's 31), with XGBoost's default L2 of 1 on leaf values.
ROUNDS = 100
LEARNING_RATE = 0.1
DEPTH = 5
MIN_LEAF = 20
L2 = 1.0
#: Histogram bins per input (LightGBM's max_bin): quantile edges of a numeric input, categories by error.
BINS = 255
#: Reference rows the loss model is fitted on at most (an even stride): enough for 32-leaf trees.
MAX_FIT_ROWS = 100_000


@dataclass(frozen=True)
class Booster:
    """Gradient-boosted regression trees (squared loss) over binned inputs, grown level by level.

    Each tree is stored per level: the input and bin threshold of every node (a node that found no
    useful split sends all rows left), and the values of its ``2**depth`` leaves.
    """

    base: float
    features: tuple[np.ndarray, ...]  # per tree: (depth, 2**depth) input index per node
    thresholds: tuple[np.ndarray, ...]  # per tree: (depth, 2**depth) bin threshold per node (row goes right if >)
    leaves: tuple[np.ndarray, ...]  # per tree: (2**depth,) leaf values

    @classmethod
    def fit(cls, codes: np.ndarray, y: np.ndarray, bins: int = BINS + 1) -> Booster:
        """Fit ``ROUNDS`` trees to ``y`` on integer bin codes (n x inputs, each in ``[0, bins)``)."""
        n, k = codes.shape
        flat = codes + (np.arange(k) * bins)[None, :]
        rows = np.arange(n)
        base = float(y.mean())
        pred = np.full(n, base)
        feats, thrs, leaves = [], [], []
        for _ in range(ROUNDS):
            r = y - pred
            node = np.zeros(n, dtype=np.int64)
            f_tree = np.zeros((DEPTH, 1 << DEPTH), dtype=np.int64)
            t_tree = np.full((DEPTH, 1 << DEPTH), bins, dtype=np.int64)
            r_rep = np.repeat(r, k)
            for level in range(DEPTH):
                m = 1 << level
                # histograms of residual sums and counts per (node, input, bin), all nodes of the level at once
                key = (node[:, None] * (k * bins) + flat).ravel()
                g = np.bincount(key, weights=r_rep, minlength=m * k * bins).reshape(m, k, bins)
                c = np.bincount(key, minlength=m * k * bins).reshape(m, k, bins).astype(float)
                gl, cl = np.cumsum(g, axis=2), np.cumsum(c, axis=2)
                gt, ct = gl[:, :, -1:], cl[:, :, -1:]
                gain = gl**2 / (cl + L2) + (gt - gl) ** 2 / (ct - cl + L2) - gt**2 / (ct + L2)
                gain = np.where((cl >= MIN_LEAF) & (ct - cl >= MIN_LEAF), gain, -np.inf).reshape(m, -1)
                best = gain.argmax(axis=1)
                useful = gain[np.arange(m), best] > 0
                f_tree[level, :m] = best // bins
                t_tree[level, :m] = np.where(useful, best % bins, bins)
                node = 2 * node + (codes[rows, f_tree[level, node]] > t_tree[level, node])
            total = np.bincount(node, weights=r, minlength=1 << DEPTH)
            count = np.bincount(node, minlength=1 << DEPTH)
            leaf = LEARNING_RATE * total / (count + L2)
            pred += leaf[node]
            feats.append(f_tree)
            thrs.append(t_tree)
            leaves.append(leaf)
        return cls(base, tuple(feats), tuple(thrs), tuple(leaves))

    def predict(self, codes: np.ndarray) -> np.ndarray:
        """Return the boosted prediction of each row of bin codes."""
        n = len(codes)
        rows = np.arange(n)
        out = np.full(n, self.base)
        for f_tree, t_tree, leaf in zip(self.features, self.thresholds, self.leaves, strict=True):
            node = np.zeros(n, dtype=np.int64)
            for level in range(len(f_tree)):
                node = 2 * node + (codes[rows, f_tree[level, node]] > t_tree[level, node])
            out += leaf[node]
        return out


@dataclass(frozen=True)
class Binning:
    """Inputs to integer bin codes: numeric by reference quantiles, categorical by the reference's mean error.

    A numeric input's missing values get the code ``BINS``; a category unseen in the
    reference (or beyond the ``BINS - 1`` most frequent) gets the code ``BINS``. Categories are
    coded in the order of their mean absolute error on the reference, so a threshold split on the
    code separates categories with low errors from those with high ones (the optimal binary
    partition of a category under squared loss, Fisher 1958).
    """

    numeric: tuple[str, ...]
    edges: tuple[np.ndarray, ...]
    categories: tuple[tuple[str, dict[str, int]], ...]

    @classmethod
    def fit(cls, frame: pd.DataFrame, inputs: list[str], errors: np.ndarray) -> Binning:
        """Learn the bins of ``inputs`` on the reference rows and their absolute errors."""
        numeric = tuple(c for c in inputs if pd.api.types.is_numeric_dtype(frame[c]) and frame[c].dtype != bool)
        qs = np.linspace(0, 1, BINS + 1)[1:-1]
        edges = []
        for c in numeric:
            x = frame[c].to_numpy(dtype=float)
            x = x[np.isfinite(x)]
            edges.append(np.unique(np.quantile(x, qs)) if len(x) else np.array([]))
        categories = []
        for c in inputs:
            if c in numeric:
                continue
            v = frame[c].astype(str)
            frequent = v.value_counts().index[: BINS - 1]
            order = pd.Series(errors, index=frame.index)[v.isin(frequent)].groupby(v).mean().sort_values().index
            categories.append((c, {str(k): i for i, k in enumerate(order)}))
        return cls(numeric, tuple(edges), tuple(categories))

    def codes(self, frame: pd.DataFrame) -> np.ndarray:
        """Return ``frame``'s inputs as an n x inputs matrix of bin codes in ``[0, BINS]`` (``BINS``: missing)."""
        parts = []
        for c, e in zip(self.numeric, self.edges, strict=True):
            x = frame[c].to_numpy(dtype=float)
            parts.append(np.where(np.isnan(x), BINS, np.searchsorted(e, x, side="right")))
        parts += [
            frame[c].astype(str).map(mapping).fillna(BINS).to_numpy(dtype=np.int64) for c, mapping in self.categories
        ]
        return np.column_stack(parts).astype(np.int64) if parts else np.zeros((len(frame), 0), dtype=np.int64)


@dataclass(frozen=True)
class DirectLoss:
    """Direct loss estimation (NannyML's DLE): a boosted model of each row's error, fitted on the reference.

    The model maps the features and the prediction of a labelled reference row to its absolute
    error (and, when asked, its squared error); on rows still without labels its mean is the
    estimated MAE (its root mean, the RMSE). It follows a covariate shift into regions where the
    model errs more or less; like every estimate it assumes the concept did not change.
    """

    binning: Binning
    abs_model: Booster
    sq_model: Booster | None

    @classmethod
    def fit(cls, reference: pd.DataFrame, features: list[str], *, rmse: bool = False) -> DirectLoss:
        """Fit the loss model on labelled reference rows (a model view: ``prediction``, ``label``, features).

        ``rmse``: also fit a model of the squared error (twice the time). At most ``MAX_FIT_ROWS``
        rows are used, an even stride through the reference.

        Raises:
            ValueError: when the reference lacks the prediction or label column, or has too few rows.
        """
        missing = [c for c in ("prediction", "label") if c not in reference.columns]
        if missing:
            raise ValueError(f"a regression loss estimate needs the reference's {missing} column(s)")
        ref = reference.loc[reference["label"].notna() & reference["prediction"].notna()]
        if len(ref) < 2 * MIN_LEAF:
            raise ValueError(f"{len(ref)} labelled reference rows; the loss estimate needs at least {2 * MIN_LEAF}")
        if len(ref) > MAX_FIT_ROWS:
            ref = ref.iloc[:: -(-len(ref) // MAX_FIT_ROWS)]
        inputs = ["prediction", *dict.fromkeys(f for f in features if f in ref.columns and f != "prediction")]
        err = ref["label"].to_numpy(dtype=float) - ref["prediction"].to_numpy(dtype=float)
        binning = Binning.fit(ref, inputs, np.abs(err))
        codes = binning.codes(ref)
        return cls(binning, Booster.fit(codes, np.abs(err)), Booster.fit(codes, err**2) if rmse else None)

    def estimate(self, frame: pd.DataFrame) -> RegressionEstimate:
        """Return the expected MAE (and RMSE if fitted, else NaN) of ``frame``'s predictions (no labels needed)."""
        if frame.empty:
            return RegressionEstimate(float("nan"), float("nan"), 0)
        codes = self.binning.codes(frame)
        mae = float(np.clip(self.abs_model.predict(codes), 0, None).mean())
        rmse = (
            float(np.sqrt(np.clip(self.sq_model.predict(codes), 0, None).mean()))
            if self.sq_model is not None
            else float("nan")
        )
        return RegressionEstimate(mae, rmse, len(frame))
