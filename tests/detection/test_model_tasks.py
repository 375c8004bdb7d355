"""Quality and fairness detectors read the prediction log through the model's declaration, for every task."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from detection_data import with_model

from rcaflows.config.models import SystemConfig
from rcaflows.data import MonitoringData, Window
from rcaflows.detection.detectors.fairness import FairnessDetector
from rcaflows.detection.detectors.quality import QualityDetector
from rcaflows.model.log import log_notes
from rcaflows.vocab import CheckStatus

END = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SPLIT = END - timedelta(hours=1)
START = END - timedelta(hours=7)


def _config(task: str, **log: object) -> SystemConfig:
    return with_model(task, ["x"], **log)


def _times(n: int, start: datetime, end: datetime, rng: np.random.Generator) -> pd.Series:
    span = (end - start).total_seconds()
    return pd.Series(
        pd.to_datetime(np.sort(rng.uniform(0, span, n)), unit="s", utc=True)
        + (start - datetime(1970, 1, 1, tzinfo=UTC))
    )


def _window(ref: pd.DataFrame, cur: pd.DataFrame) -> Window:
    return Window(
        reference=MonitoringData(start=START, end=SPLIT, predictions=ref),
        current=MonitoringData(start=SPLIT, end=END, predictions=cur),
    )


def _binary(n: int, start: datetime, end: datetime, seed: int, bias_region: str | None = None) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ts = _times(n, start, end, rng)
    y = (rng.random(n) < 0.3).astype(float)
    region = rng.choice(["north", "south", "east"], n)
    sex = rng.choice(["f", "m"], n)
    s = np.clip(np.where(y == 1, 0.72, 0.28) + rng.normal(0, 0.18, n), 0, 1)
    if bias_region is not None:
        s = np.where(region == bias_region, np.clip(s + 0.25, 0, 1), s)
    return pd.DataFrame(
        {
            "timestamp": ts,
            "x": rng.normal(size=n),
            "sex": sex,
            "region": region,
            "p_fraud": s,
            "y_hat": (s >= 0.5).astype(int),
            "y": y,
            "y_at": ts + pd.Timedelta(minutes=5),
        }
    )


BINARY_LOG = {
    "prediction": "y_hat",
    "score": "p_fraud",
    "label": "y",
    "label_time": "y_at",
    "groups": ["sex", "region"],
}


def test_fairness_gaps_match_fairlearn_per_declared_group_column() -> None:
    fl = pytest.importorskip("fairlearn.metrics")
    cfg = _config("binary", **BINARY_LOG)
    ref = _binary(20_000, START, SPLIT, 1)
    cur = _binary(8_000, SPLIT, END - timedelta(minutes=6), 2, bias_region="south")
    checks = {c.subtype: c for c in FairnessDetector().run(_window(ref, cur), cfg)}
    assert {"fpr_gap", "tpr_gap", "fpr_gap[region]", "positive_rate_gap[region]"} <= set(checks)
    y, p = cur["y"].astype(int), cur["y_hat"]
    for col, suffix in (("sex", ""), ("region", "[region]")):
        frame = fl.MetricFrame(
            metrics={
                "fpr": fl.false_positive_rate,
                "tpr": fl.true_positive_rate,
                "positive_rate": fl.selection_rate,
                "accuracy": lambda a, b: float((np.asarray(a) == np.asarray(b)).mean()),
            },
            y_true=y,
            y_pred=p,
            sensitive_features=cur[col],
        )
        gaps = frame.difference(method="between_groups")
        for m in ("fpr", "tpr", "positive_rate", "accuracy"):
            assert checks[f"{m}_gap{suffix}"].statistic == pytest.approx(gaps[m], abs=1e-9), (col, m)
        eo = fl.equalized_odds_difference(y, p, sensitive_features=cur[col])
        assert max(checks[f"fpr_gap{suffix}"].statistic, checks[f"tpr_gap{suffix}"].statistic) == pytest.approx(eo)
    assert checks["fpr_gap[region]"].status == CheckStatus.FAIL
    assert checks["fpr_gap[region]"].details["groups"][0] == "south"
    assert checks["fpr_gap"].status != CheckStatus.FAIL  # sex is not the biased column


def _regression(n: int, start: datetime, end: datetime, seed: int, shift: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ts = _times(n, start, end, rng)
    demand = rng.gamma(4, 25, n)
    fc = demand + rng.normal(shift, 10, n)
    return pd.DataFrame(
        {
            "timestamp": ts,
            "x": rng.normal(size=n),
            "store": rng.choice(["s1", "s2", "s3"], n),
            "forecast": fc,
            "lo": fc - 16.5,
            "hi": fc + 16.5,
            "units_sold": demand,
            "sold_at": ts + pd.Timedelta(minutes=5),
        }
    )


REG_LOG = {
    "prediction": "forecast",
    "label": "units_sold",
    "label_time": "sold_at",
    "groups": ["store"],
    "interval_low": "lo",
    "interval_high": "hi",
}


def test_regression_quality_fails_on_bias_and_is_quiet_without() -> None:
    cfg = _config("regression", **REG_LOG)
    ref = _regression(6_000, START, SPLIT, 3, 0.0)
    ok = {c.subtype: c for c in QualityDetector().run(_window(ref, _regression(2_000, SPLIT, END, 4, 0.0)), cfg)}
    assert set(ok) == {"mae_worse", "rmse_worse", "bias_worse", "interval_coverage_worse"}
    assert all(c.status != CheckStatus.FAIL for c in ok.values())
    bad = {c.subtype: c for c in QualityDetector().run(_window(ref, _regression(2_000, SPLIT, END, 4, 12.0)), cfg)}
    for sub in ("mae_worse", "bias_worse", "interval_coverage_worse"):
        assert bad[sub].status == CheckStatus.FAIL, sub
    assert bad["bias_worse"].statistic == pytest.approx(12.0, abs=1.0)


def test_multiclass_quality_fails_when_one_class_is_lost() -> None:
    cfg = _config("multiclass", prediction="queue", label="true_queue", label_time="routed_at")

    def frame(n: int, start: datetime, end: datetime, seed: int, lost: float) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        ts = _times(n, start, end, rng)
        y = rng.choice(["billing", "tech", "sales", "other"], n, p=[0.4, 0.3, 0.2, 0.1])
        pred = np.where(rng.random(n) < 0.1, rng.choice(["billing", "tech", "sales", "other"], n), y)
        pred = np.where((y == "sales") & (rng.random(n) < lost), "billing", pred)
        return pd.DataFrame(
            {"timestamp": ts, "x": 0.0, "queue": pred, "true_queue": y, "routed_at": ts + pd.Timedelta(minutes=5)}
        )

    ref = frame(8_000, START, SPLIT, 5, 0.0)
    checks = {c.subtype: c for c in QualityDetector().run(_window(ref, frame(3_000, SPLIT, END, 6, 0.6)), cfg)}
    assert checks["min_class_recall_worse"].status == CheckStatus.FAIL
    assert checks["macro_f1_worse"].status == CheckStatus.FAIL
    assert checks["min_class_recall_worse"].statistic < 0.5


def test_bad_input_is_named_and_the_rest_goes_on() -> None:
    cfg = _config("binary", **{**BINARY_LOG, "version": "model_version", "groups": ["sex", "region", "channel"]})
    ref = _binary(6_000, START, SPLIT, 7).assign(model_version="v1")
    cur = _binary(2_000, SPLIT, END, 8).assign(model_version="v1")
    checks = QualityDetector().run(_window(ref, cur), cfg)
    (acc,) = [c for c in checks if c.subtype == "accuracy_drop"]  # quality still judged
    assert acc.details["log_problems"] == [
        "model m: declared column(s) missing from the prediction log: log.groups 'channel'"
    ]
    # one version is normal: a note of the RCA phase, not a problem
    assert log_notes(cur, cfg.models[0]) == ["version column 'model_version' holds one value (v1); nothing to compare"]
    wrong = cur.assign(y=np.where(cur["y"] > 0, "fraud", "ok"))
    checks = QualityDetector().run(_window(ref, wrong), cfg)
    assert [c.subtype for c in checks] == ["prediction_log"]
    assert "label column 'y' must be numeric for a binary model" in checks[0].message


def test_cbpe_warns_on_a_covariate_shift_before_labels_arrive() -> None:
    cfg = _config("binary", **BINARY_LOG)
    ref = _binary(8_000, START, SPLIT, 9)
    cur = _binary(3_000, SPLIT, END, 10)
    # inputs move towards the decision boundary and no label has arrived yet
    cur["p_fraud"] = 0.5 + (cur["p_fraud"] - 0.5) * 0.25
    cur["y_hat"] = (cur["p_fraud"] >= 0.5).astype(int)
    cur["y"], cur["y_at"] = np.nan, pd.Series(pd.NaT, index=cur.index, dtype="datetime64[ns, UTC]")
    (est,) = [c for c in QualityDetector().run(_window(ref, cur), cfg) if c.details.get("estimated")]
    assert est.status == CheckStatus.WARN and est.p_value is None
    assert est.statistic < est.baseline - 0.1


def test_ranking_quality_fails_when_the_ranker_degrades() -> None:
    cfg = _config("ranking", score="relevance_score", label="clicked", label_time="click_at", query="query_id")

    def frame(n_q: int, start: datetime, end: datetime, seed: int, noise: float) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        per = 10
        rel = rng.integers(0, 3, (n_q, per)).astype(float)
        rel[:, 0] = np.maximum(rel[:, 0], 1)
        score = rel + rng.normal(0, noise, (n_q, per))
        ts = np.repeat(_times(n_q, start, end, rng).to_numpy(), per)
        return pd.DataFrame(
            {
                "timestamp": pd.Series(ts).dt.tz_convert("UTC") if ts.dtype != object else ts,
                "x": 0.0,
                "query_id": np.repeat([f"{seed}-{q}" for q in range(n_q)], per),
                "relevance_score": score.ravel(),
                "clicked": rel.ravel(),
                "click_at": pd.Series(ts) + pd.Timedelta(minutes=5),
            }
        )

    ref = frame(3_000, START, SPLIT, 11, 0.8)
    same = {c.subtype: c for c in QualityDetector().run(_window(ref, frame(800, SPLIT, END, 12, 0.8)), cfg)}
    # the last 5 minutes' lists wait for labels: their hit rate and NDCG are estimated (issue 16 item 2)
    assert set(same) == {"ndcg_worse", "hit_rate_worse", "hit_rate_worse_estimated", "ndcg_worse_estimated"}
    assert all(c.status != CheckStatus.FAIL for c in same.values())
    worse = {c.subtype: c for c in QualityDetector().run(_window(ref, frame(800, SPLIT, END, 13, 2.5)), cfg)}
    assert worse["ndcg_worse"].status == CheckStatus.FAIL
    assert worse["ndcg_worse"].statistic < worse["ndcg_worse"].baseline - 0.05
