"""Training-data poisoning: duplicated records with flipped labels and a burst of records from one source.

The security half of the training-batch checks (:mod:`rcaflows.detection.detectors.training_data`
holds the shared machinery and the data-quality half): each training batch that landed in the
window is tested for its share of exact duplicates of known inputs carrying another label, and for
a source whose share of the batch is far above its share of the earlier batches
(:mod:`rcaflows.detection.poisoning`). Failures open security incidents on the training node's
component.
"""

from __future__ import annotations

from rcaflows.config.models import SystemConfig
from rcaflows.data import Window
from rcaflows.detection.base import register
from rcaflows.detection.detectors.training_data import POISONING_DETECTOR, run_training
from rcaflows.detection.models import CheckResult
from rcaflows.vocab import IncidentType


@register
class TrainingPoisoningDetector:
    """Flipped-label duplicates and single-source bursts in each training batch that landed in the window."""

    name = POISONING_DETECTOR
    incident_type = IncidentType.SECURITY_ADVERSARIAL
    scope = "frames"

    def run(self, window: Window, config: SystemConfig) -> list[CheckResult]:
        """Return the poisoning checks of the training batches that landed in the current window."""
        return run_training(window, config, self.incident_type, self.name)
