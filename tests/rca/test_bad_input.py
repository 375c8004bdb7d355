"""rank_root_causes on bad input: a defined ranking or a clear DataError, never a crash."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from rcaflows.errors import DataError
from rcaflows.rca import rank_root_causes

START = pd.Timestamp("2026-03-02T06:00:00Z")


def frame(values: dict[tuple[str, str], np.ndarray], freq: str = "1min") -> pd.DataFrame:
    """Return long metrics from ``{(component, metric): values}``."""
    parts = []
    for (c, m), v in values.items():
        ts = pd.date_range(START, periods=len(v), freq=freq)
        parts.append(pd.DataFrame({"timestamp": ts, "component": c, "metric": m, "value": v}))
    return pd.concat(parts, ignore_index=True)


def noisy(n: int = 200, shift_at: int | None = None, size: float = 10.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v = 50 + rng.normal(size=n)
    if shift_at is not None:
        v[shift_at:] += size
    return v


AT = START + pd.Timedelta(minutes=150)


def test_unknown_topology_components_are_ignored() -> None:
    df = frame({("db", "cpu"): noisy(shift_at=150), ("api", "cpu"): noisy(seed=1)})
    topo = nx.DiGraph([("ghost", "db"), ("api", "phantom")])
    ranked = rank_root_causes(df, AT, topology=topo)
    assert [r.component for r in ranked] == ["db"]


def test_metric_missing_from_the_baseline_is_not_scored() -> None:
    df = frame({("db", "cpu"): noisy(shift_at=150), ("api", "new_metric"): noisy(shift_at=150, size=50)})
    base = frame({("db", "cpu"): noisy(seed=3)})
    base["timestamp"] -= pd.Timedelta(days=1)
    ranked = rank_root_causes(df, START, baseline=base)
    assert [r.component for r in ranked] == ["db"]


def test_single_point_and_all_constant_give_empty_rankings() -> None:
    one = frame({("db", "cpu"): np.array([1.0])})
    assert rank_root_causes(one, START) == []
    flat = frame({("db", "cpu"): np.full(100, 3.0), ("api", "cpu"): np.zeros(100)})
    assert rank_root_causes(flat, START + pd.Timedelta(minutes=50)) == []


def test_nans_are_skipped() -> None:
    v = noisy(shift_at=150)
    v[::7] = np.nan
    df = frame({("db", "cpu"): v, ("api", "cpu"): np.full(200, np.nan)})
    ranked = rank_root_causes(df, AT)
    assert [r.component for r in ranked] == ["db"]
    assert np.isfinite(ranked[0].score)


def test_incident_time_outside_the_data() -> None:
    df = frame({("db", "cpu"): noisy(shift_at=150)})
    with pytest.raises(DataError, match="after the last sample"):
        rank_root_causes(df, START + pd.Timedelta(days=2))
    # Before the first sample: the first third of the data serves as baseline, and it says so.
    ranked = rank_root_causes(df, START - pd.Timedelta(days=1))
    assert ranked and any("first third" in e for e in ranked[0].evidence)


def test_naive_incident_time_and_malformed_frames_are_clear_errors() -> None:
    df = frame({("db", "cpu"): noisy()})
    with pytest.raises(DataError, match="incident_time"):
        rank_root_causes(df, "2026-03-02T08:00:00")
    with pytest.raises(DataError, match="missing column"):
        rank_root_causes(df.drop(columns="metric"), AT)
