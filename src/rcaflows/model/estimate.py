"""Performance estimated before labels arrive: confidence-based estimation (CBPE) for binary models.

As NannyML's CBPE does, the reference window's scores are calibrated against its labels
(isotonic regression, so a calibrated score is the probability of the positive class), and the
expected accuracy of unlabelled rows is the mean probability that each thresholded prediction is
right. The estimate holds while the score-to-label relation (concept) is unchanged; it tracks a
covariate shift, not a concept shift, so it is reported as estimated and never fails a check alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import isotonic_regression


@dataclass(frozen=True)
class Calibrator:
    """A monotone step map from raw score to calibrated positive probability."""

    knots: np.ndarray
    values: np.ndarray

    @classmethod
    def fit(cls, scores: np.ndarray, labels: np.ndarray) -> Calibrator:
        """Fit isotonic regression of 0/1 labels on scores."""
        order = np.argsort(scores, kind="stable")
        s, y = scores[order], labels[order].astype(float)
        fitted = isotonic_regression(y).x
        # one value per distinct score: the mean of its fitted values
        knots, start = np.unique(s, return_index=True)
        sums = np.add.reduceat(fitted, start)
        counts = np.diff(np.r_[start, len(s)])
        return cls(knots, sums / counts)

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        """Return calibrated probabilities (linear between knots, flat outside them)."""
        return np.interp(scores, self.knots, self.values)


@dataclass(frozen=True)
class Estimate:
    """Estimated accuracy of unlabelled rows and its standard error."""

    accuracy: float
    se: float
    n: int


def estimated_accuracy(calibrated: np.ndarray, predicted: np.ndarray) -> Estimate:
    """Return the expected accuracy of thresholded predictions given calibrated probabilities."""
    right = np.where(predicted, calibrated, 1.0 - calibrated)
    n = len(right)
    if n == 0:
        return Estimate(float("nan"), float("nan"), 0)
    # each row is right with probability right_i: Poisson-binomial variance
    return Estimate(float(right.mean()), float(np.sqrt((right * (1 - right)).sum()) / n), n)
