"""Seeded synthetic monitoring data over the demo system's config, for detector and engine tests.

``make_window(seed)`` returns a normal day of reference plus one current hour: every declared
metric on a 1-minute grid, a prediction log with delayed labels, and the batches the demo's
expectations and drift checks read. Tests inject their own faults into copies of the frames.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from rcaflows.config.loader import demo_config_path, load_config
from rcaflows.config.models import MetricKind, ModelAnalysisConfig, ModelConfig, PredictionLogConfig, SystemConfig
from rcaflows.data import MonitoringData, Window

END = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
CURRENT = END - timedelta(hours=1)
START = END - timedelta(days=1, hours=1)

_LEVEL = {
    MetricKind.LATENCY: 100.0,
    MetricKind.ERROR_RATE: 0.3,
    MetricKind.THROUGHPUT: 600.0,
    MetricKind.CPU: 40.0,
    MetricKind.MEMORY: 50.0,
    MetricKind.NULL_RATE: 0.5,
    MetricKind.ROW_COUNT: 1000.0,
    MetricKind.FRESHNESS: 60.0,
    MetricKind.TIMEOUT_RATE: 0.2,
    MetricKind.OTHER: 10.0,
}
_RATES = {MetricKind.ERROR_RATE, MetricKind.NULL_RATE, MetricKind.TIMEOUT_RATE}


def metric_frame(
    config: SystemConfig,
    rng: np.random.Generator,
    *,
    faults: dict[tuple[str, str], tuple[datetime, float]] | None = None,
    levels: dict[MetricKind, float] | None = None,
) -> pd.DataFrame:
    """Return 25 h of seeded minute samples of every declared metric (``faults``: (onset, factor) steps)."""
    ts = pd.date_range(START, END, freq="1min", inclusive="left")
    level_of = {**_LEVEL, **(levels or {})}
    frames = []
    for spec in config.metrics:
        level = level_of[spec.kind]
        noise = 0.05 if spec.kind in _RATES else 0.03 * level
        v = np.maximum(level + rng.normal(0, noise, len(ts)), 0)
        onset, factor = (faults or {}).get((spec.component, spec.name), (None, 1.0))
        if onset is not None:
            v = np.where(ts >= onset, v * factor, v)
        frames.append(pd.DataFrame({"timestamp": ts, "component": spec.component, "metric": spec.name, "value": v}))
    return pd.concat(frames, ignore_index=True).sort_values("timestamp", kind="stable").reset_index(drop=True)


def _predictions(config: SystemConfig, rng: np.random.Generator, per_min: int = 20) -> pd.DataFrame:
    assert config.models
    n = 25 * 60 * per_min
    start_ns = pd.Timestamp(START).value
    offs = np.sort(rng.uniform(0, 25 * 3600e9, n)).astype(np.int64)
    ts = pd.to_datetime(start_ns + offs, utc=True)
    fraud = rng.random(n) < 0.05
    feats = {}
    logit = np.full(n, -4.0)
    for i, f in enumerate(config.models[0].features):
        z = rng.standard_normal(n) + 1.2 * fraud
        feats[f] = np.exp(3 + 0.5 * z) if f == "amount" else 10 + 2 * z + i
        logit += 0.6 * z
    score = 1 / (1 + np.exp(-logit))
    label = fraud.astype(float)
    label_at = ts + pd.to_timedelta(config.models[0].label_delay) + pd.to_timedelta(rng.uniform(0, 60, n), unit="s")
    return pd.DataFrame(
        {
            "timestamp": ts,
            "client_id": rng.choice([f"c-{i:03d}" for i in range(50)], n),
            "group": np.where(rng.random(n) < 0.3, "B", "A"),
            **feats,
            "score": score,
            "prediction": (score >= config.models[0].threshold).astype(int),
            "label": label,
            "label_at": label_at,
        }
    )


def _batches(preds: pd.DataFrame, config: SystemConfig, rng: np.random.Generator) -> dict[str, pd.DataFrame]:
    assert config.models
    fs = preds[["timestamp", *config.models[0].features]].copy()
    fs["hour"] = fs["timestamp"].dt.hour.astype(float)
    fs["merchant_risk"] = rng.uniform(0, 1, len(fs))
    n = len(preds)
    raw_tx = pd.DataFrame(
        {
            "timestamp": preds["timestamp"],
            "amount": fs["amount"],
            "currency": rng.choice(["EUR", "USD", "GBP"], n),
        }
    )
    raw_m = pd.DataFrame(
        {
            "timestamp": preds["timestamp"].iloc[::10].to_numpy(),
            "merchant_id": np.arange(len(preds["timestamp"].iloc[::10])),
            "risk_score": rng.uniform(0, 1, len(preds["timestamp"].iloc[::10])),
            "age_days": rng.integers(1, 3000, len(preds["timestamp"].iloc[::10])),
        }
    )
    return {"feature_store": fs, "raw_transactions": raw_tx, "raw_merchants": raw_m}


def make_data(config: SystemConfig, seed: int = 0) -> MonitoringData:
    """Return 25 h of seeded normal monitoring data ending at :data:`END`."""
    rng = np.random.default_rng(seed)
    preds = _predictions(config, rng)
    return MonitoringData(
        start=START,
        end=END,
        metrics=metric_frame(config, rng),
        predictions=preds,
        batches=_batches(preds, config, rng),
    )


def split(data: MonitoringData) -> Window:
    """Return the detection window of ``data``: 24 h reference, the last hour current."""
    return Window.split(data, CURRENT)


def with_frames(data: MonitoringData, **frames: object) -> MonitoringData:
    """Return ``data`` with some frames replaced."""
    return replace(data, **frames)


def with_model(
    task: str, features: list[str], analysis: ModelAnalysisConfig | None = None, **log: object
) -> SystemConfig:
    """Return the demo config with its model replaced by model ``m`` of ``task`` on ``features``.

    The model's log is declared by ``log`` and its analysis settings by ``analysis`` (defaults if None).
    """
    base = load_config(demo_config_path())
    assert base.models
    model = ModelConfig(
        name="m",
        component=base.models[0].component,
        lineage_node=base.models[0].lineage_node,
        features=features,
        task=task,
        label_delay=timedelta(minutes=5),
        log=PredictionLogConfig(**log),
        analysis=analysis or ModelAnalysisConfig(),
    )
    return base.model_copy(update={"models": [model]})
