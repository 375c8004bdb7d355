"""rank_root_causes on bad input: a defined ranking or a clear DataError, never a crash.

Documented answers: all-constant metrics or a single sample give an empty ranking (nothing
deviates); a topology naming components without data is used for the others; cycles are allowed;
series missing from the baseline are not scored; a single component is ranked alone.
"""

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
    # Before the first sample: no reference and no onset in the data; a wrong time, not evidence.
    with pytest.raises(DataError, match="before the first sample"):
        rank_root_causes(df, START - pd.Timedelta(days=1))
    # At the first sample without a baseline: the first third of the data serves as one, and it says so.
    ranked = rank_root_causes(df, START)
    assert ranked and any("first third" in e for e in ranked[0].evidence)


def test_baseline_of_other_components_is_a_clear_error() -> None:
    df = frame({("db", "cpu"): noisy(shift_at=150)})
    base = frame({("web", "latency"): noisy(seed=3)})
    base["timestamp"] -= pd.Timedelta(days=1)
    with pytest.raises(DataError, match=r"no \(component, metric\) series in common"):
        rank_root_causes(df, AT, baseline=base)


def test_cycles_in_the_topology_are_ranked() -> None:
    df = frame(
        {
            ("db", "cpu"): noisy(shift_at=150, size=15),
            ("api", "latency"): noisy(shift_at=153, size=15, seed=1),
            ("web", "latency"): noisy(shift_at=155, size=15, seed=2),
        }
    )
    topo = nx.DiGraph([("web", "api"), ("api", "db"), ("db", "web"), ("api", "api")])
    ranked = rank_root_causes(df, AT, topology=topo)
    assert ranked[0].component == "db"
    assert {r.component for r in ranked} == {"db", "api", "web"}
    assert all(0 <= r.confidence <= 1 for r in ranked)


def test_single_component_is_ranked_alone() -> None:
    df = frame({("db", "cpu"): noisy(shift_at=150), ("db", "mem"): noisy(seed=4)})
    ranked = rank_root_causes(df, AT)
    assert [r.component for r in ranked] == ["db"]
    assert 0 <= ranked[0].confidence <= 1
    assert ranked[0].onset == (START + pd.Timedelta(minutes=150)).to_pydatetime()


def test_bad_input_never_raises_anything_but_data_errors() -> None:
    df = frame({("db", "cpu"): noisy(shift_at=150)})
    odd_inputs = [
        (df, AT, None, nx.DiGraph([("a", "a")])),  # self-loop on an unknown component
        (df.iloc[:0], AT, None, None),  # no rows
        (df.assign(value="x"), AT, None, None),  # non-numeric values
        (frame({("db", "cpu"): np.full(200, np.inf)}), AT, None, None),  # no finite value
        (df, AT, df.iloc[:0], None),  # empty baseline
    ]
    for metrics, at, base, topo in odd_inputs:
        try:
            out = rank_root_causes(metrics, at, baseline=base, topology=topo)
        except DataError:
            continue
        assert isinstance(out, list)


def test_naive_incident_time_and_malformed_frames_are_clear_errors() -> None:
    df = frame({("db", "cpu"): noisy()})
    with pytest.raises(DataError, match="incident_time"):
        rank_root_causes(df, "2026-03-02T08:00:00")
    with pytest.raises(DataError, match="missing column"):
        rank_root_causes(df.drop(columns="metric"), AT)
