"""MonitoringData.slice: the binary-search cut of time-ordered frames keeps exactly the rows the mask keeps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from rcaflows.data import MonitoringData

T0 = datetime(2026, 3, 2, tzinfo=UTC)


def _metrics(order: np.ndarray) -> pd.DataFrame:
    ts = pd.date_range(T0, periods=120, freq="min", tz="UTC").repeat(2)  # two series: repeated timestamps
    frame = pd.DataFrame({"timestamp": ts, "component": "a", "metric": ["m", "n"] * 120, "value": np.arange(240.0)})
    return frame.iloc[order].reset_index(drop=True)


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (T0 + timedelta(minutes=10), T0 + timedelta(minutes=20)),  # on row timestamps: start in, end out
        (T0 + timedelta(minutes=10, seconds=30), T0 + timedelta(minutes=20, seconds=1)),  # between rows
        (T0 - timedelta(hours=1), T0 + timedelta(minutes=5)),  # before the data
        (T0 + timedelta(hours=3), T0 + timedelta(hours=4)),  # after it: empty
    ],
)
def test_sorted_and_shuffled_frames_are_cut_to_the_same_rows(start: datetime, end: datetime) -> None:
    rng = np.random.default_rng(0)
    sorted_frame = _metrics(np.arange(240))
    shuffled = _metrics(rng.permutation(240))
    assert sorted_frame["timestamp"].is_monotonic_increasing and not shuffled["timestamp"].is_monotonic_increasing
    fast = MonitoringData(start=T0, end=T0 + timedelta(hours=2), metrics=sorted_frame).slice(start, end).metrics
    masked = MonitoringData(start=T0, end=T0 + timedelta(hours=2), metrics=shuffled).slice(start, end).metrics
    expected = sorted_frame[(sorted_frame["timestamp"] >= start) & (sorted_frame["timestamp"] < end)]
    assert fast["value"].tolist() == expected["value"].tolist()
    assert sorted(masked["value"]) == expected["value"].tolist()
