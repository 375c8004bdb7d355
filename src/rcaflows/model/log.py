"""Read a model's prediction log through its declaration (``model.log`` in the system config).

Every detector and RCA phase that looks at predictions goes through :func:`model_view`, which
returns the rows with the declared columns under fixed role names (``prediction``, ``score``,
``label``, ``label_at``, ``version``, ``arm``, ``id``, ``query``, ``interval_low``,
``interval_high``) next to the group, feature and class-score columns under their own names.
:func:`log_problems` names what is wrong with a log (a declared column missing, labels of the
wrong type for the task) so a check can say it and the rest of the analysis goes on;
:func:`log_notes` says when a version or arm column has one value (nothing to compare).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from rcaflows.config.models import ModelConfig
from rcaflows.data import SOURCE_COLUMN

#: Role -> attribute of :class:`~rcaflows.config.models.PredictionLogConfig` naming its column.
ROLES = (
    ("prediction", "prediction"),
    ("score", "score"),
    ("label", "label"),
    ("label_at", "label_time"),
    ("version", "version"),
    ("arm", "arm"),
    ("id", "id"),
    ("query", "query"),
    ("interval_low", "interval_low"),
    ("interval_high", "interval_high"),
)


def group_columns(model: ModelConfig) -> list[str]:
    """Return the declared group columns (``log.groups``, else ``[group_column]``)."""
    return list(model.log.groups) or [model.group_column]


def slice_columns(model: ModelConfig) -> list[str]:
    """Return the columns the slice search intersects: declared, else groups plus version and arm."""
    if model.analysis.slice_columns:
        return list(model.analysis.slice_columns)
    cols = group_columns(model)
    cols += [c for c in (model.log.version, model.log.arm) if c]
    return list(dict.fromkeys(cols))


def rows_of(df: pd.DataFrame, model: ModelConfig) -> pd.DataFrame:
    """Return the rows of a prediction log that ``model`` served.

    A model that names its ``source`` keeps that source's rows; one that declares ``log.model``
    keeps the rows whose value there is its name; a model that does neither keeps every row (the
    config allows that only when the system has one model).
    """
    if df.empty:
        return df
    keep = None
    if model.source is not None and SOURCE_COLUMN in df.columns:
        keep = (df[SOURCE_COLUMN] == model.source).to_numpy()
    if model.log.model is not None and model.log.model in df.columns:
        mine = (df[model.log.model].astype(str) == model.name).to_numpy()
        keep = mine if keep is None else keep & mine
    return df if keep is None or keep.all() else df.loc[keep]


def model_view(df: pd.DataFrame, model: ModelConfig, *, features: bool = True) -> pd.DataFrame:
    """Return ``model``'s rows of ``df`` with each declared role column under its role name.

    Absent columns are left out. ``features=False`` leaves out the feature, class-score and
    attribution columns (a slice search over a million rows needs only the roles and the slice
    columns).
    """
    if df.empty and not len(df.columns):
        return df
    df = rows_of(df, model)
    out: dict[str, Any] = {}
    if "timestamp" in df.columns:
        out["timestamp"] = df["timestamp"]
    for role, attr in ROLES:
        col = getattr(model.log, attr)
        if col is not None and col in df.columns:
            out[role] = df[col]
    if "label_at" in out and not isinstance(out["label_at"].dtype, pd.DatetimeTZDtype):
        # sources parse only their own 'label_at'; a declared label-time column may arrive as text
        out["label_at"] = pd.to_datetime(out["label_at"], errors="coerce", utc=True, format="ISO8601")
    roles = set(out)
    keep = [*group_columns(model), *model.log.class_scores.values()]
    if features:
        keep += [*model.features, *model.log.attributions.values()]
    # slices are named by the log's own column names, so those stay under them too
    keep += [model.client_column, *slice_columns(model)]
    for col in dict.fromkeys(keep):
        if col in df.columns and col not in roles:
            out[col] = df[col]
    return pd.DataFrame(out, index=df.index)


def labelled(view: pd.DataFrame, as_of: object) -> pd.DataFrame:
    """Return the rows whose label has arrived by ``as_of`` (label present, ``label_at < as_of``)."""
    if view.empty or "label" not in view.columns:
        return view.iloc[0:0]
    ok = view["label"].notna()
    if "label_at" in view.columns:
        ok &= view["label_at"].notna() & (view["label_at"] < as_of)
    return view.loc[ok]


def log_problems(df: pd.DataFrame, model: ModelConfig) -> list[str]:
    """Return one message per problem of the log against the model's declaration (empty when fine)."""
    if df.empty:
        return []
    out = []
    log = model.log
    declared: list[tuple[str, str | None]] = [
        ("log.prediction", log.prediction),
        ("log.label", log.label),
        ("log.version", log.version),
        ("log.arm", log.arm),
        ("log.id", log.id),
        ("log.query", log.query),
        ("log.interval_low", log.interval_low),
        ("log.interval_high", log.interval_high),
    ]
    if model.task in ("binary", "ranking"):
        declared.append(("log.score", log.score))
    declared += [("log.groups", g) for g in group_columns(model)]
    declared += [(f"log.class_scores[{k}]", v) for k, v in log.class_scores.items()]
    declared += [(f"log.attributions[{k}]", v) for k, v in log.attributions.items()]
    missing = [f"{field} '{col}'" for field, col in declared if col is not None and col not in df.columns]
    # the default prediction column may be absent when a binary score is thresholded instead
    missing = [m for m in missing if not (m.startswith("log.prediction") and model.task == "binary")]
    if missing:
        out.append(f"model {model.name}: declared column(s) missing from the prediction log: {', '.join(missing)}")
    if log.label in df.columns:
        out += _label_problems(df[log.label], model)
    return out


def log_notes(df: pd.DataFrame, model: ModelConfig) -> list[str]:
    """Return why a declared comparison (version, arm) has nothing to compare: one value only.

    One version in production is the normal state, so this is a note for the analysis, not a problem.
    """
    out = []
    for field in ("version", "arm"):
        col = getattr(model.log, field)
        if col is not None and col in df.columns and df[col].nunique(dropna=True) < 2:
            out.append(
                f"{field} column '{col}' holds one value "
                f"({df[col].dropna().iloc[0] if df[col].notna().any() else 'none'}); nothing to compare"
            )
    return out


def _label_problems(labels: pd.Series, model: ModelConfig) -> list[str]:
    """Return a message when the labels do not fit the task (binary 0/1, numeric regression/ranking)."""
    y = labels.dropna()
    if y.empty:
        return []
    where = f"model {model.name}: label column '{model.log.label}'"
    if model.task in ("regression", "ranking", "binary"):
        num = pd.to_numeric(y, errors="coerce")
        bad = y[num.isna()]
        if len(bad):
            return [f"{where} must be numeric for a {model.task} model; got {bad.iloc[0]!r} ({len(bad)} rows)"]
        if model.task == "binary":
            odd = y[~np.isin(num.to_numpy(float), (0.0, 1.0))]
            if len(odd):
                return [f"{where} must be 0/1 for a binary model; got {odd.iloc[0]!r} ({len(odd)} rows)"]
        if model.task == "ranking" and (num < 0).any():
            return [f"{where} holds negative relevance ({float(num.min())}); expected graded relevance >= 0"]
    if model.task == "regression" and y.nunique() <= 2 and len(y) > 50:
        return [f"{where} has only {y.nunique()} distinct values: is this a classifier's label?"]
    return []
