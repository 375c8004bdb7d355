"""Model quality on rows whose delayed labels have arrived, for the model's task.

Binary models keep the configured two-proportion tests (accuracy, precision, recall); every task
also gets its own metrics from :mod:`rcaflows.model.metrics` (``model.analysis.metrics``), and a
binary model's accuracy on rows still waiting for labels is estimated from calibrated scores
(CBPE, marked ``estimated``). The log is read through the model's declaration
(:func:`rcaflows.model.model_view`); a log problem is one ``no_data`` check naming it.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.stats import norm

from rcaflows.config.models import ModelConfig, SystemConfig
from rcaflows.data import Window
from rcaflows.detection.base import CheckFactory, fmt_num, rate_onset, register, score_from_p, ts_array
from rcaflows.detection.models import CheckResult
from rcaflows.model import log as model_log
from rcaflows.model.estimate import Calibrator, estimated_accuracy
from rcaflows.model.metrics import MetricUnavailable, compare, default_metrics
from rcaflows.model.proportions import two_proportion_z
from rcaflows.vocab import CheckStatus, IncidentType

#: Error metrics in the target's units: a change counts from 10 % of the reference value.
UNBOUNDED = frozenset({"mae", "rmse", "bias"})
#: Smallest denominator (e.g. actual positives for recall) a proportion is judged on.
MIN_DENOMINATOR = 30


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


@register
class QualityDetector:
    """Two-proportion tests of quality metrics on labelled rows against the reference window."""

    name = "quality"
    incident_type = IncidentType.QUALITY_DEGRADATION
    scope = "frames"

    def run(self, window: Window, config: SystemConfig) -> list[CheckResult]:
        """Return one check per configured quality metric, or one ``no_data``/``late`` check.

        A declared column missing from the log is named in every check's ``log_problems`` detail
        (the checks that do not need it go on).
        """
        model = config.model
        problems = model_log.log_problems(window.current.predictions, model) if model is not None else []
        checks = self._run(window, config, problems)
        if not problems or (len(checks) == 1 and checks[0].subtype == "prediction_log"):
            return checks
        return [c.model_copy(update={"details": {**c.details, "log_problems": problems}}) for c in checks]

    def _run(self, window: Window, config: SystemConfig, problems: list[str]) -> list[CheckResult]:
        s = config.detectors.quality_degradation
        make = CheckFactory(self.name, self.incident_type, window.current)
        model = config.model
        if model is None:
            return []
        raw = window.current.predictions
        end = pd.Timestamp(window.current.end)
        if raw.empty:
            return [make.no_data(model.component, "labels", "no predictions in the current window")]
        if any("label column" in m for m in problems):
            # labels of the wrong type: no quality metric can be trusted
            return [
                make.no_data(model.component, "prediction_log", "; ".join(problems), metric="label", reason="invalid")
            ]
        cur_all = model_log.model_view(raw, model)
        ref_all = model_log.model_view(window.reference.predictions, model)
        cur = labelled(cur_all, end)
        ref = labelled(ref_all, end)
        estimated = self._estimate(make, model, ref, cur_all, end, s.min_labels, s.min_drop, s.alpha)
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
        if model.task != "binary" or model.analysis.metrics:
            return estimated + self._task_checks(make, model, ref, cur, s.min_drop, s.alpha)
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
            z, p = two_proportion_drop(k_r, n_r, k_c, n_c)
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
                        f"(drop {drop:+.3f}, z {z:.1f}, p {p:.2g})"
                    ),
                    details={
                        "n_current": n_c,
                        "n_reference": n_r,
                        "drop": drop,
                        "z": z,
                        "headline": f"{metric} {fmt_num(p_r)} → {fmt_num(p_c)}",
                    },
                )
            )
        return out

    @staticmethod
    def _task_checks(
        make: CheckFactory, model: ModelConfig, ref: pd.DataFrame, cur: pd.DataFrame, min_drop: float, alpha: float
    ) -> list[CheckResult]:
        """Return one check per watched metric of the model's task (see :mod:`rcaflows.model.metrics`)."""
        out = []
        for metric in default_metrics(model):
            sub = f"{metric}_worse"
            try:
                t = compare(ref, cur, model, metric, model.threshold)
            except MetricUnavailable as exc:
                out.append(
                    make.no_data(
                        model.component,
                        sub,
                        f"{metric}: {exc}",
                        check="metric_test",
                        metric=metric,
                        reason="insufficient",
                    )
                )
                continue
            if metric in model.analysis.min_change:
                bar = model.analysis.min_change[metric]
            elif metric in UNBOUNDED:
                bar = 0.1 * abs(t.reference) if t.reference else min_drop
            else:  # scores and rates in [0, 1]
                bar = min_drop
            if t.change >= bar and t.p_value < alpha:
                status = CheckStatus.FAIL
            elif t.change >= bar / 2 and t.p_value < math.sqrt(alpha):
                status = CheckStatus.WARN
            else:
                status = CheckStatus.OK
            score = score_from_p(t.p_value, alpha) if t.change > 0 else 0.0
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
                    p_value=t.p_value,
                    score=score,
                    message=(
                        f"{model.name} ({model.task}) {metric} {t.current:.4g} on {t.n_current} labelled units vs "
                        f"{t.reference:.4g} baseline (worse by {t.change:+.4g}, p {t.p_value:.2g})"
                    ),
                    details={
                        "n_current": t.n_current,
                        "n_reference": t.n_reference,
                        "change": t.change,
                        "task": model.task,
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
        min_labels: int,
        min_drop: float,
        alpha: float,
    ) -> list[CheckResult]:
        """Return the CBPE estimate of accuracy on current rows without labels (binary models only)."""
        if model.task != "binary" or not model.analysis.estimate or "score" not in cur_all.columns:
            return []
        waiting = cur_all.index.difference(labelled(cur_all, end).index)
        if len(waiting) < min_labels or len(ref) < min_labels or "score" not in ref.columns:
            return []
        s_ref = ref["score"].to_numpy(dtype=float)
        ok = np.isfinite(s_ref)
        cal = Calibrator.fit(s_ref[ok], ref["label"].to_numpy(dtype=float)[ok] >= 0.5)
        rows = cur_all.loc[waiting]
        s_cur = rows["score"].to_numpy(dtype=float)
        s_cur = s_cur[np.isfinite(s_cur)]
        pred = (
            rows["prediction"].to_numpy(dtype=float)[np.isfinite(rows["score"].to_numpy(dtype=float))] >= 0.5
            if "prediction" in rows.columns
            else s_cur >= model.threshold
        )
        est = estimated_accuracy(cal(s_cur), pred)
        k, n = hits(ref, "accuracy", model.threshold)
        base = k / n
        drop = base - est.accuracy
        se = math.sqrt(est.se**2 + base * (1 - base) / n)
        p = float(norm.sf(drop / se)) if se > 0 else 1.0
        # an estimate assumes the concept did not change: it warns, a realised drop fails
        status = CheckStatus.WARN if drop >= min_drop and p < alpha else CheckStatus.OK
        return [
            make(
                check="cbpe",
                subtype="accuracy_drop_estimated",
                component=model.component,
                metric="accuracy",
                status=status,
                statistic=est.accuracy,
                baseline=base,
                threshold=min_drop,
                score=min(score_from_p(p, alpha), 0.49) if drop > 0 else 0.0,
                message=(
                    f"{model.name} estimated accuracy {est.accuracy:.3f} (CBPE, ±{1.96 * est.se:.3f}) on {est.n} rows "
                    f"still without labels vs {base:.3f} realised baseline"
                ),
                details={"estimated": True, "p_value": p, "n_current": est.n, "n_reference": n, "drop": drop},
            )
        ]

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
