"""Tests of the metrics derived from the prediction log."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rcaflows.config.loader import load_config
from rcaflows.sources.derive import prediction_metrics

T0 = pd.Timestamp("2026-03-02T10:00:00Z")


def _log() -> pd.DataFrame:
    """Return a tiny prediction log over three minutes with known answers."""
    rows = [
        # minute 0: client a x2, b x1
        (0, "a", "A", 0.9, 1, 1.0, 1.0),
        (10, "a", "B", 0.2, 0, 0.0, np.nan),
        (20, "b", "A", 0.7, 1, 0.0, 2.0),
        # minute 1: nothing from b
        (70, "a", "A", 0.5, 1, np.nan, 3.0),
        # minute 2: b only
        (130, "b", "B", 0.6, 1, 0.0, 4.0),
    ]
    df = pd.DataFrame(rows, columns=["sec", "client_id", "group", "score", "prediction", "label", "amount"])
    df["timestamp"] = T0 + pd.to_timedelta(df.pop("sec"), unit="s")
    return df


def _value(out: pd.DataFrame, comp: str, metric: str, minute: int) -> float:
    sel = out[
        (out["component"] == comp) & (out["metric"] == metric) & (out["timestamp"] == T0 + pd.Timedelta(minutes=minute))
    ]
    assert len(sel) == 1, (comp, metric, minute)
    return float(sel["value"].iloc[0])


def test_model_metrics_per_minute() -> None:
    model = load_config().models[0]
    assert model is not None
    model = model.model_copy(update={"features": ["amount"]})
    out = prediction_metrics(_log(), model)
    assert list(out.columns) == ["timestamp", "component", "metric", "value"]
    assert str(out["timestamp"].dt.tz) == "UTC"
    assert _value(out, "fraud_model", "requests_per_min", 0) == 3
    assert _value(out, "fraud_model", "score_mean", 0) == pytest.approx((0.9 + 0.2 + 0.7) / 3)
    assert _value(out, "fraud_model", "positive_rate", 0) == pytest.approx(2 / 3)
    assert _value(out, "fraud_model", "confidence_mean", 0) == pytest.approx((0.8 + 0.6 + 0.4) / 3)
    assert _value(out, "fraud_model", "null_feature_rate", 0) == pytest.approx(1 / 3)
    # accuracy only over rows whose label arrived: minute 0 has labels 1 (correct), 0 (correct), 0 (wrong)
    assert _value(out, "fraud_model", "accuracy", 0) == pytest.approx(2 / 3)
    assert out[(out["metric"] == "accuracy") & (out["timestamp"] == T0 + pd.Timedelta(minutes=1))].empty
    assert _value(out, "fraud_model", "fpr[group=A]", 0) == 1.0  # the one negative in A was flagged
    assert _value(out, "fraud_model", "fpr[group=B]", 0) == 0.0
    assert _value(out, "fraud_model", "fpr_gap", 0) == 1.0
    assert _value(out, "fraud_model", "positive_rate[group=B]", 2) == 1.0


def test_client_request_rates_are_zero_filled() -> None:
    model = load_config().models[0]
    assert model is not None
    out = prediction_metrics(_log(), model)
    assert _value(out, "client:a", "requests_per_min", 0) == 2
    assert _value(out, "client:b", "requests_per_min", 1) == 0
    assert _value(out, "client:a", "requests_per_min", 2) == 0
    five = prediction_metrics(_log(), model, freq="5min")
    assert _value(five, "fraud_model", "requests_per_min", 0) == pytest.approx(5 / 5)


def test_empty_log_gives_empty_metrics() -> None:
    model = load_config().models[0]
    assert model is not None
    out = prediction_metrics(pd.DataFrame(), model)
    assert out.empty and list(out.columns) == ["timestamp", "component", "metric", "value"]
