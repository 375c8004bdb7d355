"""Quality metrics for every task, each with a significance test against the reference window.

Three families, by how the test is built:

* **rates** (accuracy, precision, recall, interval coverage, hit rate@k): a mean of 0/1 units,
  judged with the pooled two-proportion z-test;
* **means** (MAE, RMSE, bias, NDCG@k): a mean of per-row (per-query for ranking) values, judged
  with Welch's t-test (RMSE on squared errors, bias two-sided on signed errors);
* **confusion-matrix metrics** (F1, macro/micro F1, lowest per-class recall, calibration error):
  not a mean of units, so the standard error comes from a parametric bootstrap of the confusion
  matrix (or of the confidence-bin cells) drawn from a multinomial, seeded, vectorised.

Custom metrics named in ``model.analysis.custom_metrics`` (:mod:`rcaflows.model.custom`) join the
means (a per-row function: Welch's t on its row values) or get a bootstrap standard error of
resampled rows (a function of the whole window) and the same z-test as the confusion-matrix metrics.

Every test reports ``change`` signed so that positive means worse, and a one-sided p-value of
"worse than the reference" (two-sided for bias, whose worse direction is either).
Values equal scikit-learn's on the same rows (NDCG uses linear gains as ``sklearn.metrics.ndcg_score``
does, over queries with at least one relevant item).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from rcaflows.config.models import TASK_METRICS, CustomMetricConfig, ModelConfig

RATES = frozenset({"accuracy", "precision", "recall", "interval_coverage", "hit_rate"})
MEANS = frozenset({"mae", "rmse", "bias", "ndcg"})
MATRIX = frozenset({"f1", "macro_f1", "micro_f1", "min_class_recall", "calibration_error"})
#: Metrics where a larger value is worse (bias: a larger absolute value).
LOWER_IS_BETTER = frozenset({"mae", "rmse", "calibration_error", "bias"})
#: How many of a task's TASK_METRICS (in order) are watched by default.
DEFAULT_COUNT = {"binary": 2, "multiclass": 4, "regression": 4, "ranking": 2}
#: Bootstrap replicates of the confusion-matrix metrics.
BOOTSTRAP = 400
#: Equal-width confidence bins of the expected calibration error.
ECE_BINS = 10


class MetricUnavailable(ValueError):
    """A metric cannot be computed on these rows (a column is missing or a denominator is empty)."""


class CustomMetricError(MetricUnavailable):
    """A custom metric's function cannot be imported, raised, or returned something other than numbers."""


@dataclass(frozen=True)
class MetricTest:
    """One quality metric in the reference and current windows, and whether it got worse."""

    metric: str
    reference: float
    current: float
    change: float  # positive = worse
    p_value: float
    n_reference: int
    n_current: int
    estimated: bool = False
    #: Standard error of ``change`` under the test (the quality detector widens it by between-chunk spread).
    se: float = math.nan

    @property
    def relative_change(self) -> float:
        """Return the change over the reference value's magnitude (inf when the reference is 0)."""
        return self.change / abs(self.reference) if self.reference else math.inf


def default_metrics(model: ModelConfig) -> list[str]:
    """Return the metrics watched for ``model`` (declared, else its task's first ones)."""
    if model.analysis.metrics:
        return list(model.analysis.metrics)
    return list(TASK_METRICS[model.task][: DEFAULT_COUNT[model.task]])


# ----- per-task pieces ----------------------------------------------------------------------------


