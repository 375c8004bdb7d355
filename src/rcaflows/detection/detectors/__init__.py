"""The six detectors, one per incident type; importing this package registers them all."""

from __future__ import annotations

from rcaflows.detection.detectors.data_quality import DataQualityDetector
from rcaflows.detection.detectors.fairness import FairnessDetector
from rcaflows.detection.detectors.integration import IntegrationDetector
from rcaflows.detection.detectors.performance import PerformanceDetector
from rcaflows.detection.detectors.quality import QualityDetector
from rcaflows.detection.detectors.security import SecurityDetector

__all__ = [
    "DataQualityDetector",
    "FairnessDetector",
    "IntegrationDetector",
    "PerformanceDetector",
    "QualityDetector",
    "SecurityDetector",
]
