"""One ranking path: the RCA flow's phases and synthesis order metric-only candidates as rank_root_causes does."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from rcaflows.config.loader import demo_config_path, load_config
from rcaflows.config.models import ComponentConfig, LineageConfig
from rcaflows.data import MonitoringData
from rcaflows.rca import PhaseName, RcaContext, Symptom, rank_root_causes, run_rca

START = pd.Timestamp("2026-03-02T06:00:00Z")
N = 240  # 06:00 .. 10:00, one sample a minute
#: edges u -> v when u calls v; every component is a dependency of the symptom's gateway
EDGES = [("gateway", "api"), ("api", "dep"), ("api", "cache"), ("dep", "store"), ("gateway", "auth")]


def metrics(seed: int) -> pd.DataFrame:
    """Return noisy metrics where ``store`` moves first and its callers follow, plus a loud cache."""
    rng = np.random.default_rng(seed)
    moves = {  # (component, metric): (row, size in noise sd)
        ("store", "latency_ms"): (110, 12.0),
        ("store", "queue_depth"): (111, 9.0),
        ("dep", "latency_ms"): (113, 15.0),
        ("api", "latency_ms"): (115, 20.0),
        ("api", "error_rate"): (116, 8.0),
        ("gateway", "latency_ms"): (117, 25.0),
        ("cache", "hit_ratio"): (150, -6.0),
        ("auth", "cpu"): (None, 0.0),
    }
    ts = pd.date_range(START, periods=N, freq="1min")
    parts = []
    for (comp, metric), (row, size) in moves.items():
        v = 100 + rng.normal(size=N)
        if row is not None:
            v[row:] += size * (1 + 0.1 * rng.normal(size=N - row))
        parts.append(pd.DataFrame({"timestamp": ts, "component": comp, "metric": metric, "value": v}))
    return pd.concat(parts, ignore_index=True)


def context(df: pd.DataFrame, at: pd.Timestamp) -> RcaContext:
    """Return a flow context over ``df``: the topology above, no lineage, model, changes or checks."""
    base = load_config(demo_config_path())
    deps: dict[str, list[str]] = {}
    for u, v in EDGES:
        deps.setdefault(u, []).append(v)
    names = sorted({n for e in EDGES for n in e})
    cfg = base.model_copy(
        update={
            "components": [ComponentConfig(name=n, kind="service", depends_on=deps.get(n, [])) for n in names],
            "lineage": LineageConfig(),
            "models": [],
            "metrics": [],
        }
    )
    end = (START + pd.Timedelta(minutes=N)).to_pydatetime()
    data = MonitoringData(start=START.to_pydatetime(), end=end, metrics=df)
    symptom = Symptom(
        component="gateway",
        metric="latency_ms",
        incident_type="performance_availability",
        detected_at=end,
        onset=at.to_pydatetime(),
    )
    return RcaContext.build(cfg, data, symptom)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("minutes_late", [0, 10])
def test_flow_and_rank_root_causes_give_the_same_order(seed: int, minutes_late: int) -> None:
    df = metrics(seed)
    at = START + pd.Timedelta(minutes=110 + minutes_late)
    api = [r.component for r in rank_root_causes(df, at, topology=nx.DiGraph(EDGES))]
    result = run_rca(context(df, at))
    flow = [h.component for h in result.hypotheses]
    assert api[0] == "store"
    assert flow == api
    comp = next(p for p in result.phases if p.phase == PhaseName.COMPONENT)
    assert [f.component for f in comp.findings] == api


def test_the_victim_rule_is_the_ranking_s_own() -> None:
    df = metrics(0)
    at = START + pd.Timedelta(minutes=110)
    ranked = {r.component: r for r in rank_root_causes(df, at, topology=nx.DiGraph(EDGES))}
    result = run_rca(context(df, at))
    comp = next(p for p in result.phases if p.phase == PhaseName.COMPONENT)
    victims = {f.component for f in comp.findings if f.kind == "victim"}
    assert victims == {c for c, r in ranked.items() if any("likely a victim" in e for e in r.evidence)}
    assert {"dep", "api", "gateway"} <= victims
    by = {h.component: h for h in result.hypotheses}
    # the victim sentence is evidence against, never for
    assert any("likely a victim" in c for c in by["api"].contradicting)
    assert not any("likely a victim" in s for s in by["api"].supporting)


def test_blast_radius_of_a_dependency_is_its_dependents() -> None:
    df = metrics(1)
    result = run_rca(context(df, START + pd.Timedelta(minutes=110)))
    assert result.top is not None and result.top.component == "store"
    # no lineage describes these services: the radius comes from the topology
    assert set(result.blast_radius) == {"dep", "api", "gateway"}
