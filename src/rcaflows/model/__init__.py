"""Model-aware analysis: prediction logs read through their declaration, task metrics, slices, versions."""

from __future__ import annotations

from rcaflows.model.compare import ColumnComparison, compare_column, row_loss
from rcaflows.model.estimate import Calibrator, Estimate, estimated_accuracy
from rcaflows.model.log import group_columns, labelled, log_notes, log_problems, model_view, slice_columns
from rcaflows.model.metrics import MetricTest, MetricUnavailable, compare, default_metrics, value
from rcaflows.model.slices import Slice, SliceSearch, bh_adjust, search

__all__ = [
    "Calibrator",
    "ColumnComparison",
    "Estimate",
    "MetricTest",
    "MetricUnavailable",
    "Slice",
    "SliceSearch",
    "bh_adjust",
    "compare",
    "compare_column",
    "default_metrics",
    "estimated_accuracy",
    "group_columns",
    "labelled",
    "log_notes",
    "log_problems",
    "model_view",
    "row_loss",
    "search",
    "slice_columns",
    "value",
]
