"""Model-aware analysis: prediction logs read through their declaration, task metrics, slices, versions."""

from __future__ import annotations

from rcaflows.model.compare import ColumnComparison, compare_column, row_loss
from rcaflows.model.estimate import (
    Calibrator,
    ClassCalibrator,
    DirectLoss,
    Estimate,
    GradeCalibrator,
    NdcgEstimate,
    RankingEstimate,
    RegressionEstimate,
    estimate_hit_rate,
    estimate_ndcg,
    estimated_accuracy,
    estimated_multiclass_accuracy,
)
from rcaflows.model.individual import IndividualFairness, compare_windows
from rcaflows.model.log import group_columns, labelled, log_notes, log_problems, model_view, slice_columns
from rcaflows.model.metrics import CustomMetricError, MetricTest, MetricUnavailable, compare, default_metrics, value
from rcaflows.model.slices import Slice, SliceSearch, bh_adjust, search

__all__ = [
    "Calibrator",
    "ClassCalibrator",
    "ColumnComparison",
    "CustomMetricError",
    "DirectLoss",
    "Estimate",
    "GradeCalibrator",
    "IndividualFairness",
    "MetricTest",
    "MetricUnavailable",
    "NdcgEstimate",
    "RankingEstimate",
    "RegressionEstimate",
    "Slice",
    "SliceSearch",
    "bh_adjust",
    "compare",
    "compare_column",
    "compare_windows",
    "default_metrics",
    "estimate_hit_rate",
    "estimate_ndcg",
    "estimated_accuracy",
    "estimated_multiclass_accuracy",
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
