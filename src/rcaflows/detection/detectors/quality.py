"""Model quality on rows whose delayed labels have arrived, for the model's task.

Binary models keep the configured two-proportion tests (accuracy, precision, recall); every task
also gets its own metrics from :mod:`rcaflows.model.metrics` (``model.analysis.metrics``). Rows
still waiting for labels get an estimate, marked ``estimated``: a classifier's accuracy from
calibrated scores (CBPE, binary or multiclass), a regression model's MAE from a model of the
reference errors (direct loss estimation, :class:`~rcaflows.model.estimate.DirectLoss`). The log
is read through the model's declaration (:func:`rcaflows.model.model_view`); a log problem is one
``no_data`` check naming it.

**Chunk-to-chunk spread.** Every test compares the current window with the pooled reference
window as if rows were independent draws of one quality level. When the level itself moves from
one window-sized stretch of the reference to the next (rows ordered by region, a daily cycle in
who is scored), that test flags ordinary windows. So the reference is cut into consecutive chunks
of the current window's span, the metric's between-chunk variance beyond sampling noise is
estimated from them (the method-of-moments random-effects estimate: variance of the chunk values
minus their mean sampling variance, at least 0), and added to the test's variance, as a
random-effects (overdispersed) test does. The p-value then comes from Student's t with the
Welch-Satterthwaite degrees of freedom of the two variance parts (the sampling part known, the
between-chunk part estimated from ``chunks - 1`` degrees of freedom): with no spread beyond
sampling noise the test is unchanged; with much, it approaches a t-test of the window against the
reference chunks. Fewer than ``MIN_CHUNKS`` judged chunks: no widening.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm
from scipy.stats import t as student_t

from rcaflows.config.models import ModelConfig, SystemConfig
from rcaflows.data import Window
from rcaflows.detection.base import CheckFactory, fmt_num, rate_onset, register, score_from_p, ts_array
from rcaflows.detection.model_scope import for_model
from rcaflows.detection.models import CheckResult
from rcaflows.model import log as model_log
from rcaflows.model.estimate import (
    Calibrator,
    ClassCalibrator,
    DirectLoss,
    estimate_hit_rate,
    estimate_ndcg,
    estimated_accuracy,
    estimated_multiclass_accuracy,
)
from rcaflows.model.metrics import (
    CustomMetricError,
    MetricUnavailable,
    compare,
    custom_names,
    custom_spec,
    default_metrics,
    ranking_units,
)
from rcaflows.model.metrics import min_change as custom_min_change
from rcaflows.model.proportions import two_proportion_z
from rcaflows.vocab import CheckStatus, IncidentType

#: Error metrics in the target's units: a change counts from 10 % of the reference value.
UNBOUNDED = frozenset({"mae", "rmse", "bias"})
#: Smallest denominator (e.g. actual positives for recall) a proportion is judged on.
MIN_DENOMINATOR = 30
#: Fewest judged reference chunks (of the current window's span) that estimate the between-chunk variance.
MIN_CHUNKS = 5


labelled = model_log.labelled


def outcomes(df: pd.DataFrame, metric: str, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Return the timestamps and 0/1 outcomes of the rows in ``metric``'s denominator."""
    y = df["label"].to_numpy(dtype=float) >= 0.5
    if "prediction" in df.columns:
        p = df["prediction"].to_numpy(dtype=float) >= 0.5
    else:
        p = df["score"].to_numpy(dtype=float) >= threshold
    ts = ts_array(df["timestamp"])
    if metric == "accuracy":
        return ts, (y == p).astype(float)
    if metric == "precision":
        return ts[p], y[p].astype(float)
    if metric == "recall":
        return ts[y], p[y].astype(float)
    raise ValueError(f"unknown quality metric {metric!r}; expected accuracy, precision or recall")


def hits(df: pd.DataFrame, metric: str, threshold: float) -> tuple[int, int]:
    """Return (successes, trials) of ``metric`` on labelled rows."""
    _, x = outcomes(df, metric, threshold)
    return int(x.sum()), len(x)


def two_proportion_drop(k_ref: int, n_ref: int, k_cur: int, n_cur: int) -> tuple[float, float]:
    """Return (z, one-sided p) of H1: the current proportion is below the reference one (pooled z-test)."""
    z = -float(two_proportion_z(float(k_ref), float(n_ref), float(k_cur), float(n_cur)))
    return z, float(norm.sf(z))


