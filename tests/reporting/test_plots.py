"""The report's plots: computed from a real RCA over a demo scenario, inline, described, inert."""

from __future__ import annotations

import base64
import io
import re
from datetime import UTC, datetime

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread

from rcaflows.demo import DEMO_END, simulate
from rcaflows.errors import EmptyWindowError
from rcaflows.rca import PHASES, RcaContext, synthesize
from rcaflows.rca.models import RcaResult
from rcaflows.rca.service import plan_for_metric
from rcaflows.reporting import IncidentSummary, Plot, render_html
from rcaflows.reporting.plots import (
    cause_metrics_plot,
    change_point_times,
    drift_plot,
    graph_plot,
    report_plots,
    symptom_plot,
)

T0 = datetime(2026, 3, 2, 6, tzinfo=UTC)


def _png(uri: str) -> np.ndarray:
    assert uri.startswith("data:image/png;base64,")
    return imread(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])), format="png")


def _rca(scenario: str, component: str, metric: str) -> tuple[RcaContext, RcaResult]:
    """Run the five phases and the synthesis (plain engine, no Prefect) for a demo scenario."""
    from rcaflows.demo import demo_config

    cfg = demo_config(scenario)
    plan = plan_for_metric(cfg, component, metric, DEMO_END)
    data = simulate(scenario).data.slice(plan.start, plan.end)
    ctx = RcaContext.build(cfg, data, plan.symptom)
    return ctx, synthesize(ctx, [p.run(ctx) for p in PHASES.values()])


def test_change_points_of_a_step_are_found_near_the_step() -> None:
    idx = pd.date_range(T0, periods=120, freq="min")
    values = np.r_[np.full(60, 10.0), np.full(60, 30.0)] + np.random.default_rng(0).normal(0, 0.5, 120)
    cps = change_point_times(pd.Series(values, index=idx))
    assert len(cps) == 1 and abs((cps[0] - idx[60]).total_seconds()) <= 120


def test_each_plot_is_a_real_png_of_its_size() -> None:
    idx = pd.date_range(T0, periods=90, freq="min")
    s = pd.Series(np.sin(np.arange(90) / 9), index=idx, name="m")
    sym = _png(symptom_plot(s, idx[40], idx[-1], change_points=[idx[40]]))
    causes = _png(cause_metrics_plot([("a", s), ("b", s * 2), ("c", s + 1)], idx[40], idx[-1]))
    g = nx.DiGraph([("gateway", "ranker"), ("ranker", "feature_store")])
    lin = nx.DiGraph([("events", "features"), ("features", "model")])
    graph = _png(graph_plot(g, lin, ["ranker"], ["gateway"]))
    drift = _png(drift_plot({"f1": 0.8, "f2": 0.3}))
    assert sym.shape[:2] == (240, 700)
    assert causes.shape[0] > sym.shape[0]  # three stacked panels are taller than one
    assert graph.shape[:2] == (320, 900) and drift.shape[1] == 700
    # the suspected node is drawn in red (#a3221b) somewhere in the graph image
    red = np.all(np.abs(graph[..., :3] - np.array([0xA3, 0x22, 0x1B]) / 255) < 0.02, axis=-1)
    assert red.sum() > 20


def test_empty_inputs_are_refused_with_a_reason() -> None:
    empty = pd.Series([], dtype=float, index=pd.DatetimeIndex([], tz="UTC"))
    with pytest.raises(EmptyWindowError, match="candidate causes"):
        cause_metrics_plot([("x", empty)], None, None)
    with pytest.raises(EmptyWindowError, match="no feature drifted"):
        drift_plot({})


@pytest.mark.parametrize(
    ("scenario", "component", "metric"),
    [("deploy_latency", "gateway", "latency_p95_ms"), ("schema_change_nulls", "etl", "null_rate")],
)
def test_report_plots_come_from_the_rca_context(scenario: str, component: str, metric: str) -> None:
    ctx, result = _rca(scenario, component, metric)
    plots = report_plots(ctx, result)
    captions = [p.caption for p in plots]
    assert captions[0].startswith("Symptom:") and "Topology and lineage" in captions
    assert "Candidate causes aligned in time" in captions
    for p in plots:
        assert _png(p.uri).size > 0
        assert len(p.alt) > len(p.caption)  # a real text alternative, not the caption again
    # the symptom steps once at the injected onset: the plot marks that step, not a dozen
    cps = re.search(r"change points: (.*)\.$", plots[0].alt)
    onset = ctx.symptom_onset
    assert cps is not None and onset is not None and cps.group(1).count("UTC") == 1, plots[0].alt
    marked = pd.Timestamp(cps.group(1).removesuffix(" UTC"), tz="UTC")
    assert abs((marked - onset).total_seconds()) <= 180, plots[0].alt
    graph = next(p for p in plots if p.caption == "Topology and lineage")
    top = result.top
    assert top is not None and f"suspected (red): {top.component}" in graph.alt
    has_drift = any(
        f.details.get("effect") is not None
        for ph in result.phases
        if ph.phase == "model_behaviour"
        for f in ph.findings
    )
    assert ("Drift of the top features" in captions) == has_drift


def test_hostile_names_stay_inert_in_alt_text_and_captions() -> None:
    idx = pd.date_range(T0, periods=60, freq="min")
    uri = symptom_plot(pd.Series(np.arange(60.0), index=idx), None, None, title="<script>x</script>")
    _ctx, result = _rca("deploy_latency", "gateway", "latency_p95_ms")
    summary = IncidentSummary.ad_hoc(result.symptom, "demo")
    hostile = Plot(caption='<script>alert("c")</script>', alt='"><script>alert("a")</script>', uri=uri)
    html = render_html(result, summary, [hostile])
    assert "<script>" not in html
    assert re.search(r'alt="&#34;&gt;&lt;script&gt;alert\(&#34;a&#34;\)&lt;/script&gt;"', html)