def binary_arrays(view: pd.DataFrame, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Return (label, prediction) as booleans; the prediction is thresholded from the score if absent."""
    if "label" not in view.columns:
        raise MetricUnavailable("no label column")
    y = view["label"].to_numpy(dtype=float) >= 0.5
    if "prediction" in view.columns:
        p = view["prediction"].to_numpy(dtype=float) >= 0.5
    elif "score" in view.columns:
        p = view["score"].to_numpy(dtype=float) >= threshold
    else:
        raise MetricUnavailable("neither a prediction nor a score column")
    return y, p


def class_codes(view: pd.DataFrame, model: ModelConfig) -> tuple[np.ndarray, np.ndarray, int]:
    """Return (label codes, prediction codes, number of classes) over the union of both."""
    if "label" not in view.columns:
        raise MetricUnavailable("no label column")
    y = view["label"]
    if "prediction" in view.columns:
        p = view["prediction"]
    elif model.log.class_scores:
        names = list(model.log.class_scores)
        probs = view[list(model.log.class_scores.values())].to_numpy(dtype=float)
        p = pd.Series(np.asarray(names, dtype=object)[np.nanargmax(probs, axis=1)], index=view.index)
    else:
        raise MetricUnavailable("neither a prediction column nor class_scores")
    both = pd.concat([y, p], ignore_index=True)
    num = pd.to_numeric(both, errors="coerce")
    # 1 and 1.0 are one class; '1' and 'a' compare as text
    both = num if num.notna().all() else both.astype(str)
    codes, uniques = pd.factorize(both, sort=True)
    return codes[: len(y)], codes[len(y) :], len(uniques)


def confusion(y: np.ndarray, p: np.ndarray, k: int) -> np.ndarray:
    """Return the k x k confusion matrix (rows: true class, columns: predicted)."""
    return np.bincount(y * k + p, minlength=k * k).reshape(k, k).astype(float)


def _from_matrix(cm: np.ndarray, metric: str) -> np.ndarray:
    """Return ``metric`` of a stack of confusion matrices (..., k, k)."""
    tp = np.diagonal(cm, axis1=-2, axis2=-1)
    n = cm.sum(axis=(-2, -1))
    actual, predicted = cm.sum(axis=-1), cm.sum(axis=-2)
    with np.errstate(invalid="ignore", divide="ignore"):
        if metric in ("micro_f1", "accuracy"):
            return tp.sum(axis=-1) / n
        f1 = np.where(actual + predicted > 0, 2 * tp / (actual + predicted), 0.0)
        if metric == "f1":  # binary: class 1
            return f1[..., 1]
        if metric == "macro_f1":
            return f1.mean(axis=-1)
        if metric == "min_class_recall":
            rec = np.where(actual > 0, tp / np.where(actual > 0, actual, 1), np.inf)
            return rec.min(axis=-1)
    raise ValueError(f"unknown confusion-matrix metric {metric!r}")


def confidences(view: pd.DataFrame, model: ModelConfig, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Return (confidence of the predicted class, 1 if correct) per row for the calibration error."""
    if model.task == "binary":
        if "score" not in view.columns:
            raise MetricUnavailable("calibration needs a score column")
        s = view["score"].to_numpy(dtype=float)
        y, p = binary_arrays(view, threshold)
        return np.where(p, s, 1 - s), (y == p).astype(float)
    if not model.log.class_scores:
        raise MetricUnavailable("calibration needs log.class_scores")
    cols = [c for c in model.log.class_scores.values() if c in view.columns]
    if len(cols) < len(model.log.class_scores):
        raise MetricUnavailable("a class_scores column is missing")
    conf = view[cols].to_numpy(dtype=float).max(axis=1)
    y, p, _ = class_codes(view, model)
    return conf, (y == p).astype(float)


def ece_cells(conf: np.ndarray, correct: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return per (bin, correct) cell counts and per-bin mean confidence of ``ECE_BINS`` equal bins."""
    b = np.minimum((conf * ECE_BINS).astype(int), ECE_BINS - 1)
    cells = np.bincount(b * 2 + correct.astype(int), minlength=2 * ECE_BINS).astype(float)
    n_bin = np.bincount(b, minlength=ECE_BINS)
    mean_conf = np.bincount(b, weights=conf, minlength=ECE_BINS) / np.maximum(n_bin, 1)
    return cells, mean_conf


def _ece(cells: np.ndarray, mean_conf: np.ndarray) -> np.ndarray:
    """Return the expected calibration error of (stacks of) cell counts."""
    c = cells.reshape(*cells.shape[:-1], ECE_BINS, 2)
    n_bin = c.sum(axis=-1)
    return np.abs(c[..., 1] - n_bin * mean_conf).sum(axis=-1) / n_bin.sum(axis=-1)


def regression_errors(view: pd.DataFrame) -> np.ndarray:
    """Return prediction - label per labelled row."""
    if "prediction" not in view.columns or "label" not in view.columns:
        raise MetricUnavailable("regression needs prediction and label columns")
    return view["prediction"].to_numpy(dtype=float) - view["label"].to_numpy(dtype=float)


def ranks_within(q: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Return each position's 0-based rank within its query, for rows sorted by ``order`` (query first)."""
    qs = q[order]
    starts = np.r_[0, np.flatnonzero(np.diff(qs)) + 1]
    return np.arange(len(qs)) - np.repeat(starts, np.diff(np.r_[starts, len(qs)]))


def ranking_units(view: pd.DataFrame, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Return per query (with a relevant item) NDCG@k with linear gains and hit@k (0/1)."""
    if "query" not in view.columns or "score" not in view.columns:
        raise MetricUnavailable("ranking needs query and score columns")
    q, _ = pd.factorize(view["query"], sort=False)
    return ranking_arrays(q, view["label"].to_numpy(dtype=float), view["score"].to_numpy(dtype=float), k)


def ranking_arrays(
    q: np.ndarray, rel: np.ndarray, score: np.ndarray, k: int, by_score: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Return :func:`ranking_units` of items given as arrays (``q``: query codes 0..n-1).

    ``by_score``: the items' order by query then descending score, when the caller already has it
    (a simulation that redraws the relevance of the same items).
    """
    nq = int(q.max()) + 1 if len(q) else 0

    def gains(order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        qs = q[order]
        rank = ranks_within(q, order)
        top = rank < k
        g = np.where(top, rel[order] / np.log2(rank + 2), 0.0)
        return np.bincount(qs, weights=g, minlength=nq), np.bincount(qs, weights=top & (rel[order] > 0), minlength=nq)

    dcg, hit = gains(np.lexsort((-score, q)) if by_score is None else by_score)
    idcg, _ = gains(np.lexsort((-rel, q)))
    ok = idcg > 0
    return dcg[ok] / idcg[ok], (hit[ok] > 0).astype(float)


def units(view: pd.DataFrame, model: ModelConfig, metric: str, threshold: float) -> np.ndarray:
    """Return the per-row (per-query) values whose mean is a rate or mean metric."""
    task = model.task
    if task == "binary" and metric in ("accuracy", "precision", "recall"):
        y, p = binary_arrays(view, threshold)
        if metric == "accuracy":
            return (y == p).astype(float)
        return y[p].astype(float) if metric == "precision" else p[y].astype(float)
    if task == "multiclass" and metric == "accuracy":
        y, p, _ = class_codes(view, model)
        return (y == p).astype(float)
    if task == "regression":
        e = regression_errors(view)
        if metric == "mae":
            return np.abs(e)
        if metric == "rmse":
            return e**2
        if metric == "bias":
            return e
        if metric == "interval_coverage":
            if "interval_low" not in view.columns or "interval_high" not in view.columns:
                raise MetricUnavailable("interval coverage needs log.interval_low and log.interval_high")
            y = view["label"].to_numpy(dtype=float)
            lo, hi = view["interval_low"].to_numpy(dtype=float), view["interval_high"].to_numpy(dtype=float)
            return ((y >= lo) & (y <= hi)).astype(float)
    if task == "ranking" and metric in ("ndcg", "hit_rate"):
        ndcg, hit = ranking_units(view, model.analysis.ranking_k)
        return ndcg if metric == "ndcg" else hit
    raise MetricUnavailable(f"{metric} is not a {task} rate or mean metric")


def value(view: pd.DataFrame, model: ModelConfig, metric: str, threshold: float = 0.5) -> tuple[float, int]:
    """Return (value, number of units) of ``metric`` on labelled rows."""
    spec = custom_spec(model, metric)
    if spec is not None:
        from rcaflows.model.custom import custom_value

        return custom_value(view, spec)
    if metric in MATRIX:
        if metric == "calibration_error":
            conf, correct = confidences(view, model, threshold)
            cells, mean_conf = ece_cells(conf, correct)
            return float(_ece(cells, mean_conf)), len(conf)
        cm = _matrix(view, model, threshold)
        return float(_from_matrix(cm, metric)), int(cm.sum())
    u = units(view, model, metric, threshold)
    if len(u) == 0:
        raise MetricUnavailable(f"{metric}: empty denominator")
    v = float(np.sqrt(np.mean(u))) if metric == "rmse" else float(np.mean(u))
    return v, len(u)


def _matrix(view: pd.DataFrame, model: ModelConfig, threshold: float) -> np.ndarray:
    if model.task == "binary":
        y, p = binary_arrays(view, threshold)
        return confusion(y.astype(int), p.astype(int), 2)
    if model.task == "multiclass":
        y, p, k = class_codes(view, model)
        return confusion(y, p, k)
    raise MetricUnavailable(f"confusion-matrix metrics need a classifier, not {model.task}")


def _bootstrap(cells: np.ndarray, fn: object, seed: int) -> float:
    """Return the standard deviation of ``fn`` over multinomial redraws of ``cells``."""
    n = int(cells.sum())
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(n, cells.ravel() / n, size=BOOTSTRAP).astype(float).reshape(BOOTSTRAP, *cells.shape)
    vals = fn(draws)  # type: ignore[operator]
    vals = vals[np.isfinite(vals)]
    return float(vals.std(ddof=1)) if len(vals) > 1 else 0.0


def compare(
    reference: pd.DataFrame, current: pd.DataFrame, model: ModelConfig, metric: str, threshold: float = 0.5
) -> MetricTest:
    """Test whether ``metric`` is worse on ``current`` than on ``reference`` (both labelled views).

    ``metric`` may name a custom metric of ``model.analysis.custom_metrics``.

    Raises:
        MetricUnavailable: when the metric cannot be computed on either window
            (:class:`CustomMetricError` when a custom metric's function fails).
    """
    spec = custom_spec(model, metric)
    if spec is not None:
        from rcaflows.model.custom import compare_custom

        return compare_custom(reference, current, spec)
    worse_sign = 1.0 if metric in LOWER_IS_BETTER else -1.0
    if metric in MATRIX:
        if metric == "calibration_error":
            cr, mr = ece_cells(*confidences(reference, model, threshold))
            cc, mc = ece_cells(*confidences(current, model, threshold))
            vr, vc = float(_ece(cr, mr)), float(_ece(cc, mc))
            se_r = _bootstrap(cr, lambda d: _ece(d, mr), 1)
            se_c = _bootstrap(cc, lambda d: _ece(d, mc), 2)
            n_r, n_c = int(cr.sum()), int(cc.sum())
        else:
            mr_, mc_ = _matrix(reference, model, threshold), _matrix(current, model, threshold)
            k = max(len(mr_), len(mc_))
            if len(mr_) != len(mc_):
                # the windows saw different class sets: recode both on the joint classes
                both = pd.concat([reference, current])
                y, p, k = class_codes(both, model)
                nr = len(reference)
                mr_, mc_ = confusion(y[:nr], p[:nr], k), confusion(y[nr:], p[nr:], k)
            vr, vc = float(_from_matrix(mr_, metric)), float(_from_matrix(mc_, metric))
            se_r = _bootstrap(mr_, lambda d: _from_matrix(d, metric), 1)
            se_c = _bootstrap(mc_, lambda d: _from_matrix(d, metric), 2)
            n_r, n_c = int(mr_.sum()), int(mc_.sum())
        return z_test(metric, vr, vc, se_r, se_c, n_r, n_c, worse_sign)
    ur, uc = units(reference, model, metric, threshold), units(current, model, metric, threshold)
    if len(ur) < 2 or len(uc) < 2:
        raise MetricUnavailable(f"{metric}: too few rows ({len(ur)} reference, {len(uc)} current)")
    if metric in RATES:
        kr, kc = float(ur.sum()), float(uc.sum())
        vr, vc = kr / len(ur), kc / len(uc)
        pooled = (kr + kc) / (len(ur) + len(uc))
        se = math.sqrt(max(pooled * (1 - pooled), 1e-12) * (1 / len(ur) + 1 / len(uc)))
        change = vr - vc
        return MetricTest(metric, vr, vc, change, float(stats.norm.sf(change / se)), len(ur), len(uc), se=se)
    se = math.sqrt(ur.var(ddof=1) / len(ur) + uc.var(ddof=1) / len(uc))  # Welch's
    if metric == "bias":
        vr, vc = float(ur.mean()), float(uc.mean())
        pv = float(stats.ttest_ind(uc, ur, equal_var=False).pvalue)
        return MetricTest(metric, vr, vc, abs(vc) - abs(vr), pv if abs(vc) > abs(vr) else 1.0, len(ur), len(uc), se=se)
    if metric == "rmse":
        t = welch_test(metric, ur, uc, worse_sign)
        vr, vc = float(np.sqrt(ur.mean())), float(np.sqrt(uc.mean()))
        # delta method: the test is on mean squared errors, the change in RMSE units
        se = t.se / (vr + vc) if vr + vc > 0 else t.se
        return MetricTest(metric, vr, vc, worse_sign * (vc - vr), t.p_value, len(ur), len(uc), se=se)
    return welch_test(metric, ur, uc, worse_sign)


def welch_test(metric: str, ur: np.ndarray, uc: np.ndarray, worse_sign: float) -> MetricTest:
    """Return the one-sided Welch t-test of the mean of per-unit values (``worse_sign``: +1 if larger is worse)."""
    se = math.sqrt(ur.var(ddof=1) / len(ur) + uc.var(ddof=1) / len(uc))
    alternative = "greater" if worse_sign > 0 else "less"
    pv = float(stats.ttest_ind(uc, ur, equal_var=False, alternative=alternative).pvalue)
    vr, vc = float(ur.mean()), float(uc.mean())
    return MetricTest(metric, vr, vc, worse_sign * (vc - vr), pv if np.isfinite(pv) else 1.0, len(ur), len(uc), se=se)


def z_test(
    metric: str, vr: float, vc: float, se_r: float, se_c: float, n_r: int, n_c: int, worse_sign: float
) -> MetricTest:
    """Return the one-sided z-test of a metric whose two windows have (bootstrap) standard errors."""
    change = worse_sign * (vc - vr)
    se = math.hypot(se_r, se_c)
    pv = float(stats.norm.sf(change / se)) if se > 0 else (0.0 if change > 0 else 1.0)
    return MetricTest(metric, vr, vc, change, pv, n_r, n_c, se=se)


def custom_spec(model: ModelConfig, metric: str) -> CustomMetricConfig | None:
    """Return the custom metric called ``metric`` declared for ``model``, if any."""
    return next((m for m in model.analysis.custom_metrics if m.name == metric), None)


def custom_names(model: ModelConfig) -> list[str]:
    """Return the names of the model's custom metrics, in declared order."""
    return [m.name for m in model.analysis.custom_metrics]


def min_change(model: ModelConfig, metric: str, reference: float, min_drop: float) -> float | None:
    """Return a custom metric's smallest worsening that counts (declared, else 10 % of the reference).

    None for a built-in metric (the quality detector has its own rule for those).
    """
    spec = custom_spec(model, metric)
    if spec is None:
        return None
    if spec.min_change is not None:
        return spec.min_change
    return 0.1 * abs(reference) if reference else min_drop
