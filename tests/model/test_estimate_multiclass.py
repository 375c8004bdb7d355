"""Multiclass CBPE: one-vs-rest calibrated class scores estimate accuracy before labels arrive."""

from __future__ import annotations

import numpy as np
import pytest

from rcaflows.model.estimate import ClassCalibrator, estimated_multiclass_accuracy


def _world(n: int, seed: int, spread: float) -> tuple[np.ndarray, np.ndarray]:
    """Return over-confident class scores and labels from a fixed concept P(y=c|x) = softmax(x)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, spread, (n, 3))
    p = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
    y = (rng.random(n)[:, None] > np.cumsum(p, axis=1)).sum(axis=1)
    s = np.exp(2 * x) / np.exp(2 * x).sum(axis=1, keepdims=True)  # same ranking, over-confident
    return s, y


def test_multiclass_estimate_tracks_accuracy_under_covariate_shift() -> None:
    s_ref, y_ref = _world(30_000, 0, 2.0)
    cal = ClassCalibrator.fit(s_ref, y_ref)
    raw_errors = []
    for spread in (2.0, 1.0, 0.4):  # inputs move towards the boundaries: accuracy falls
        s, y = _world(30_000, 1, spread)
        pred = s.argmax(axis=1)
        realised = float((pred == y).mean())
        est = estimated_multiclass_accuracy(cal(s), pred)
        assert abs(est.accuracy - realised) < 3 * est.se + 0.01, (spread, est, realised)
        # the raw scores, over-confident, would overstate accuracy: calibration is what makes it work
        raw_errors.append(float(s.max(axis=1).mean()) - realised)
    assert max(raw_errors) > 0.05
    s_lo, _ = _world(30_000, 2, 0.4)
    assert estimated_multiclass_accuracy(cal(s_lo), s_lo.argmax(axis=1)).accuracy < 0.5


def test_calibrated_rows_are_probabilities_and_bad_shapes_are_named() -> None:
    s, y = _world(5_000, 3, 1.5)
    p = ClassCalibrator.fit(s, y)(s)
    assert p.shape == s.shape
    assert np.allclose(p.sum(axis=1), 1.0) and p.min() >= 0
    with pytest.raises(ValueError, match="n x k matrix"):
        ClassCalibrator.fit(s[:, 0], y)
