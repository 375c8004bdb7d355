"""Metrics derived from a prediction log shared by two models: each model's series from its own rows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from rcaflows.config import parse_config
from rcaflows.config.models import SystemConfig
from rcaflows.sources.derive import models_metrics, prediction_metrics

CONFIG = """
system: {name: two}
sources: [{name: log, kind: files, options: {directory: .}}]
components:
  - {name: risk_model, kind: model, team: ml}
  - {name: spam_model, kind: model, team: ml}
lineage:
  nodes:
    - {name: risk_model, kind: model, component: risk_model}
    - {name: spam_model, kind: model, component: spam_model}
models:
  - {name: risk_model, component: RISK, lineage_node: risk_model, features: [x], log: {model: served_by}}
  - {name: spam_model, component: spam_model, lineage_node: spam_model, features: [x], log: {model: served_by}}
teams: [{name: ml, channels: [console]}]
routing: {default_team: ml}
notifications: [{name: console, kind: console}]
"""


def config(risk_component: str = "risk_model") -> SystemConfig:
    return parse_config(CONFIG.replace("RISK", risk_component))


def log(seed: int = 1) -> pd.DataFrame:
    """Return 2 h of both models' rows: risk_model right 90 % of the time and 3 rows a minute, spam_model 10 %, 1."""
    rng = np.random.default_rng(seed)
    minutes = np.repeat(np.arange(120), 4)
    ts = pd.Timestamp("2026-03-02T10:00:00Z") + pd.to_timedelta(minutes, unit="min")
    served = np.tile(["risk_model", "risk_model", "risk_model", "spam_model"], 120)
    label = rng.integers(0, 2, len(ts)).astype(float)
    right = np.where(served == "risk_model", rng.random(len(ts)) < 0.9, rng.random(len(ts)) < 0.1)
    return pd.DataFrame(
        {
            "timestamp": ts,
            "served_by": served,
            "client_id": np.where(minutes % 2 == 0, "c-1", "c-2"),  # c-1 in even minutes, c-2 in odd ones
            "x": rng.normal(size=len(ts)),
            "prediction": np.where(right, label, 1 - label),
            "label": label,
        }
    )


def series(metrics: pd.DataFrame, component: str, metric: str) -> pd.Series:
    sel = metrics[(metrics["component"] == component) & (metrics["metric"] == metric)]
    return sel.set_index("timestamp")["value"]


def test_each_model_gets_its_own_rows_under_its_own_component() -> None:
    cfg = config()
    out = models_metrics(log(), cfg.models)
    assert series(out, "risk_model", "requests_per_min").eq(3.0).all()
    assert series(out, "spam_model", "requests_per_min").eq(1.0).all()
    assert abs(series(out, "risk_model", "accuracy").mean() - 0.9) < 0.05
    assert abs(series(out, "spam_model", "accuracy").mean() - 0.1) < 0.05
    # a client calling both models: its requests per minute are the sum over them, one series
    c1 = series(out, "client:c-1", "requests_per_min")
    assert c1.index.is_unique and set(c1.unique()) == {0.0, 4.0} and c1.sum() == 240
    # one model alone: only its rows
    alone = prediction_metrics(log(), cfg.models[1])
    assert set(alone["component"]) == {"spam_model", "client:c-1", "client:c-2"}
    assert (
        series(alone, "client:c-1", "requests_per_min").sum() + series(alone, "client:c-2", "requests_per_min").sum()
        == 120
    )


def test_two_models_on_one_component_get_their_names_in_the_metric() -> None:
    out = models_metrics(log(), config("spam_model").models)
    names = set(out.loc[out["component"] == "spam_model", "metric"])
    assert {"accuracy[model=risk_model]", "accuracy[model=spam_model]"} <= names
    assert "accuracy" not in names
    dupes = out.duplicated(["timestamp", "component", "metric"])
    assert not dupes.any()
