"""Metric series derived from the prediction log, so the model and its clients become RCA candidates.

On the model's component: ``requests_per_min``, ``score_mean``, ``positive_rate``,
``confidence_mean`` (mean of ``|score - 0.5| * 2``), ``null_feature_rate``, ``accuracy`` (rows whose
label has arrived, by prediction time), per group ``positive_rate[group=X]`` and ``fpr[group=X]``,
and the gaps between groups ``positive_rate_gap`` and ``fpr_gap``.  On ``client:<id>``:
``requests_per_min`` (zero-filled over the whole span of the log).

With several models, :func:`models_metrics` derives each model's series from its own rows
(:func:`rcaflows.model.log.rows_of`) under its own component; a client's ``requests_per_min`` is
the sum over the models it calls. Two models that declare one component would give that component
two series of one name: their model metrics then carry ``[model=<name>]``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from rcaflows.config.models import ModelConfig
from rcaflows.data import check_frame, empty_metrics
from rcaflows.graph import CLIENT_PREFIX
from rcaflows.model.log import rows_of


def _long(wide: pd.DataFrame, component: str | pd.Series) -> pd.DataFrame:
    """Melt a ``timestamp x metric`` frame to the long metrics format."""
    if wide.empty:
        return empty_metrics()
    wide = wide.copy()
    wide.index.name = "timestamp"
    wide.columns.name = "metric"
    out = wide.stack(future_stack=True).rename("value").reset_index().dropna(subset=["value"])
    out.insert(1, "component", component)
    return out[["timestamp", "component", "metric", "value"]]


def models_metrics(predictions: pd.DataFrame, models: Sequence[ModelConfig], freq: str = "1min") -> pd.DataFrame:
    """Return the long metrics of every model's rows of a prediction log (see the module docstring)."""
    parts = []
    for model in models:
        shared = sum(m.component == model.component for m in models) > 1
        part = prediction_metrics(predictions, model, freq)
        if shared and not part.empty:
            own = part["component"] == model.component
            part.loc[own, "metric"] = part.loc[own, "metric"] + f"[model={model.name}]"
        parts.append(part)
    parts = [p for p in parts if not p.empty]
    if not parts:
        return empty_metrics()
    out = pd.concat(parts, ignore_index=True)
    if len(parts) > 1:
        # a client calling several models: its requests per minute is the sum over them
        keys = ["timestamp", "component", "metric"]
        client = out["component"].str.startswith(CLIENT_PREFIX)
        summed = out.loc[client].groupby(keys, as_index=False, sort=False)["value"].sum()
        out = pd.concat([out.loc[~client], summed], ignore_index=True)
    return out.sort_values(["component", "metric", "timestamp"], kind="stable").reset_index(drop=True)


def prediction_metrics(predictions: pd.DataFrame, model: ModelConfig, freq: str = "1min") -> pd.DataFrame:
    """Return long metrics (``timestamp, component, metric, value``) derived from ``model``'s rows of a prediction log.

    Args:
        predictions: the prediction log (``timestamp``, client, group, features, ``score``,
            ``prediction``, ``label``); rows of other models (:func:`~rcaflows.model.log.rows_of`)
            are left out.
        model: the model config (component, feature, group and client columns, threshold).
        freq: bucket size; ``requests_per_min`` is scaled to requests per minute.
    """
    if predictions is None or predictions.empty or "timestamp" not in predictions.columns:
        return empty_metrics()
    predictions = rows_of(predictions, model)
    if predictions.empty:
        return empty_metrics()
    predictions = check_frame(predictions, ("timestamp",), "predictions")
    minutes = pd.Timedelta(freq) / pd.Timedelta(minutes=1)
    bucket = predictions["timestamp"].dt.floor(freq)
    score = pd.to_numeric(predictions["score"], errors="coerce") if "score" in predictions else None
    if "prediction" in predictions:
        pred = pd.to_numeric(predictions["prediction"], errors="coerce")
    elif score is not None:
        pred = (score >= model.threshold).astype(float)
    else:
        pred = None
    frame = pd.DataFrame({"bucket": bucket})
    if score is not None:
        frame["score"] = score.to_numpy()
        frame["confidence"] = (score - 0.5).abs().to_numpy() * 2
    if pred is not None:
        frame["positive"] = pred.to_numpy()
    feats = [f for f in model.features if f in predictions.columns]
    if feats:
        frame["null_rate"] = predictions[feats].isna().to_numpy().mean(axis=1)
    label = None
    if "label" in predictions and pred is not None:
        label = pd.to_numeric(predictions["label"], errors="coerce")
        frame["correct"] = np.where(label.notna(), (pred.to_numpy() == label.to_numpy()).astype(float), np.nan)
        frame["fp"] = np.where(label.to_numpy() == 0, pred.to_numpy(), np.nan)
    g = frame.groupby("bucket")
    wide = pd.DataFrame({"requests_per_min": g.size() / minutes})
    for col, name in (
        ("score", "score_mean"),
        ("positive", "positive_rate"),
        ("confidence", "confidence_mean"),
        ("null_rate", "null_feature_rate"),
        ("correct", "accuracy"),
    ):
        if col in frame:
            wide[name] = g[col].mean()
    gcol = model.group_column
    if gcol in predictions.columns:
        frame["group"] = predictions[gcol].astype(str).to_numpy()
        gg = frame.groupby(["bucket", "group"])
        parts = []
        if "positive" in frame:
            pr = gg["positive"].mean().unstack("group")
            parts.append(pr.rename(columns=lambda x: f"positive_rate[group={x}]"))
            if pr.shape[1] >= 2:
                wide["positive_rate_gap"] = pr.max(axis=1) - pr.min(axis=1)
        if "fp" in frame:
            fpr = gg["fp"].mean().unstack("group")
            parts.append(fpr.rename(columns=lambda x: f"fpr[group={x}]"))
            if fpr.shape[1] >= 2:
                wide["fpr_gap"] = fpr.max(axis=1) - fpr.min(axis=1)
        if parts:
            wide = wide.join(pd.concat(parts, axis=1))
    out = [_long(wide, model.component)]
    ccol = model.client_column
    if ccol in predictions.columns:
        counts = (
            frame.assign(client=predictions[ccol].astype(str).to_numpy())
            .groupby(["bucket", "client"])
            .size()
            .unstack("client")
        )
        # A client that sends nothing in a minute sent zero requests: fill the whole log's span,
        # so a new client shows as a rise from zero rather than a series without a baseline.
        full = pd.date_range(wide.index.min(), wide.index.max(), freq=freq)
        counts = counts.reindex(full).fillna(0.0) / minutes
        counts.index.name = "timestamp"
        long = counts.stack(future_stack=True).rename("value").reset_index().dropna(subset=["value"])
        long["component"] = CLIENT_PREFIX + long["client"].astype(str)
        long["metric"] = "requests_per_min"
        out.append(long[["timestamp", "component", "metric", "value"]])
    res = pd.concat(out, ignore_index=True)
    res["value"] = res["value"].astype(float)
    return res.sort_values(["component", "metric", "timestamp"], kind="stable").reset_index(drop=True)
