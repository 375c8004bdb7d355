"""The idea bench (``bench/rca_ideas.py``) must score the shipped ranking when no idea is applied.

Its figures are only comparable with ``devscore.py`` while its rebuilt pipeline gives the same
order as :func:`rcaflows.rca.rank_root_causes`; these tests fail when the two drift apart.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from rcaflows.rca import rank_root_causes
from rcaflows.rca.evaluation import make_case
from rcaflows.rca.ranking import Matrix

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture(scope="module")
def ideas() -> Any:
    """Import the bench module as the runner does (``bench/`` on ``sys.path``)."""
    sys.path.insert(0, str(BENCH))
    try:
        import rca_ideas

        yield rca_ideas
    finally:
        sys.path.remove(str(BENCH))


def _case(seed: int) -> dict[str, Any]:
    c = make_case(seed, small=True)
    return {
        "metrics": c.metrics,
        "baseline": c.baseline,
        "topology": c.topology,
        "incident_time": c.incident_time,
        "root": c.root,
    }


@pytest.mark.parametrize("seed", range(6))
def test_base_variant_is_the_shipped_ranking(ideas: Any, seed: int) -> None:
    case = _case(seed)
    shipped = [
        r.component
        for r in rank_root_causes(case["metrics"], case["incident_time"], case["baseline"], case["topology"])
    ]
    assert shipped, "the seeded case must have anomalous components"
    assert ideas.rank(case) == shipped
    # a weight hook of all ones reweights nothing
    assert ideas.rank(case, weight_hook=ideas.constant_hook(1.0)) == shipped


def test_redundancy_weights_share_one_unit_between_duplicates(ideas: Any) -> None:
    rng = np.random.default_rng(0)
    n = 60
    a = rng.normal(10, 1, n)
    values = np.column_stack([a, 2 * a, rng.normal(5, 1, n)])  # a and its double, and an independent series
    times = pd.date_range("2026-03-02T06:00:00Z", periods=n, freq="1min")
    mat = Matrix(times, values, np.array(["svc"] * 3, dtype=object), np.array(["cpu", "cpu_pct", "mem"], dtype=object))
    w = ideas.redundancy_hook(0.9)(mat, 40, None)
    assert w.tolist() == pytest.approx([0.5, 0.5, 1.0])
