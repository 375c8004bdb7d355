"""The built-in detectors (at least one per incident type); importing this package registers them all."""

from __future__ import annotations

from rcaflows.detection.detectors.availability import AvailabilityDetector
from rcaflows.detection.detectors.data_quality import DataQualityDetector
from rcaflows.detection.detectors.fairness import FairnessDetector
from rcaflows.detection.detectors.integration import IntegrationDetector
from rcaflows.detection.detectors.performance import PerformanceDetector
from rcaflows.detection.detectors.quality import QualityDetector
from rcaflows.detection.detectors.quality_attribution import AttributionDriftDetector
from rcaflows.detection.detectors.security import SecurityDetector
from rcaflows.detection.detectors.training_data import TrainingDataDetector
from rcaflows.detection.detectors.training_poisoning import TrainingPoisoningDetector

__all__ = [
    "AttributionDriftDetector",
    "AvailabilityDetector",
    "DataQualityDetector",
    "FairnessDetector",
    "IntegrationDetector",
    "PerformanceDetector",
    "QualityDetector",
    "SecurityDetector",
    "TrainingDataDetector",
    "TrainingPoisoningDetector",
]
