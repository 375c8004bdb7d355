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


def _matrix(values: np.ndarray, comps: list[str], mets: list[str]) -> Matrix:
    times = pd.date_range("2026-03-02T06:00:00Z", periods=len(values), freq="1min")
    return Matrix(times, values, np.array(comps, dtype=object), np.array(mets, dtype=object))


def test_component_similarity_links_components_whose_same_kind_series_move_together(ideas: Any) -> None:
    rng = np.random.default_rng(1)
    n = 80
    traffic = np.cumsum(rng.normal(0, 1, n))  # a caller and its callee see the same requests
    values = np.column_stack(
        [
            traffic + rng.normal(0, 0.1, n),  # api / ops
            2 * traffic + rng.normal(0, 0.1, n),  # db / ops
            rng.normal(0, 1, n),  # cache / ops: unrelated
            traffic + rng.normal(0, 0.1, n),  # cache / mem: same shape, other kind: no link
        ]
    )
    mat = _matrix(values, ["api", "db", "cache", "cache"], ["ops", "ops", "ops", "mem"])
    comps, sim = ideas.component_similarity(mat, 60)
    i = {c: k for k, c in enumerate(comps.tolist())}
    assert sim[i["api"], i["db"]] > 0.9
    assert sim[i["api"], i["db"]] == pytest.approx(sim[i["db"], i["api"]])
    assert sim[i["api"], i["cache"]] < 0.5
    assert sim[i["db"], i["cache"]] < 0.5


def test_graph_hook_changes_nothing_when_a_topology_is_given(ideas: Any) -> None:
    case = _case(0)
    assert case["topology"] is not None and case["topology"].number_of_nodes()
    shipped = ideas.rank(case)
    for mode in ("ppr", "blend", "neighbours", "topology", "degree"):
        assert ideas.rank(case, rerank_hook=ideas.graph_hook(0.5, mode)) == shipped


def test_graph_hook_degree_control_ranks_the_hub_first_without_topology(ideas: Any) -> None:
    rng = np.random.default_rng(2)
    n = 80
    hub = np.cumsum(rng.normal(0, 1, n))
    leaves = [hub + rng.normal(0, 0.2, n) for _ in range(3)]
    lone = rng.normal(0, 1, n)
    lone[70:] += 20  # the only anomaly is on the unconnected component
    values = np.column_stack([hub, *leaves, lone])
    mat = _matrix(values, ["hub", "a", "b", "c", "lone"], ["ops"] * 5)
    case = {
        "metrics": mat.frame()
        .stack(level=[0, 1], future_stack=True)
        .rename("value")
        .reset_index()
        .rename(columns={"level_0": "timestamp"}),
        "baseline": None,
        "topology": None,
        "incident_time": mat.times[70],
    }
    assert ideas.rank(case)[0] == "lone"
    # centrality alone ignores the anomaly: the control that showed the graph ideas' TrainTicket lift is a hub prior
    assert ideas.rank(case, rerank_hook=ideas.graph_hook(0.5, "degree"))[0] == "hub"


def test_fisher_contributions_grow_with_z_and_are_capped(ideas: Any) -> None:
    case = _case(1)
    mat = ideas.ranking.to_matrix(case["metrics"])
    base = None
    if case["baseline"] is not None:
        base = ideas.ranking.align(ideas.ranking.to_matrix(case["baseline"], step=mat.step), mat.keys)
    split, _ = ideas.ranking.incident_split(mat, case["incident_time"], base is not None, "test")
    sc = ideas.ranking.score_with_lookback(mat, split, base)
    c = ideas.fisher_hook(30.0)(mat, split, sc, base if base is not None else mat.values[:split])
    z = np.nan_to_num(sc.z)
    order = np.argsort(z)
    assert np.all(np.diff(c[order]) >= -1e-9)
    assert c.max() <= 30.0 and c.min() >= 0.0


def test_ks_hook_scores_a_shifted_series_and_not_a_stationary_one(ideas: Any) -> None:
    rng = np.random.default_rng(3)
    n = 70
    shifted = rng.normal(0, 1, n)
    shifted[60:] += 5
    values = np.column_stack([shifted, rng.normal(0, 1, n)])
    mat = _matrix(values, ["svc", "other"], ["lat", "lat"])
    sc = ideas.ranking.score_matrix(mat.keys, mat.times, mat.values, 60)
    out = ideas.ks_hook(False)(mat, 60, sc, mat.values[:60])
    assert out.z[0] > 4.0
    assert out.z[1] < 3.0
