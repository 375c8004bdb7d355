"""Tests of the shared statistical helpers and re-exports.

Scores: test_anomaly.py; change points and onsets: test_changepoints.py; drift: test_drift.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from rcaflows.detection.stats import (
    bh_adjust,
    change_points,
    onset,
    robust_location_scale,
)


def noise(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=n)


# change points and onsets: tests/detection/test_changepoints.py


def test_stats_re_exports_change_points_and_onset() -> None:
    from rcaflows.detection import changepoints

    assert change_points is changepoints.change_points and onset is changepoints.onset


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


def test_the_same_hour_yesterday_is_the_reference_even_with_the_last_hours_left_out() -> None:
    import pandas as pd

    from rcaflows.detection.base import seasonal_reference

    start = pd.Timestamp("2026-03-02 03:00", tz="UTC")
    ts = pd.date_range(start - pd.Timedelta(days=1), start, freq="1min", inclusive="left")
    ref = pd.DataFrame({"timestamp": ts, "hour": ts.hour})
    # a fixed fault's last seven hours are left out of the reference: its rows end at 20:00
    ref = ref[ref["timestamp"] < start - pd.Timedelta(hours=7)]
    same = seasonal_reference(ref, start.to_pydatetime(), (start + pd.Timedelta(hours=1)).to_pydatetime(), min_rows=30)
    assert set(same["hour"]) == {3}
    # the day's same hour left out (a fixed fault's span): nothing to compare with, not the whole day
    gap = ref[ref["timestamp"] >= start - pd.Timedelta(hours=22)]
    kw = {"reference_start": (start - pd.Timedelta(days=1)).to_pydatetime()}
    assert seasonal_reference(gap, start.to_pydatetime(), (start + pd.Timedelta(hours=1)).to_pydatetime(), **kw).empty
    # a reference of only a few hours is no day: all of it is used
    short = ref[ref["timestamp"] >= start - pd.Timedelta(hours=12)]
    assert seasonal_reference(short, start.to_pydatetime(), (start + pd.Timedelta(hours=1)).to_pydatetime()) is short
