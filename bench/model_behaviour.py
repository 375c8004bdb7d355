"""Model-behaviour phase speed on 1,000,000 prediction rows with 20 features and 5 group columns.

Usage::

    python bench/model_behaviour.py [--rows N]

A seeded binary prediction log over 6 hours (20 numeric features, 5 group columns of 2 to 12
values, a model-version column with a canary on the last hour) goes through one RCA context; the
context's own preparation (derived metrics and robust analysis of the window) is timed apart,
then ``ModelBehaviourPhase.run`` (OOD clients, feature drift, prediction drift, segments, the
slice search over 1- to 3-way intersections of the 6 slice columns with Benjamini-Hochberg, the
version comparison, attribution proxy) and, alone, :func:`rcaflows.model.slices.search` on the
labelled current rows. The injected slice (canary x region r3) is checked to come out first.
The machine's load average is printed with the figures: on a shared 2-core box they move with it.
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import timedelta

import numpy as np
import pandas as pd

from rcaflows.config.loader import demo_config_path, load_config
from rcaflows.config.models import ModelAnalysisConfig, ModelConfig, PredictionLogConfig
from rcaflows.data import MonitoringData
from rcaflows.model.compare import row_loss
from rcaflows.model.log import labelled, model_view, slice_columns
from rcaflows.model.slices import search
from rcaflows.rca import RcaContext, Symptom
from rcaflows.rca.phases.model_behaviour import ModelBehaviourPhase

END = pd.Timestamp("2026-03-02T12:00:00Z")
GROUPS = {"region": 8, "device": 3, "plan": 4, "age_band": 6, "channel": 12}


def prediction_log(n: int, seed: int = 0) -> pd.DataFrame:
    """Return ``n`` seeded rows over 6 h; a v2 canary from the last hour over-flags region r3."""
    rng = np.random.default_rng(seed)
    ts = END - pd.to_timedelta(np.sort(rng.uniform(0, 6 * 3600, n))[::-1], unit="s")
    x = rng.normal(size=(n, 20)).astype(np.float32)
    cols: dict[str, object] = {"timestamp": ts, "client_id": rng.choice(np.array([f"c{i}" for i in range(300)]), n)}
    codes = {g: rng.integers(0, k, n) for g, k in GROUPS.items()}
    for g, k in GROUPS.items():
        cols[g] = pd.Categorical.from_codes(codes[g], [f"{g[0]}{i}" for i in range(k)])
    cols.update({f"f{i:02d}": x[:, i] for i in range(20)})
    logit = x[:, :5].sum(axis=1) * 0.8 - 2.0
    y = rng.random(n) < 1 / (1 + np.exp(-logit))
    late = ts >= END - pd.Timedelta(hours=1)
    canary = late & (rng.random(n) < 0.3)
    logit = logit + np.where(canary & (codes["region"] == 3), 4.0, 0.0)
    score = 1 / (1 + np.exp(-logit))
    cols.update(
        {
            "version": np.where(canary, "v2", "v1"),
            "score": score,
            "prediction": (score >= 0.5).astype(np.int8),
            "label": y.astype(float),
            "label_at": ts + pd.Timedelta(minutes=5),
        }
    )
    return pd.DataFrame(cols)


def measure(rows: int) -> dict[str, object]:
    """Return the timings of one run over ``rows`` prediction rows."""
    base = load_config(demo_config_path())
    assert base.models
    model = ModelConfig(
        name="bench_model",
        component=base.models[0].component,
        lineage_node=base.models[0].lineage_node,
        features=[f"f{i:02d}" for i in range(20)],
        label_delay=timedelta(minutes=5),
        log=PredictionLogConfig(groups=list(GROUPS), version="version"),
        analysis=ModelAnalysisConfig(min_slice_rows=200),
    )
    cfg = base.model_copy(update={"models": [model]})
    t0 = time.perf_counter()
    preds = prediction_log(rows)
    gen = time.perf_counter() - t0
    start = (END - pd.Timedelta(hours=6)).to_pydatetime()
    data = MonitoringData(start=start, end=END.to_pydatetime(), predictions=preds)
    symptom = Symptom(
        component=model.component,
        metric="accuracy",
        incident_type="quality_degradation",
        detected_at=END.to_pydatetime(),
        onset=(END - pd.Timedelta(hours=1)).to_pydatetime(),
    )
    ctx = RcaContext.build(cfg, data, symptom)
    t0 = time.perf_counter()
    _ = ctx.analysis
    prep = time.perf_counter() - t0
    t0, c0 = time.perf_counter(), time.process_time()
    res = ModelBehaviourPhase().run(ctx)
    phase, phase_cpu = time.perf_counter() - t0, time.process_time() - c0
    _, cur = ctx.split_predictions(model)
    lab = labelled(model_view(cur, model, features=False), END)
    loss, _ = row_loss(lab, model)
    t0 = time.perf_counter()
    found = search(lab, loss, slice_columns(model), min_rows=200)
    slices = time.perf_counter() - t0
    top = max(res.findings, key=lambda f: f.score) if res.findings else None
    return {
        "case": f"{len(preds):,} rows x 20 features, {len(GROUPS)} group columns + version",
        "generate_s": round(gen, 3),
        "context_s": round(prep, 3),
        "phase_s": round(phase, 3),
        "phase_cpu_s": round(phase_cpu, 3),
        "findings": len(res.findings),
        "slice_search_s": round(slices, 3),
        "slices_tried": found.tried,
        "labelled_rows": len(lab),
        "top_finding": f"{top.kind} {top.metric}" if top else "-",
    }


def run(quick: bool) -> list[dict[str, object]]:
    """Return one row (100,000 rows when quick, else 1,000,000)."""
    return [measure(100_000 if quick else 1_000_000)]


def main() -> None:
    """Print the timings."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    args = ap.parse_args()
    r = measure(args.rows)
    print(f"{r['case']}; load avg {os.getloadavg()[0]:.2f}")
    print(f"generate log            {r['generate_s']:7.2f} s")
    print(f"context preparation     {r['context_s']:7.2f} s  (derived metrics + robust analysis, shared by all phases)")
    print(
        f"model-behaviour phase   {r['phase_s']:7.2f} s  wall, {r['phase_cpu_s']:.2f} s CPU ({r['findings']} findings)"
    )
    tried, lab = r["slices_tried"], r["labelled_rows"]
    print(f"  slice search alone    {r['slice_search_s']:7.2f} s  ({tried} slices tried on {lab:,} labelled rows)")
    print(f"top finding: {r['top_finding']}")


if __name__ == "__main__":
    main()
