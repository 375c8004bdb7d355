"""CBPE's estimated accuracy tracks the realised accuracy under covariate shift."""

from __future__ import annotations

import numpy as np

from rcaflows.model.estimate import Calibrator, estimated_accuracy


def _world(n: int, seed: int, spread: float) -> tuple[np.ndarray, np.ndarray]:
    """Return miscalibrated scores and labels drawn from a fixed concept P(y=1|x) = sigmoid(x)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, spread, n)
    y = rng.random(n) < 1 / (1 + np.exp(-x))
    score = 1 / (1 + np.exp(-0.5 * x))  # monotone but under-confident: needs calibration
    return score, y


def test_estimate_tracks_accuracy_under_covariate_shift() -> None:
    s_ref, y_ref = _world(20_000, 0, 3.0)
    cal = Calibrator.fit(s_ref, y_ref)
    for spread in (3.0, 1.0, 0.4):  # inputs move towards the boundary: accuracy falls
        s, y = _world(20_000, 1, spread)
        est = estimated_accuracy(cal(s), s >= 0.5)
        realised = float(((s >= 0.5) == y).mean())
        assert abs(est.accuracy - realised) < 3 * est.se + 0.01, (spread, est, realised)
    s_lo, _ = _world(20_000, 2, 0.4)
    assert estimated_accuracy(cal(s_lo), s_lo >= 0.5).accuracy < 0.6


def test_calibration_is_monotone_and_bounded() -> None:
    s, y = _world(5_000, 3, 2.0)
    p = Calibrator.fit(s, y)(np.linspace(0, 1, 101))
    assert np.all(np.diff(p) >= -1e-12) and p.min() >= 0 and p.max() <= 1
