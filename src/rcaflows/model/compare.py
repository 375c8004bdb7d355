"""Compare the values of one column (model versions, experiment arms) on the model's loss.

Each value is tested against a baseline value (the stable version: the most common value in the
reference window, else in the current one) with the same unequal-variance z-test the slice
search uses, and Benjamini-Hochberg across the values compared.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from rcaflows.config.models import ModelConfig
from rcaflows.model.metrics import MetricUnavailable, binary_arrays, class_codes, ranking_units, regression_errors
from rcaflows.model.slices import _z, bh_adjust


def row_loss(view: pd.DataFrame, model: ModelConfig) -> tuple[np.ndarray, str]:
    """Return a per-row loss of labelled rows and its name (error for classifiers, |error| for regression).

    Ranking rows carry ``1 - NDCG@k`` of their query, so a slice of queries is judged on its lists.

    Raises:
        MetricUnavailable: when the columns the task needs are missing.
    """
    if model.task == "binary":
        y, p = binary_arrays(view, model.threshold)
        return (y != p).astype(float), "error_rate"
    if model.task == "multiclass":
        yc, pc, _ = class_codes(view, model)
        return (yc != pc).astype(float), "error_rate"
    if model.task == "regression":
        return np.abs(regression_errors(view)), "abs_error"
    q, _ = pd.factorize(view["query"]) if "query" in view.columns else (None, None)
    if q is None:
        raise MetricUnavailable("ranking needs a query column")
    # per query NDCG over all queries (queries without a relevant item count as 1: nothing to miss)
    k = model.analysis.ranking_k
    per_query = np.ones(int(q.max()) + 1)
    rel = view["label"].to_numpy(dtype=float)
    has = np.bincount(q, weights=rel > 0, minlength=len(per_query)) > 0
    ndcg, _ = ranking_units(view, k)
    # ranking_units orders the kept queries by first appearance, as factorize does
    per_query[has] = ndcg
    return 1.0 - per_query[q], "1-ndcg"


@dataclass
class ColumnComparison:
    """Per value of a column: rows, mean loss, and the test against the baseline value."""

    column: str
    baseline: str
    loss_name: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    problem: str | None = None

    def worst(self, alpha: float) -> dict[str, Any] | None:
        """Return the value significantly worse than the baseline with the largest excess, if any."""
        bad = [r for r in self.rows if r["value"] != self.baseline and float(r["q_value"]) < alpha]
        return max(bad, key=lambda r: float(r["n"]) * float(r["lift"]), default=None)


def compare_column(
    current: pd.DataFrame, reference: pd.DataFrame, column: str, model: ModelConfig, min_rows: int = 30
) -> ColumnComparison:
    """Compare each value of ``column`` with the baseline value on the labelled ``current`` rows."""
    if column not in current.columns:
        return ColumnComparison(column, "", "", problem=f"column '{column}' is missing from the prediction log")
    loss, name = row_loss(current, model)
    codes, uniq_raw = pd.factorize(current[column], sort=True)
    uniq = np.asarray([str(v) for v in uniq_raw], dtype=object)
    codes = np.where(codes < 0, len(uniq), codes)  # missing values: their own value
    if (codes == len(uniq)).any():
        uniq = np.append(uniq, "<missing>")
    ref_counts = (
        reference[column].value_counts() if column in reference.columns else pd.Series([], dtype=float)
    )
    seen = {str(v) for v in ref_counts.index}
    baseline = str(ref_counts.idxmax()) if len(ref_counts) else str(uniq[np.bincount(codes).argmax()])
    if len(uniq) < 2:
        return ColumnComparison(column, baseline, name, problem=f"column '{column}' holds one value ({uniq[0]})")
    n = np.bincount(codes, minlength=len(uniq)).astype(float)
    s = np.bincount(codes, weights=loss, minlength=len(uniq))
    q = np.bincount(codes, weights=loss**2, minlength=len(uniq))
    b = int(np.flatnonzero(uniq == baseline)[0]) if baseline in set(uniq) else int(np.argmax(n))
    rows: list[dict[str, Any]] = []
    for i, v in enumerate(uniq):
        z = _z(s[i], q[i], n[i], s[b], q[b], n[b]) if i != b and n[i] >= min_rows else 0.0
        rows.append(
            {
                "value": str(v),
                "n": int(n[i]),
                "loss": float(s[i] / n[i]),
                "lift": float(s[i] / n[i] - s[b] / n[b]),
                "z": float(z),
                "new": str(v) not in seen,
            }
        )
    qv = bh_adjust(norm.sf(np.array([float(r["z"]) for r in rows])))
    for r, qq in zip(rows, qv, strict=True):
        r["q_value"] = float(qq) if r["value"] != uniq[b] else 1.0
    return ColumnComparison(column, str(uniq[b]), name, rows)