@dataclass(frozen=True)
class ChunkSpread:
    """Between-chunk variance of a metric over reference chunks of the current window's span."""

    tau2: float  # variance of the chunk-level metric beyond sampling noise (0: none seen)
    chunks: int  # reference chunks judged (0: too few to estimate)

    @property
    def sd(self) -> float:
        """Return the between-chunk standard deviation."""
        return math.sqrt(self.tau2)


NO_SPREAD = ChunkSpread(0.0, 0)


def reference_chunks(ref: pd.DataFrame, window: Window) -> list[pd.DataFrame]:
    """Return the labelled reference rows cut into consecutive full chunks of the current window's span.

    Chunks are counted back from the reference window's end; a partial chunk at its start is left out.
    """
    span = _utc(window.current.end) - _utc(window.current.start)
    ref_start, ref_end = _utc(window.reference.start), _utc(window.reference.end)
    if ref.empty or span <= pd.Timedelta(0) or "timestamp" not in ref.columns:
        return []
    back = ((ref_end - pd.to_datetime(ref["timestamp"], utc=True)) / span).to_numpy(dtype=float)
    idx = np.floor(back)
    ok = (idx >= 0) & (idx < (ref_end - ref_start) // span)
    return [g for _, g in ref.loc[ok].groupby(idx[ok], sort=True)]


def _utc(t: object) -> pd.Timestamp:
    """Return ``t`` as a UTC timestamp (a naive time reads as UTC)."""
    ts = pd.Timestamp(t)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts


def chunk_spread(
    chunks: list[pd.DataFrame], measure: Callable[[pd.DataFrame], tuple[float, float] | None]
) -> ChunkSpread:
    """Return the between-chunk variance of ``measure`` (chunk -> (value, sampling variance) or None if unjudged).

    The method-of-moments random-effects estimate (Hedges): the variance of the chunk values minus
    their mean sampling variance, floored at 0. Unweighted, so a chunk whose sampling variance
    reads 0 (every row right) does not dominate it as an inverse-variance weight would.
    """
    judged = [m for m in map(measure, chunks) if m is not None and math.isfinite(m[0]) and math.isfinite(m[1])]
    if len(judged) < MIN_CHUNKS:
        return NO_SPREAD
    values = np.array([v for v, _ in judged])
    noise = float(np.mean([var for _, var in judged]))
    return ChunkSpread(max(float(values.var(ddof=1)) - noise, 0.0), len(judged))


def widened_p(change: float, se: float, spread: ChunkSpread, p_independent: float, *, two_sided: bool = False) -> float:
    """Return the p-value of ``change`` with the between-chunk variance added to the test's (see module doc).

    ``se`` is the standard error of ``change`` under the independent-rows test; ``two_sided``: the
    worse direction is either (``change`` is then the absolute difference). No spread: ``p_independent``.
    """
    if spread.tau2 <= 0 or not math.isfinite(se):
        return p_independent
    # the current window is one more chunk; the pooled reference mean carries tau2 / chunks of it too
    between = spread.tau2 * (1 + 1 / spread.chunks)
    total = se**2 + between
    df = (spread.chunks - 1) * (total / between) ** 2  # Welch-Satterthwaite: sampling part exact
    p = float(student_t.sf(change / math.sqrt(total), df))
    return min(1.0, 2 * p) if two_sided else p


def rate_measure(metric: str, threshold: float) -> Callable[[pd.DataFrame], tuple[float, float] | None]:
    """Return a chunk measure of a binary rate (``outcomes``): its share and binomial variance."""

    def measure(chunk: pd.DataFrame) -> tuple[float, float] | None:
        _, x = outcomes(chunk, metric, threshold)
        if len(x) < MIN_DENOMINATOR:
            return None
        v = float(x.mean())
        return v, v * (1 - v) / len(x)

    return measure


def metric_measure(model: ModelConfig, metric: str) -> Callable[[pd.DataFrame], tuple[float, float] | None]:
    """Return a chunk measure of any task metric: its value and the sampling variance its own test uses.

    ``compare`` of a chunk with itself has the standard error of a difference of two independent
    equal windows, so half its square is the chunk's own sampling variance.
    """

    def measure(chunk: pd.DataFrame) -> tuple[float, float] | None:
        try:
            t = compare(chunk, chunk, model, metric, model.threshold)
        except MetricUnavailable:
            return None
        if t.n_current < MIN_DENOMINATOR:
            return None
        return t.current, t.se**2 / 2

    return measure


@dataclass(frozen=True)
class Estimated:
    """A metric estimated on rows without labels, beside its realised reference value."""

    metric: str
    method: str  # cbpe | dle
    value: float
    se: float  # of the estimate, as the realised value's sampling error on these rows
    baseline: float
    baseline_se: float
    n: int
    n_reference: int

    @property
    def change(self) -> float:
        """Return the change signed so that positive is worse."""
        return self.value - self.baseline if self.metric in UNBOUNDED else self.baseline - self.value


def _binary_estimate(model: ModelConfig, ref: pd.DataFrame, rows: pd.DataFrame) -> Estimated | None:
    """Return the CBPE accuracy of ``rows``: reference scores calibrated on reference labels (isotonic)."""
    if "score" not in rows.columns or "score" not in ref.columns:
        return None
    s_ref = ref["score"].to_numpy(dtype=float)
    ok = np.isfinite(s_ref)
    cal = Calibrator.fit(s_ref[ok], ref["label"].to_numpy(dtype=float)[ok] >= 0.5)
    s_all = rows["score"].to_numpy(dtype=float)
    seen = np.isfinite(s_all)
    s_cur = s_all[seen]
    pred = (
        rows["prediction"].to_numpy(dtype=float)[seen] >= 0.5
        if "prediction" in rows.columns
        else s_cur >= model.threshold
    )
    est = estimated_accuracy(cal(s_cur), pred)
    if est.n == 0:
        return None
    k, n = hits(ref, "accuracy", model.threshold)
    base = k / n
    return Estimated("accuracy", "cbpe", est.accuracy, est.se, base, math.sqrt(base * (1 - base) / n), est.n, n)


def _class_text(values: pd.Series) -> pd.Series:
    """Return class labels as the text the ``class_scores`` keys use (1.0 reads as '1')."""
    num = pd.to_numeric(values, errors="coerce")
    if num.notna().all() and len(num) and np.all(num.to_numpy(dtype=float) % 1 == 0):
        return num.astype("int64").astype(str)
    return values.astype(str)


def _multiclass_estimate(model: ModelConfig, ref: pd.DataFrame, rows: pd.DataFrame) -> Estimated | None:
    """Return the multiclass CBPE accuracy of ``rows`` from ``log.class_scores`` calibrated on the reference."""
    names = list(model.log.class_scores)
    cols = [model.log.class_scores[c] for c in names]
    if not cols or any(c not in ref.columns or c not in rows.columns for c in cols):
        return None
    codes = {name: i for i, name in enumerate(names)}
    y_ref = _class_text(ref["label"]).map(codes)
    s_ref = ref[cols].to_numpy(dtype=float)
    fit = y_ref.notna().to_numpy() & np.isfinite(s_ref).all(axis=1)
    if fit.sum() < MIN_DENOMINATOR:
        return None
    cal = ClassCalibrator.fit(s_ref[fit], y_ref.to_numpy()[fit].astype(int))
    s_cur = rows[cols].to_numpy(dtype=float)
    seen = np.isfinite(s_cur).all(axis=1)
    if "prediction" in rows.columns:
        pred = _class_text(rows["prediction"]).map(codes).to_numpy()
        seen &= pd.notna(pred)
    else:
        pred = np.argmax(np.nan_to_num(s_cur, nan=-np.inf), axis=1)
    est = estimated_multiclass_accuracy(cal(s_cur[seen]), pred[seen].astype(int))
    if est.n == 0:
        return None
    pred_ref = (
        _class_text(ref["prediction"]).map(codes).to_numpy()
        if "prediction" in ref.columns
        else np.argmax(np.nan_to_num(s_ref, nan=-np.inf), axis=1)
    )
    right = (pred_ref[fit] == y_ref.to_numpy()[fit]).astype(float)
    base = float(right.mean())
    n = len(right)
    return Estimated("accuracy", "cbpe", est.accuracy, est.se, base, math.sqrt(base * (1 - base) / n), est.n, n)


def _regression_estimate(model: ModelConfig, ref: pd.DataFrame, rows: pd.DataFrame) -> Estimated | None:
    """Return the direct loss estimate of the MAE of ``rows`` (:class:`~rcaflows.model.estimate.DirectLoss`)."""
    if "prediction" not in rows.columns or "prediction" not in ref.columns:
        return None
    try:
        loss = DirectLoss.fit(ref, list(model.features))
    except ValueError:
        return None
    rows = rows.loc[rows["prediction"].notna()]
    est = loss.estimate(rows.drop(columns=["label"], errors="ignore"))
    err = np.abs(ref["label"].to_numpy(dtype=float) - ref["prediction"].to_numpy(dtype=float))
    err = err[np.isfinite(err)]
    if est.n == 0 or len(err) < 2:
        return None
    sd = float(err.std(ddof=1))
    # the estimate is a mean over rows: its sampling error is that of the realised MAE on as many rows
    return Estimated(
        "mae", "dle", est.mae, sd / math.sqrt(est.n), float(err.mean()), sd / math.sqrt(len(err)), est.n, len(err)
    )


def _ranking_estimates(model: ModelConfig, ref: pd.DataFrame, rows: pd.DataFrame) -> list[Estimated]:
    """Return the expected hit rate@k and NDCG@k of ``rows`` from calibrated item scores.

    :func:`~rcaflows.model.estimate.estimate_hit_rate` and :func:`~rcaflows.model.estimate.estimate_ndcg`;
    NDCG is left out when the reference's relevance is not a few grades.
    """
    k = model.analysis.ranking_k
    try:
        ndcg_ref, hit_ref = ranking_units(ref, k)
        hit = estimate_hit_rate(ref, rows, k)
    except (ValueError, MetricUnavailable):
        return []
    n = len(hit_ref)
    if hit.queries == 0 or not math.isfinite(hit.hit_rate) or n < 2:
        return []
    base = float(hit_ref.mean())
    out = [Estimated("hit_rate", "cbpe", hit.hit_rate, hit.se, base, math.sqrt(base * (1 - base) / n), hit.queries, n)]
    try:
        ndcg = estimate_ndcg(ref, rows, k)
    except ValueError:
        return out
    if math.isfinite(ndcg.ndcg):
        sd = float(ndcg_ref.std(ddof=1))
        out.append(
            Estimated("ndcg", "cbpe", ndcg.ndcg, ndcg.se, float(ndcg_ref.mean()), sd / math.sqrt(n), ndcg.queries, n)
        )
    return out


def _spread_note(spread: ChunkSpread) -> str:
    """Return the message's note on the between-chunk spread (empty when none widened the test)."""
    if spread.tau2 <= 0:
        return ""
    return f"; reference chunks vary by ±{spread.sd:.3g} beyond sampling noise"


def _spread_details(spread: ChunkSpread, p_independent: float) -> dict[str, float | int]:
    """Return the check details of the between-chunk spread and the p-value before widening."""
    return {"between_chunk_sd": spread.sd, "reference_chunks": spread.chunks, "p_independent": p_independent}


@register
class QualityDetector:
    """Two-proportion tests of quality metrics on labelled rows against the reference window."""

    name = "quality"
    incident_type = IncidentType.QUALITY_DEGRADATION
    scope = "frames"

    def run(self, window: Window, config: SystemConfig) -> list[CheckResult]:
        """Return one check per configured quality metric, or one ``no_data``/``late`` check.

        A declared column missing from the log is named in every check's ``log_problems`` detail
        (the checks that do not need it go on). Each model of the system is judged on its own rows
        with its own settings (:mod:`rcaflows.detection.model_scope`).
        """
        out: list[CheckResult] = []
        for model in config.models:
            problems = model_log.log_problems(model_log.rows_of(window.current.predictions, model), model)
            checks = self._run(window, config, model, problems)
            if problems and not (len(checks) == 1 and checks[0].subtype == "prediction_log"):
                checks = [c.model_copy(update={"details": {**c.details, "log_problems": problems}}) for c in checks]
            out += for_model(checks, model, config)
        return out

    def _run(self, window: Window, config: SystemConfig, model: ModelConfig, problems: list[str]) -> list[CheckResult]:
        s = config.detectors.quality_degradation
        make = CheckFactory(self.name, self.incident_type, window.current)
        raw = model_log.rows_of(window.current.predictions, model)
        end = pd.Timestamp(window.current.end)
        if raw.empty:
            return [make.no_data(model.component, "labels", f"no predictions of {model.name} in the current window")]
        if any("label column" in m for m in problems):
            # labels of the wrong type: no quality metric can be trusted
            return [
                make.no_data(model.component, "prediction_log", "; ".join(problems), metric="label", reason="invalid")
            ]
        cur_all = model_log.model_view(raw, model)
        ref_all = model_log.model_view(window.reference.predictions, model)
        cur = labelled(cur_all, end)
        ref = labelled(ref_all, end)
        chunks = reference_chunks(ref, window)
        estimated = self._estimate(make, model, ref, cur_all, end, chunks, s.min_labels, s.min_drop, s.alpha)
        if cur.empty:
            late = self._labels_late(cur_all, ref_all, end, model.label_delay)
            if late is not None:
                return [
                    *estimated,
                    make(
                        check="label_arrival",
                        subtype="labels_late",
                        component=model.component,
                        metric="label",
                        status=CheckStatus.LATE,
                        message=late,
                        details={"label_delay_s": model.label_delay.total_seconds()},
                    ),
                ]
        if len(cur) < s.min_labels or len(ref) < s.min_labels:
            return [
                *estimated,
                make.no_data(
                    model.component,
                    "labels",
                    f"{len(cur)} labelled rows in the current window and {len(ref)} in the reference "
                    f"(need {s.min_labels})",
                    metric="label",
                    reason="missing" if cur.empty or ref.empty else "insufficient",
                    details={"n_current": len(cur), "n_reference": len(ref)},
                ),
            ]
        custom = self._task_checks(make, model, ref, cur, chunks, s.min_drop, s.alpha, custom_names(model))
        if model.task != "binary" or model.analysis.metrics:
            return estimated + self._task_checks(make, model, ref, cur, chunks, s.min_drop, s.alpha) + custom
        out = estimated
        for metric in s.metrics:
            ts_c, x_c = outcomes(cur, metric, model.threshold)
            k_c, n_c = int(x_c.sum()), len(x_c)
            ts_r, x_r = outcomes(ref, metric, model.threshold)
            k_r, n_r = int(x_r.sum()), len(x_r)
            sub = f"{metric}_drop"
            if min(n_c, n_r) < MIN_DENOMINATOR:
                out.append(
                    make.no_data(
                        model.component,
                        sub,
                        f"{metric}: too few rows to judge ({n_c} current, {n_r} reference)",
                        check="two_proportion",
                        metric=metric,
                        reason="insufficient",
                    )
                )
                continue
            p_c, p_r = k_c / n_c, k_r / n_r
            drop = p_r - p_c
            z, p_ind = two_proportion_drop(k_r, n_r, k_c, n_c)
            pooled = (k_r + k_c) / (n_r + n_c)
            se = math.sqrt(max(pooled * (1 - pooled), 1e-12) * (1 / n_r + 1 / n_c))
            spread = chunk_spread(chunks, rate_measure(metric, model.threshold))
            p = widened_p(drop, se, spread, p_ind)
            if drop >= s.min_drop and p < s.alpha:
                status = CheckStatus.FAIL
            elif drop >= s.min_drop / 2 and p < math.sqrt(s.alpha):
                status = CheckStatus.WARN
            else:
                status = CheckStatus.OK
            score = score_from_p(p, s.alpha) if drop > 0 else 0.0
            score = max(score, 0.5) if status == CheckStatus.FAIL else min(score, 0.49)
            out.append(
                make(
                    check="two_proportion",
                    subtype=sub,
                    component=model.component,
                    metric=metric,
                    status=status,
                    statistic=p_c,
                    baseline=p_r,
                    threshold=s.min_drop,
                    p_value=p,
                    score=score,
                    onset=(rate_onset(ts_r, x_r, ts_c, x_c) if status == CheckStatus.FAIL else None),
                    message=(
                        f"{model.name} {metric} {p_c:.3f} on {n_c} labelled rows vs {p_r:.3f} baseline "
                        f"(drop {drop:+.3f}, z {z:.1f}, p {p:.2g}{_spread_note(spread)})"
                    ),
                    details={
                        "n_current": n_c,
                        "n_reference": n_r,
                        "drop": drop,
                        "z": z,
                        **_spread_details(spread, p_ind),
                        "headline": f"{metric} {fmt_num(p_r)} → {fmt_num(p_c)}",
                    },
                )
            )
        return out + custom

    @staticmethod
    def _task_checks(
        make: CheckFactory,
        model: ModelConfig,
        ref: pd.DataFrame,
        cur: pd.DataFrame,
        chunks: list[pd.DataFrame],
        min_drop: float,
        alpha: float,
        metrics: list[str] | None = None,
    ) -> list[CheckResult]:
        """Return one check per watched metric of the model's task (see :mod:`rcaflows.model.metrics`).

        ``metrics``: these instead of the task's (the custom metrics). Each test's variance is
        widened by the metric's spread over the reference ``chunks``. A custom metric whose
        function fails is a ``no_data`` check (reason ``invalid``) naming the function.
        """
        out = []
        for metric in default_metrics(model) if metrics is None else metrics:
            sub = f"{metric}_worse"
            spec = custom_spec(model, metric)
            custom = {"custom": True, "function": spec.function} if spec is not None else {}
            try:
                t = compare(ref, cur, model, metric, model.threshold)
            except MetricUnavailable as exc:
                out.append(
                    make.no_data(
                        model.component,
                        sub,
                        str(exc) if isinstance(exc, CustomMetricError) else f"{metric}: {exc}",
                        check="metric_test",
                        metric=metric,
                        reason="invalid" if isinstance(exc, CustomMetricError) else "insufficient",
                        details=custom,
                    )
                )
                continue
            spread = chunk_spread(chunks, metric_measure(model, metric))
            if metric == "bias":  # two-sided on the signed mean; worse only when further from 0
                p_val = (
                    widened_p(abs(t.current - t.reference), t.se, spread, t.p_value, two_sided=True)
                    if t.change > 0
                    else t.p_value
                )
            else:
                p_val = widened_p(t.change, t.se, spread, t.p_value)
            if metric in model.analysis.min_change:
                bar = model.analysis.min_change[metric]
            elif spec is not None:
                bar = custom_min_change(model, metric, t.reference, min_drop) or 0.0
            elif metric in UNBOUNDED:
                bar = 0.1 * abs(t.reference) if t.reference else min_drop
            else:  # scores and rates in [0, 1]
                bar = min_drop
            if t.change >= bar and p_val < alpha:
                status = CheckStatus.FAIL
            elif t.change >= bar / 2 and p_val < math.sqrt(alpha):
                status = CheckStatus.WARN
            else:
                status = CheckStatus.OK
            score = score_from_p(p_val, alpha) if t.change > 0 else 0.0
            score = max(score, 0.5) if status == CheckStatus.FAIL else min(score, 0.49)
            out.append(
                make(
                    check="metric_test",
                    subtype=sub,
                    component=model.component,
                    metric=metric,
                    status=status,
                    statistic=t.current,
                    baseline=t.reference,
                    threshold=bar,
                    p_value=p_val,
                    score=score,
                    message=(
                        f"{model.name} ({model.task}) {metric} {t.current:.4g} on {t.n_current} labelled units vs "
                        f"{t.reference:.4g} baseline (worse by {t.change:+.4g}, p {p_val:.2g}{_spread_note(spread)})"
                    ),
                    details={
                        "n_current": t.n_current,
                        "n_reference": t.n_reference,
                        "change": t.change,
                        "task": model.task,
                        **custom,
                        **_spread_details(spread, t.p_value),
                        "headline": f"{metric} {fmt_num(t.reference)} → {fmt_num(t.current)}",
                    },
                )
            )
        return out

    @staticmethod
    def _estimate(
        make: CheckFactory,
        model: ModelConfig,
        ref: pd.DataFrame,
        cur_all: pd.DataFrame,
        end: pd.Timestamp,
        chunks: list[pd.DataFrame],
        min_labels: int,
        min_drop: float,
        alpha: float,
    ) -> list[CheckResult]:
        """Return the estimated quality of current rows still without labels, marked ``estimated``.

        Binary: CBPE accuracy; multiclass: CBPE accuracy from class scores calibrated one against
        the rest; regression: the direct loss estimate of the MAE; ranking: the expected hit rate@k
        and NDCG@k from item scores calibrated to relevance (grade) probabilities. The estimate assumes the concept
        did not change (it follows a covariate shift, not a concept shift), so it warns at most and
        carries its p-value in the details only (out of the run's FDR family).
        """
        if not model.analysis.estimate:
            return []
        waiting = cur_all.index.difference(labelled(cur_all, end).index)
        if len(waiting) < min_labels or len(ref) < min_labels:
            return []
        rows = cur_all.loc[waiting]
        ests: list[Estimated | None]
        if model.task == "binary":
            ests = [_binary_estimate(model, ref, rows)]
        elif model.task == "multiclass":
            ests = [_multiclass_estimate(model, ref, rows)]
        elif model.task == "ranking":
            ests = [*_ranking_estimates(model, ref, rows)]
        else:
            ests = [_regression_estimate(model, ref, rows)]
        out = []
        for est in ests:
            if est is None:
                continue
            measure = (
                rate_measure("accuracy", model.threshold)
                if model.task == "binary"
                else metric_measure(model, est.metric)
            )
            spread = chunk_spread(chunks, measure)
            se = math.hypot(est.se, est.baseline_se)
            p_ind = float(norm.sf(est.change / se)) if se > 0 else (0.0 if est.change > 0 else 1.0)
            p = widened_p(est.change, se, spread, p_ind)
            if est.metric in model.analysis.min_change:
                bar = model.analysis.min_change[est.metric]
            elif est.metric in UNBOUNDED:
                bar = 0.1 * abs(est.baseline) if est.baseline else min_drop
            else:
                bar = min_drop
            status = CheckStatus.WARN if est.change >= bar and p < alpha else CheckStatus.OK
            sub = "accuracy_drop_estimated" if est.metric == "accuracy" else f"{est.metric}_worse_estimated"
            out.append(
                make(
                    check=est.method,
                    subtype=sub,
                    component=model.component,
                    metric=est.metric,
                    status=status,
                    statistic=est.value,
                    baseline=est.baseline,
                    threshold=bar,
                    score=min(score_from_p(p, alpha), 0.49) if est.change > 0 else 0.0,
                    message=(
                        f"{model.name} estimated {est.metric} {est.value:.4g} ({est.method.upper()}, "
                        f"±{1.96 * est.se:.3g}) on {est.n} {'lists' if model.task == 'ranking' else 'rows'} "
                        f"still without labels vs {est.baseline:.4g} realised baseline{_spread_note(spread)}"
                    ),
                    details={
                        "estimated": True,
                        "p_value": p,
                        "n_current": est.n,
                        "n_reference": est.n_reference,
                        "change": est.change,
                        **({"drop": est.change} if est.metric == "accuracy" else {}),
                        "task": model.task,
                        **_spread_details(spread, p_ind),
                    },
                )
            )
        return out

    @staticmethod
    def _labels_late(cur_all: pd.DataFrame, ref_all: pd.DataFrame, end: pd.Timestamp, delay: object) -> str | None:
        """Return a message when predictions wait for labels longer than twice the label delay."""
        delay_td = pd.Timedelta(delay)
        due = cur_all
        due = due.loc[due["timestamp"] < end - 2 * delay_td]
        if due.empty:
            return None
        arrived = pd.concat([ref_all, cur_all])
        if "label_at" in arrived.columns:
            la = arrived["label_at"]
            la = la[la.notna() & (la < end)]
        else:
            la = pd.Series([], dtype=object)
        last = la.max() if len(la) else None
        if last is not None and end - last <= 2 * delay_td:
            return None
        since = f"since {last:%Y-%m-%d %H:%M}" if last is not None else "in the whole window"
        return (
            f"{len(due)} predictions older than twice the {delay_td} label delay have no label; "
            f"no label arrived {since}"
        )
