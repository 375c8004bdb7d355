"""Tests of the statistical building blocks: change points, BH (scores: test_anomaly.py, drift: test_drift.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rcaflows.detection.stats import (
    bh_adjust,
    change_points,
    onset,
    robust_location_scale,
)


def minutes(n: int, tz: str | None = "UTC") -> pd.DatetimeIndex:
    return pd.date_range("2026-01-05", periods=n, freq="min", tz=tz)


def noise(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=n)


def pw_constant(n: int, bkps: list[int], means: list[float], seed: int) -> np.ndarray:
    """Return a piecewise-constant signal with unit Gaussian noise."""
    x = noise(n, seed)
    for start, end, m in zip([0, *bkps], [*bkps, n], means, strict=True):
        x[start:end] += m
    return x


# --------------------------------------------------------------------------- change points


@pytest.mark.parametrize("seed", range(5))
def test_change_points_find_known_breaks(seed: int) -> None:
    x = pw_constant(600, [150, 300, 420], [0.0, 3.0, -1.0, 1.5], seed)
    found = change_points(x)
    assert len(found) == 3
    for truth, got in zip([150, 300, 420], found, strict=True):
        assert abs(truth - got) <= 3


def test_change_points_on_pure_noise_are_rare() -> None:
    false_positives = sum(len(change_points(noise(500, seed))) for seed in range(20))
    assert false_positives <= 2


def test_isolated_spikes_do_not_open_segments() -> None:
    x = noise(500, 14)
    x[200] += 30
    x[300] -= 25
    assert change_points(x) == []


def test_change_point_positions_refer_to_the_original_index() -> None:
    x = pw_constant(200, [100], [0.0, 5.0], 10)
    x[[10, 20, 30]] = np.nan
    assert change_points(x) == [pytest.approx(100, abs=3)]


def test_change_points_edge_cases() -> None:
    assert change_points(np.full(100, 2.0)) == []
    assert change_points(noise(9, 0), min_size=5) == []
    assert change_points(np.r_[np.zeros(30), np.ones(30)]) == [30]


def test_change_points_on_ten_thousand_points() -> None:
    x = pw_constant(10_000, [2000, 5000, 8000], [0.0, 1.0, -1.0, 0.5], 11)
    found = change_points(x)  # timing lives in bench/ (python bench/run.py)
    assert len(found) == 3


def test_onset_returns_the_largest_shift() -> None:
    x = pd.Series(pw_constant(300, [100, 200], [0.0, 1.5, 8.0], 12), index=minutes(300))
    assert abs(onset(x) - x.index[200]) <= pd.Timedelta("3min")
    assert onset(pd.Series(noise(300, 13), index=minutes(300))) is None
    assert onset(x, baseline_end=x.index[250]) is None


# drift: tests/detection/test_drift.py


# --------------------------------------------------------------------------- helpers


def test_bh_adjust_matches_a_hand_computed_example() -> None:
    # sorted p: .01 .03 .04 .2 (m = 4) → .04, .06, .0533, .2 → monotone: .04, .0533, .0533, .2
    adjusted = bh_adjust(np.array([0.01, 0.04, 0.03, np.nan, 0.2]))
    np.testing.assert_allclose(adjusted, [0.04, 0.16 / 3, 0.16 / 3, np.nan, 0.2])


def test_robust_location_scale_floors_constant_series() -> None:
    x = np.c_[np.full(50, 10.0), noise(50, 11) * 2, np.full(50, np.nan)]
    x[0, 1] = 1e6  # an outlier must not move either statistic much
    loc, scale = robust_location_scale(x, axis=0)
    assert loc[0] == 10.0 and scale[0] == pytest.approx(1e-2)
    assert abs(loc[1]) < 0.6 and 1.4 < scale[1] < 2.8
    assert np.isnan(loc[2]) and np.isnan(scale[2])
