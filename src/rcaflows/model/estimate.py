"""Performance estimated before labels arrive: confidence-based estimation (CBPE) for classifiers.

As NannyML's CBPE does, the reference window's scores are calibrated against its labels
(isotonic regression, so a calibrated score is the probability of the positive class), and the
expected accuracy of unlabelled rows is the mean probability that each thresholded prediction is
right. A multiclass model's class scores are calibrated one class against the rest and the
calibrated probabilities of a row renormalised to sum to one (NannyML's multiclass CBPE); the
expected accuracy is the mean calibrated probability of the predicted class. The estimate holds
while the score-to-label relation (concept) is unchanged; it tracks a covariate shift, not a
concept shift, so it is reported as estimated and never fails a check alone.

A regression error cannot be read off a calibrated confidence. NannyML's DLE fits a
gradient-boosted model of the absolute error on the features and the prediction; rcaflows carries
no fitted model, so :class:`NeighbourLoss` estimates it by nearest neighbours instead: the error
of an unlabelled row is the mean error of its ``k`` nearest labelled reference rows in the space
of the robust-scaled numeric features, the one-hot categoricals and the scaled prediction. It
follows a covariate shift into regions where the model errs more or less, as DLE does, but is
coarser (on NannyML's car-price set its chunk error is about twice DLE's, see docs/models.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import isotonic_regression
from scipy.spatial import cKDTree

#: Reference neighbours whose errors are averaged per unlabelled row (regression estimate).
NEIGHBOURS = 10


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
    return expected_accuracy(np.where(predicted, calibrated, 1.0 - calibrated))


@dataclass(frozen=True)
class ClassCalibrator:
    """One-vs-rest calibrators of a multiclass model's class scores (columns in class order)."""

    per_class: tuple[Calibrator, ...]

    @classmethod
    def fit(cls, scores: np.ndarray, labels: np.ndarray) -> ClassCalibrator:
        """Fit one isotonic calibrator per class column of ``scores`` (n x k) on labels coded 0..k-1.

        Raises:
            ValueError: when the scores are not an n x k matrix matching the labels.
        """
        if scores.ndim != 2 or len(scores) != len(labels):
            raise ValueError(f"class scores must be an n x k matrix over the {len(labels)} labels; got {scores.shape}")
        return cls(tuple(Calibrator.fit(scores[:, c], labels == c) for c in range(scores.shape[1])))

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        """Return calibrated class probabilities, each row renormalised to sum to one (uniform if all zero)."""
        p = np.column_stack([cal(scores[:, c]) for c, cal in enumerate(self.per_class)])
        total = p.sum(axis=1, keepdims=True)
        k = p.shape[1]
        return np.divide(p, total, out=np.full_like(p, 1.0 / k), where=total > 0)


def estimated_multiclass_accuracy(probabilities: np.ndarray, predicted: np.ndarray) -> Estimate:
    """Return the expected accuracy of predicted class codes given calibrated class probabilities (n x k)."""
    return expected_accuracy(probabilities[np.arange(len(predicted)), predicted])


def expected_accuracy(right: np.ndarray) -> Estimate:
    """Return the mean of per-row probabilities of being right, with its Poisson-binomial standard error."""
    n = len(right)
    if n == 0:
        return Estimate(float("nan"), float("nan"), 0)
    # each row is right with probability right_i: Poisson-binomial variance
    return Estimate(float(right.mean()), float(np.sqrt((right * (1 - right)).sum()) / n), n)


@dataclass(frozen=True)
class RegressionEstimate:
    """Estimated MAE and RMSE of unlabelled rows."""

    mae: float
    rmse: float
    n: int


@dataclass(frozen=True)
class NeighbourLoss:
    """Direct loss estimation by nearest neighbours: reference errors looked up around each new row."""

    tree: cKDTree
    abs_errors: np.ndarray
    numeric: tuple[str, ...]
    centre: np.ndarray
    scale: np.ndarray
    categories: tuple[tuple[str, tuple[str, ...]], ...]
    k: int

    @classmethod
    def fit(cls, reference: pd.DataFrame, features: list[str], k: int = NEIGHBOURS) -> NeighbourLoss:
        """Index the labelled reference rows (a model view: ``prediction``, ``label`` and the features).

        Raises:
            ValueError: when the reference lacks the prediction or label column, or has fewer than k rows.
        """
        missing = [c for c in ("prediction", "label") if c not in reference.columns]
        if missing:
            raise ValueError(f"a regression loss estimate needs the reference's {missing} column(s)")
        ref = reference.loc[reference["label"].notna() & reference["prediction"].notna()]
        if len(ref) < k:
            raise ValueError(f"{len(ref)} labelled reference rows; the loss estimate needs at least {k}")
        present = [f for f in features if f in ref.columns]
        numeric = tuple(
            c for c in ["prediction", *present] if pd.api.types.is_numeric_dtype(ref[c]) and ref[c].dtype != bool
        )
        x = ref[list(numeric)].to_numpy(dtype=float)
        centre = np.nanmedian(x, axis=0)
        q1, q3 = np.nanpercentile(x, [25, 75], axis=0)
        scale = (q3 - q1) / 1.349
        scale = np.where(scale > 0, scale, np.nanstd(x, axis=0))
        scale = np.where(scale > 0, scale, 1.0)
        categories = tuple(
            (c, tuple(str(v) for v in pd.unique(ref[c].astype(str)))) for c in present if c not in numeric
        )
        errors = np.abs(ref["label"].to_numpy(dtype=float) - ref["prediction"].to_numpy(dtype=float))
        points = _points(ref, numeric, centre, scale, categories)
        return cls(cKDTree(points), errors, numeric, centre, scale, categories, k)

    def space(self, frame: pd.DataFrame) -> np.ndarray:
        """Return ``frame``'s rows as points of the reference's space."""
        return _points(frame, self.numeric, self.centre, self.scale, self.categories)

    def estimate(self, frame: pd.DataFrame) -> RegressionEstimate:
        """Return the expected MAE and RMSE of ``frame``'s predictions (a model view without labels)."""
        if frame.empty:
            return RegressionEstimate(float("nan"), float("nan"), 0)
        _, idx = self.tree.query(self.space(frame), k=self.k)
        err = self.abs_errors[idx]
        return RegressionEstimate(float(err.mean()), float(np.sqrt((err**2).mean())), len(frame))


def _points(
    frame: pd.DataFrame,
    numeric: tuple[str, ...],
    centre: np.ndarray,
    scale: np.ndarray,
    categories: tuple[tuple[str, tuple[str, ...]], ...],
) -> np.ndarray:
    """Return rows as points: scaled numeric columns (missing at the centre) and one-hot categoricals."""
    x = (frame[list(numeric)].to_numpy(dtype=float) - centre) / scale
    parts = [np.nan_to_num(x, nan=0.0)]
    for col, values in categories:
        v = frame[col].astype(str).to_numpy()
        parts.append(np.column_stack([v == c for c in values]).astype(float))
    return np.column_stack(parts)
