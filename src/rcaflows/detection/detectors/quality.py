"""Model quality: accuracy, precision and recall on rows whose delayed labels have arrived."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.stats import norm

from rcaflows.config.models import SystemConfig
from rcaflows.data import Window
from rcaflows.detection.base import CheckFactory, fmt_num, rate_onset, register, score_from_p, ts_array
from rcaflows.detection.models import CheckResult
from rcaflows.vocab import CheckStatus, IncidentType

#: Smallest denominator (e.g. actual positives for recall) a proportion is judged on.
MIN_DENOMINATOR = 30


def labelled(predictions: pd.DataFrame, as_of: object) -> pd.DataFrame:
    """Return the rows whose label has arrived by ``as_of`` (label present, ``label_at < as_of``)."""
    if predictions.empty or "label" not in predictions.columns:
        return predictions.iloc[0:0]
    ok = predictions["label"].notna()
    if "label_at" in predictions.columns:
        ok &= predictions["label_at"].notna() & (predictions["label_at"] < as_of)
    return predictions.loc[ok]


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
    p_ref, p_cur = k_ref / n_ref, k_cur / n_cur
    pooled = (k_ref + k_cur) / (n_ref + n_cur)
    se = math.sqrt(max(pooled * (1 - pooled), 1e-12) * (1 / n_ref + 1 / n_cur))
    z = (p_ref - p_cur) / se
    return z, float(norm.sf(z))


@register
class QualityDetector:
    """Two-proportion tests of quality metrics on labelled rows against the reference window."""

    name = "quality"
    incident_type = IncidentType.QUALITY_DEGRADATION

    def run(self, window: Window, config: SystemConfig) -> list[CheckResult]:
        """Return one check per configured quality metric, or one ``no_data``/``late`` check."""
        s = config.detectors.quality_degradation
        make = CheckFactory(self.name, self.incident_type, window.current)
        model = config.model
        if model is None:
            return []
        cur_all = window.current.predictions
        end = pd.Timestamp(window.current.end)
        if cur_all.empty:
            return [make.no_data(model.component, "labels", "no predictions in the current window")]
        cur = labelled(cur_all, end)
        ref = labelled(window.reference.predictions, end)
        if cur.empty:
            late = self._labels_late(window, end, model.label_delay)
            if late is not None:
                return [
                    make(
                        check="label_arrival",
                        subtype="labels_late",
                        component=model.component,
                        metric="label",
                        status=CheckStatus.LATE,
                        message=late,
                        details={"label_delay_s": model.label_delay.total_seconds()},
                    )
                ]
        if len(cur) < s.min_labels or len(ref) < s.min_labels:
            return [
                make.no_data(
                    model.component,
                    "labels",
                    f"{len(cur)} labelled rows in the current window and {len(ref)} in the reference "
                    f"(need {s.min_labels})",
                    metric="label",
                    reason="missing" if cur.empty or ref.empty else "insufficient",
                    details={"n_current": len(cur), "n_reference": len(ref)},
                )
            ]
        out = []
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
                    onset=(
                        rate_onset(ts_r, x_r, ts_c, x_c)
                        if status == CheckStatus.FAIL
                        else None
                    ),
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
    def _labels_late(window: Window, end: pd.Timestamp, delay: object) -> str | None:
        """Return a message when predictions wait for labels longer than twice the label delay."""
        delay_td = pd.Timedelta(delay)
        due = window.current.predictions
        due = due.loc[due["timestamp"] < end - 2 * delay_td]
        if due.empty:
            return None
        arrived = pd.concat([window.reference.predictions, window.current.predictions])
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
