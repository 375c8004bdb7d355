"""The evaluation suite: recorded cases with known root causes, the generator and the scoring metrics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rcaflows.errors import DataError
from rcaflows.rca import rank_root_causes
from rcaflows.rca.evaluation import (
    FAULTS,
    accuracy,
    from_wide,
    isotonic,
    load_case,
    make_case,
    rank_of,
    reliability,
    save_case,
    to_wide,
)

CASES = sorted(p for p in (Path(__file__).parent / "cases").iterdir() if (p / "case.yaml").exists())


def test_recorded_cases_are_present_and_varied() -> None:
    faults = {load_case(p).fault for p in CASES}
    assert len(CASES) >= 4 and len(faults) >= 4


@pytest.mark.parametrize("folder", CASES, ids=[p.name for p in CASES])
def test_recorded_case_truth_ranks_in_the_top_five(folder: Path) -> None:
    case = load_case(folder)
    ranked = rank_root_causes(case.metrics, case.incident_time, baseline=case.baseline, topology=case.topology)
    comps = [r.component for r in ranked]
    assert rank_of(comps, case.root) is not None and rank_of(comps, case.root) <= 5, (case.name, comps[:5])  # type: ignore[operator]
    assert all(0 <= r.confidence <= 1 for r in ranked)


def test_recorded_cases_beat_random_at_top1() -> None:
    hits, expected_random = 0, 0.0
    for folder in CASES:
        case = load_case(folder)
        ranked = rank_root_causes(case.metrics, case.incident_time, baseline=case.baseline, topology=case.topology)
        hits += bool(ranked) and ranked[0].component == case.root
        expected_random += 1 / len(case.components)
    assert hits >= 2 and hits > 2 * expected_random


def test_generator_is_seeded_and_round_trips(tmp_path: Path) -> None:
    a, b = make_case(5, "errors", small=True), make_case(5, "errors", small=True)
    pd.testing.assert_frame_equal(a.metrics, b.metrics)
    assert a.root == b.root and a.fault == "errors" and a.root_metric == "error_rate"
    assert 10 <= len(a.topology) <= 12
    back = load_case(save_case(a, tmp_path))
    assert back.root == a.root and back.incident_time == a.incident_time
    assert sorted(back.topology.edges) == sorted(a.topology.edges)
    assert np.allclose(back.metrics["value"].to_numpy(), a.metrics["value"].to_numpy(), rtol=1e-5)
    # The root carries its fault metric and it moves after the fault.
    root = a.metrics[(a.metrics["component"] == a.root) & (a.metrics["metric"] == "error_rate")]
    assert "active_at_start" not in a.tags
    before = root[root["timestamp"] < root["timestamp"].quantile(0.4)]["value"].median()
    after = root[root["timestamp"] >= a.incident_time]["value"].median()
    assert after > before


def test_every_fault_type_generates() -> None:
    for i, fault in enumerate(FAULTS):
        case = make_case(100 + i, fault, small=True)
        assert (case.metrics["component"] == case.root).any()
        assert case.fault == fault
    with pytest.raises(DataError, match="unknown fault"):
        make_case(1, "meteor")


def test_accuracy_metrics() -> None:
    acc = accuracy([1, 2, None, 5])
    assert acc["AC@1"] == 0.25 and acc["AC@3"] == 0.5
    assert acc["Avg@5"] == pytest.approx(np.mean([0.25, 0.5, 0.5, 0.5, 0.75]))
    assert rank_of(["a", "b"], "b") == 2 and rank_of(["a"], "z") is None


def test_reliability_and_isotonic() -> None:
    table, ece = reliability([0.1, 0.15, 0.9, 0.95], [False, False, True, True])
    assert table["n"].sum() == 4 and ece == pytest.approx(0.1)
    _, ys = isotonic([0.1, 0.2, 0.3, 0.4], [1.0, 0.0, 1.0, 1.0])
    assert np.all(np.diff(ys) >= 0) and ys[-1] == 1.0


def test_from_wide_reads_rcaeval_layout() -> None:
    wide = pd.DataFrame(
        {
            "time": [1_700_000_000 + i for i in range(4)],
            "ts-order-service_cpu": [1.0, 2.0, 3.0, 4.0],
            "cartservice_latency-50": [5.0, 6.0, np.nan, 8.0],
            "load": [1.0, 1.0, 1.0, 1.0],
        }
    )
    long = from_wide(wide)
    assert set(long["component"].astype(str)) == {"ts-order-service", "cartservice", "system"}
    assert set(long["metric"].astype(str)) == {"cpu", "latency-50", "load"}
    assert str(long["timestamp"].dt.tz) == "UTC" and len(long) == 12
    assert long["timestamp"].min() == pd.Timestamp(1_700_000_000, unit="s", tz="UTC")
    back = to_wide(long.dropna())
    assert back["ts-order-service_cpu"].tolist() == [1.0, 2.0, 3.0, 4.0]
    with pytest.raises(DataError, match="missing column 'time'"):
        from_wide(wide.drop(columns="time"))
