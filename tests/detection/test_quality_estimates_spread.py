"""The quality detector's estimates for every classifier and regression model, and its between-chunk spread.

Estimates: rows still without labels get a multiclass CBPE accuracy or a regression direct loss
estimate of the MAE, marked ``estimated``, warning at most. Spread: a reference whose quality
level moves from one window-sized chunk to the next widens the test, so an ordinary window is not
flagged, while a window far below every chunk still is.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from detection_data import with_model

from rcaflows.config.models import SystemConfig
from rcaflows.data import MonitoringData, Window
from rcaflows.detection.detectors.quality import QualityDetector
from rcaflows.vocab import CheckStatus

END = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
SPLIT = END - timedelta(hours=1)
START = SPLIT - timedelta(hours=24)  # 24 reference chunks of the 1 h current window
NAT = pd.Series(pd.NaT, dtype="datetime64[ns, UTC]")


def _config(task: str, features: list[str], **log: object) -> SystemConfig:
    return with_model(task, features, **log)


def _window(ref: pd.DataFrame, cur: pd.DataFrame) -> Window:
    return Window(
        reference=MonitoringData(start=START, end=SPLIT, predictions=ref),
        current=MonitoringData(start=SPLIT, end=END, predictions=cur),
    )


def _times(n: int, start: datetime, end: datetime, rng: np.random.Generator) -> pd.Series:
    secs = np.sort(rng.uniform(0, (end - start).total_seconds(), n))
    return pd.Series(pd.Timestamp(start) + pd.to_timedelta(secs, unit="s"))


def _without_labels(frame: pd.DataFrame, label: str, label_time: str) -> pd.DataFrame:
    return frame.assign(**{label: np.nan, label_time: NAT.reindex(range(len(frame))).to_numpy()})


# ----- estimates ------------------------------------------------------------------------------------

CLASSES = ["billing", "tech", "sales"]
MULTI_LOG = {
    "prediction": "queue",
    "label": "true_queue",
    "label_time": "routed_at",
    "class_scores": {c: f"p_{c}" for c in CLASSES},
}


def _multiclass(n: int, start: datetime, end: datetime, seed: int, spread: float) -> pd.DataFrame:
    """Return routed tickets from a fixed concept P(class | x) = softmax(x), scores over-confident.

    A smaller ``spread`` moves inputs towards the class boundaries: accuracy falls, the concept holds.
    """
    rng = np.random.default_rng(seed)
    x = rng.normal(0, spread, (n, 3))
    p = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
    y = (rng.random(n)[:, None] > np.cumsum(p, axis=1)).sum(axis=1)
    s = np.exp(2 * x) / np.exp(2 * x).sum(axis=1, keepdims=True)
    ts = _times(n, start, end, rng)
    names = np.asarray(CLASSES, dtype=object)
    return pd.DataFrame(
        {
            "timestamp": ts,
            "x": x[:, 0],
            **{f"p_{c}": s[:, i] for i, c in enumerate(CLASSES)},
            "queue": names[s.argmax(axis=1)],
            "true_queue": names[y],
            "routed_at": ts + pd.Timedelta(minutes=5),
        }
    )


def test_multiclass_accuracy_is_estimated_before_labels_arrive() -> None:
    cfg = _config("multiclass", ["x"], **MULTI_LOG)
    ref = _multiclass(12_000, START, SPLIT, 1, 2.0)
    shifted = _multiclass(4_000, SPLIT, END, 2, 0.6)  # towards the boundaries: accuracy falls
    realised = float((shifted["queue"] == shifted["true_queue"]).mean())
    checks = QualityDetector().run(_window(ref, _without_labels(shifted, "true_queue", "routed_at")), cfg)
    (est,) = [c for c in checks if c.details.get("estimated")]
    assert (est.check, est.subtype, est.details["task"]) == ("cbpe", "accuracy_drop_estimated", "multiclass")
    assert est.statistic == pytest.approx(realised, abs=0.03)
    assert est.baseline - est.statistic > 0.1
    assert est.status == CheckStatus.WARN and est.p_value is None  # warns, never fails; out of the FDR family
    assert not any(c.status == CheckStatus.FAIL for c in checks)
    same = _multiclass(4_000, SPLIT, END, 3, 2.0)
    checks = QualityDetector().run(_window(ref, _without_labels(same, "true_queue", "routed_at")), cfg)
    (est,) = [c for c in checks if c.details.get("estimated")]
    assert est.status == CheckStatus.OK
    assert est.statistic == pytest.approx(float((same["queue"] == same["true_queue"]).mean()), abs=0.03)


REG_LOG = {"prediction": "forecast", "label": "units_sold", "label_time": "sold_at", "groups": ["store"]}


def _regression(n: int, start: datetime, end: datetime, seed: int, centre: float) -> pd.DataFrame:
    """Return forecasts whose error grows with |x| and doubles in store s2; ``centre`` shifts x."""
    rng = np.random.default_rng(seed)
    ts = _times(n, start, end, rng)
    x = rng.normal(centre, 1.0, n)
    store = rng.choice(["s1", "s2"], n)
    fc = 100 + 10 * x
    noise = (1 + 3 * np.abs(x)) * np.where(store == "s2", 2.0, 1.0)
    return pd.DataFrame(
        {
            "timestamp": ts,
            "x": x,
            "z": rng.normal(size=n),  # unrelated to the error
            "store": store,
            "forecast": fc,
            "units_sold": fc + rng.normal(0, 1, n) * noise,
            "sold_at": ts + pd.Timedelta(minutes=5),
        }
    )


def test_regression_mae_is_estimated_before_labels_arrive() -> None:
    cfg = _config("regression", ["x", "z", "store"], **REG_LOG)
    ref = _regression(20_000, START, SPLIT, 4, 0.0)
    shifted = _regression(3_000, SPLIT, END, 5, 1.5)  # into the region of larger errors
    realised = float((shifted["units_sold"] - shifted["forecast"]).abs().mean())
    checks = QualityDetector().run(_window(ref, _without_labels(shifted, "units_sold", "sold_at")), cfg)
    (est,) = [c for c in checks if c.details.get("estimated")]
    assert (est.check, est.subtype, est.metric) == ("dle", "mae_worse_estimated", "mae")
    assert est.statistic == pytest.approx(realised, rel=0.05)
    assert est.statistic > 1.3 * est.baseline
    assert est.status == CheckStatus.WARN and est.p_value is None
    same = _regression(3_000, SPLIT, END, 6, 0.0)
    checks = QualityDetector().run(_window(ref, _without_labels(same, "units_sold", "sold_at")), cfg)
    (est,) = [c for c in checks if c.details.get("estimated")]
    assert est.status == CheckStatus.OK
    assert est.statistic == pytest.approx(float((same["units_sold"] - same["forecast"]).abs().mean()), rel=0.05)


def test_estimate_can_be_switched_off() -> None:
    base = _config("regression", ["x"], **REG_LOG)
    assert base.models
    analysis = base.models[0].analysis.model_copy(update={"estimate": False})
    cfg = base.model_copy(update={"models": [base.models[0].model_copy(update={"analysis": analysis})]})
    ref = _regression(5_000, START, SPLIT, 7, 0.0)
    cur = _without_labels(_regression(1_000, SPLIT, END, 8, 1.5), "units_sold", "sold_at")
    assert not [c for c in QualityDetector().run(_window(ref, cur), cfg) if c.details.get("estimated")]


# ----- between-chunk spread -------------------------------------------------------------------------

BINARY_LOG = {"prediction": "y_hat", "score": "p", "label": "y", "label_time": "y_at"}


def _binary(levels: list[float], start: datetime, per_hour: int, seed: int) -> pd.DataFrame:
    """Return one hour of predictions per accuracy level, each hour right with that probability."""
    rng = np.random.default_rng(seed)
    parts = []
    for h, acc in enumerate(levels):
        t0 = start + timedelta(hours=h)
        ts = _times(per_hour, t0, t0 + timedelta(hours=1), rng)
        y = (rng.random(per_hour) < 0.3).astype(float)
        y_hat = np.where(rng.random(per_hour) < acc, y, 1 - y)
        p = np.clip(np.where(y_hat == 1, 0.75, 0.25) + rng.normal(0, 0.1, per_hour), 0, 1)
        parts.append(pd.DataFrame({"timestamp": ts, "p": p, "y_hat": y_hat, "y": y, "y_at": ts}))
    return pd.concat(parts, ignore_index=True)


def _accuracy_check(ref: pd.DataFrame, cur: pd.DataFrame) -> object:
    cfg = _config("binary", [], **BINARY_LOG)
    (acc,) = [c for c in QualityDetector().run(_window(ref, cur), cfg) if c.subtype == "accuracy_drop"]
    return acc


def test_a_window_within_the_reference_chunks_spread_is_not_flagged() -> None:
    rng = np.random.default_rng(9)
    levels = list(rng.uniform(0.70, 0.92, 24))  # the level moves hour to hour (who is scored changes)
    ref = _binary(levels, START, 2_000, 10)
    ordinary = _binary([0.72], SPLIT, 2_000, 11)  # inside the reference hours' range, below their mean
    acc = _accuracy_check(ref, ordinary)
    assert acc.details["p_independent"] < 1e-6  # rows read as independent: a "significant" drop ...
    assert acc.details["drop"] >= 0.03  # ... beyond the default min drop, which used to fail
    assert acc.details["reference_chunks"] == 24
    assert acc.details["between_chunk_sd"] == pytest.approx(np.std(levels, ddof=1), rel=0.25)
    assert acc.status != CheckStatus.FAIL and acc.p_value > 0.01
    assert "beyond sampling noise" in acc.message
    degraded = _binary([0.40], SPLIT, 2_000, 12)  # far below every reference hour
    acc = _accuracy_check(ref, degraded)
    assert acc.status == CheckStatus.FAIL and acc.p_value < 0.001


def test_a_steady_reference_keeps_the_independent_rows_test() -> None:
    ref = _binary([0.85] * 24, START, 2_000, 13)
    cur = _binary([0.81], SPLIT, 2_000, 14)
    acc = _accuracy_check(ref, cur)
    # no spread beyond sampling noise (or so little that the test barely moves): still a failing drop
    assert acc.details["between_chunk_sd"] < 0.01
    assert acc.status == CheckStatus.FAIL
    assert acc.p_value == pytest.approx(acc.details["p_independent"], rel=1.0, abs=1e-4)


def test_task_metrics_are_widened_by_the_spread_too() -> None:
    cfg = _config("regression", ["x"], **REG_LOG)
    rng = np.random.default_rng(15)
    scales = rng.uniform(0.6, 1.6, 24)  # the error level moves hour to hour
    parts = []
    for h, k in enumerate(scales):
        part = _regression(800, START + timedelta(hours=h), START + timedelta(hours=h + 1), 100 + h, 0.0)
        parts.append(part.assign(units_sold=part["forecast"] + (part["units_sold"] - part["forecast"]) * k))
    ref = pd.concat(parts, ignore_index=True)
    cur = _regression(800, SPLIT, END, 16, 0.0)
    cur = cur.assign(units_sold=cur["forecast"] + (cur["units_sold"] - cur["forecast"]) * 1.45)  # within range
    checks = {c.subtype: c for c in QualityDetector().run(_window(ref, cur), cfg)}
    mae = checks["mae_worse"]
    assert mae.details["p_independent"] < 1e-4 and mae.details["change"] >= mae.threshold
    assert mae.details["between_chunk_sd"] > 0 and mae.details["reference_chunks"] == 24
    assert mae.status != CheckStatus.FAIL
