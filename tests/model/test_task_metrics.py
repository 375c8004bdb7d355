"""Task metrics equal scikit-learn's on the same rows, and their tests flag a worse window."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rcaflows.config.models import ModelConfig, PredictionLogConfig
from rcaflows.model.metrics import MetricUnavailable, compare, value

sk = pytest.importorskip("sklearn.metrics")


def _model(task: str, **log: object) -> ModelConfig:
    return ModelConfig(
        name="m", component="m", lineage_node="m", features=[], task=task, log=PredictionLogConfig(**log)
    )


def _binary(n: int, seed: int, flip: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(float)
    s = np.clip(np.where(y == 1, 0.7, 0.3) + rng.normal(0, 0.2, n), 0, 1)
    pred = (s >= 0.5).astype(int)
    pred = np.where(rng.random(n) < flip, 1 - pred, pred)
    return pd.DataFrame({"label": y, "score": s, "prediction": pred})


def _multiclass(n: int, seed: int, err: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = rng.choice(["billing", "tech", "sales", "other"], size=n, p=[0.4, 0.3, 0.2, 0.1])
    wrong = rng.random(n) < err
    pred = np.where(wrong, rng.choice(["billing", "tech", "sales", "other"], size=n), y)
    return pd.DataFrame({"label": y, "prediction": pred})


def test_binary_metrics_match_sklearn() -> None:
    df = _binary(3000, 1, 0.05)
    m = _model("binary")
    y, p = df["label"].astype(int), df["prediction"]
    assert value(df, m, "accuracy")[0] == pytest.approx(sk.accuracy_score(y, p))
    assert value(df, m, "precision")[0] == pytest.approx(sk.precision_score(y, p))
    assert value(df, m, "recall")[0] == pytest.approx(sk.recall_score(y, p))
    assert value(df, m, "f1")[0] == pytest.approx(sk.f1_score(y, p))


def test_multiclass_metrics_match_sklearn() -> None:
    df = _multiclass(4000, 2, 0.2)
    m = _model("multiclass")
    y, p = df["label"], df["prediction"]
    assert value(df, m, "macro_f1")[0] == pytest.approx(sk.f1_score(y, p, average="macro"))
    assert value(df, m, "micro_f1")[0] == pytest.approx(sk.f1_score(y, p, average="micro"))
    assert value(df, m, "accuracy")[0] == pytest.approx(sk.accuracy_score(y, p))
    assert value(df, m, "min_class_recall")[0] == pytest.approx(sk.recall_score(y, p, average=None).min())


def test_multiclass_calibration_error_matches_its_definition() -> None:
    rng = np.random.default_rng(3)
    n = 2000
    logits = rng.normal(0, 1.5, (n, 3))
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = np.array([rng.choice(3, p=row) for row in probs**0.7 / (probs**0.7).sum(axis=1, keepdims=True)])
    df = pd.DataFrame({"label": y, "p0": probs[:, 0], "p1": probs[:, 1], "p2": probs[:, 2]})
    m = _model("multiclass", class_scores={"0": "p0", "1": "p1", "2": "p2"}, prediction="none")
    conf, pred = probs.max(axis=1), probs.argmax(axis=1)
    ece = 0.0
    for b in range(10):
        inb = (conf >= b / 10) & ((conf < (b + 1) / 10) if b < 9 else (conf <= 1))
        if inb.any():
            ece += inb.sum() / n * abs((pred[inb] == y[inb]).mean() - conf[inb].mean())
    assert value(df, m, "calibration_error")[0] == pytest.approx(ece)
    assert value(df, m, "accuracy")[0] == pytest.approx((pred == y).mean())


def test_regression_metrics_match_sklearn() -> None:
    rng = np.random.default_rng(4)
    y = rng.gamma(3, 20, 5000)
    pred = y + rng.normal(2, 8, 5000)
    df = pd.DataFrame({"label": y, "prediction": pred, "lo": pred - 12, "hi": pred + 12})
    m = _model("regression", interval_low="lo", interval_high="hi")
    view = df.rename(columns={"lo": "interval_low", "hi": "interval_high"})
    assert value(view, m, "mae")[0] == pytest.approx(sk.mean_absolute_error(y, pred))
    assert value(view, m, "rmse")[0] == pytest.approx(np.sqrt(sk.mean_squared_error(y, pred)))
    assert value(view, m, "bias")[0] == pytest.approx(float(np.mean(pred - y)))
    assert value(view, m, "interval_coverage")[0] == pytest.approx(float(np.mean(np.abs(pred - y) <= 12)))


def test_ranking_metrics_match_sklearn() -> None:
    rng = np.random.default_rng(5)
    n_q, per = 200, 15
    rel = rng.integers(0, 4, (n_q, per)).astype(float)
    rel[:, 0] = np.maximum(rel[:, 0], 1)  # every query has a relevant item
    score = rel + rng.normal(0, 1.5, (n_q, per))
    df = pd.DataFrame({"query": np.repeat(np.arange(n_q), per), "label": rel.ravel(), "score": score.ravel()}).sample(
        frac=1.0, random_state=0
    )  # rows in any order
    m = _model("ranking", query="query")
    assert value(df, m, "ndcg")[0] == pytest.approx(sk.ndcg_score(rel, score, k=10))
    top = np.argsort(-score, axis=1)[:, :10]
    hit = (np.take_along_axis(rel, top, axis=1) > 0).any(axis=1).mean()
    assert value(df, m, "hit_rate")[0] == pytest.approx(hit)


@pytest.mark.parametrize(
    ("task", "metric"),
    [("binary", "accuracy"), ("binary", "f1"), ("multiclass", "macro_f1"), ("multiclass", "min_class_recall")],
)
def test_classifier_tests_flag_only_a_worse_window(task: str, metric: str) -> None:
    m = _model(task)
    make = _binary if task == "binary" else _multiclass
    ref = make(4000, 10, 0.05)
    same = make(2000, 11, 0.05)
    worse = make(2000, 12, 0.25)
    assert compare(ref, same, m, metric).p_value > 0.01
    t = compare(ref, worse, m, metric)
    assert t.change > 0.05 and t.p_value < 1e-6


def test_regression_tests_flag_a_biased_window() -> None:
    rng = np.random.default_rng(6)
    m = _model("regression")

    def frame(n: int, shift: float) -> pd.DataFrame:
        y = rng.gamma(3, 20, n)
        return pd.DataFrame({"label": y, "prediction": y + rng.normal(shift, 8, n)})

    ref, same, biased = frame(4000, 0), frame(2000, 0), frame(2000, 6)
    for metric in ("mae", "rmse", "bias"):
        assert compare(ref, same, m, metric).p_value > 0.001
        t = compare(ref, biased, m, metric)
        assert t.change > 0 and t.p_value < 1e-6, metric


def test_unavailable_metric_says_why() -> None:
    with pytest.raises(MetricUnavailable, match="interval"):
        value(pd.DataFrame({"label": [1.0, 2.0], "prediction": [1.0, 2.5]}), _model("regression"), "interval_coverage")
