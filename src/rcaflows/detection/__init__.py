"""Detection: the detector contract, six detectors, robust statistics and the engine that runs them.

``run_detection(config, window)`` runs every registered detector and returns a
:class:`DetectionReport`; ``group_checks(report.checks, config)`` turns its failing checks into
:class:`IncidentCandidate` objects, one per fault: failing checks of any type on connected
components that start close together in time, with a primary type and related signals.
"""

from __future__ import annotations

from rcaflows.detection.base import (
    DETECTORS,
    CheckFactory,
    Detector,
    Scope,
    detector_scope,
    detector_settings,
    detectors_of,
    register,
)
from rcaflows.detection.engine import (
    TITLES,
    DetectionReport,
    IncidentCandidate,
    group_checks,
    run_detection,
)
from rcaflows.detection.model_scope import split_metric
from rcaflows.detection.models import CheckResult
from rcaflows.detection.robust import shift_checks, shift_table
from rcaflows.detection.stats import change_points, detect_drift, score_series

__all__ = [
    "DETECTORS",
    "TITLES",
    "CheckFactory",
    "CheckResult",
    "DetectionReport",
    "Detector",
    "IncidentCandidate",
    "Scope",
    "change_points",
    "detect_drift",
    "detector_scope",
    "detector_settings",
    "detectors_of",
    "group_checks",
    "register",
    "run_detection",
    "score_series",
    "shift_checks",
    "shift_table",
    "split_metric",
]
