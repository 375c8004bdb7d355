"""RCA speed: ``rank_root_causes`` on 50 components x 10 metrics x 2,000 points, and the full ``rca`` flow.

Usage::

    python bench/rca_speed.py [--quick]

Part 1 times ``rank_root_causes`` (best of N runs) on the same 1,000,000-row frame in four
layouts: grouped by series, time-major, shuffled rows, and categorical key columns; and splits one
call into its stages (frame check + pivot, scoring, ranking).  Part 2 runs the ``rca`` Prefect flow
(five phases in parallel, synthesis, HTML/Markdown report, recorded run) on a demo incident under
Prefect's test harness and reports its wall time and every task run's duration.  The machine's
load average is printed with the figures: on a shared 2-core box they move with it.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rcaflows.rca import ranking

START = pd.Timestamp("2026-03-02T06:00:00Z")
ROOT = Path(__file__).resolve().parents[1]


def frame(n_comp: int = 50, n_met: int = 10, n: int = 2000, seed: int = 0) -> tuple[pd.DataFrame, pd.Timestamp]:
    """Return the benchmark frame (grouped by series) with one shifted series, and the incident time."""
    rng = np.random.default_rng(seed)
    ts = pd.date_range(START, periods=n, freq="1min")
    keys = [(f"svc{i:02d}", f"m{j}") for i in range(n_comp) for j in range(n_met)]
    vals = 100 + rng.normal(size=(n, len(keys)))
    vals[int(0.75 * n) :, 32] += 8.0
    df = pd.DataFrame(
        {
            "timestamp": np.tile(ts, len(keys)),
            "component": np.repeat([k[0] for k in keys], n),
            "metric": np.repeat([k[1] for k in keys], n),
            "value": vals.T.reshape(-1),
        }
    )
    df["timestamp"] = pd.to_datetime(df["timestamp"], utc=True)
    return df, ts[int(0.75 * n) - 10]


def best_ms(fn: Any, repeat: int) -> float:
    """Return the best wall time of ``repeat`` calls in milliseconds."""
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return 1000 * min(out)


def rank_speed(quick: bool) -> list[dict[str, Any]]:
    """Time rank_root_causes per input layout and per stage."""
    df, at = frame(10, 5, 500) if quick else frame()
    size = "10x5x500" if quick else "50x10x2000"
    n_met = 5 if quick else 10
    shifted = (f"svc{32 // n_met:02d}", f"m{32 % n_met}")  # the series frame() shifts
    repeat = 2 if quick else 7
    layouts = {
        "grouped by series": df,
        "time-major": df.sort_values("timestamp", kind="stable", ignore_index=True),
        "shuffled rows": df.sample(frac=1.0, random_state=0, ignore_index=True),
        "categorical keys": df.astype({"component": "category", "metric": "category"}),
    }
    rows: list[dict[str, Any]] = []
    for name, d in layouts.items():
        top = ranking.rank_root_causes(d, at)[0]
        assert (top.component, top.metric) == shifted, top
        rows.append(
            {
                "case": f"rank_root_causes {size}, {name}",
                "wall_ms": round(best_ms(lambda d=d: ranking.rank_root_causes(d, at), repeat), 1),
            }
        )
    mat = ranking.to_matrix(df)
    split = int(mat.times.searchsorted(at))
    sc = ranking.score_matrix(mat.keys, mat.times, mat.values, split)
    rows.append(
        {
            "case": "  stage: check + pivot (to_matrix), grouped",
            "wall_ms": round(best_ms(lambda: ranking.to_matrix(df), repeat), 1),
        }
    )
    rows.append(
        {
            "case": "  stage: robust scoring (score_matrix)",
            "wall_ms": round(best_ms(lambda: ranking.score_matrix(mat.keys, mat.times, mat.values, split), repeat), 1),
        }
    )
    rows.append(
        {
            "case": "  stage: component ranking + evidence",
            "wall_ms": round(best_ms(lambda: ranking._rank_components(sc, mat.step, None, []), repeat), 1),
        }
    )
    return rows


def flow_speed() -> list[dict[str, Any]]:
    """Run the rca flow on the deploy_latency demo incident; return its wall time and task durations."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    sys.path.insert(0, str(ROOT))
    import asyncio

    from flows.rca import rca
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.testing.utilities import prefect_test_harness

    from rcaflows.demo import DEMO_END, write_demo_config

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp, prefect_test_harness():
        cwd = os.getcwd()
        os.chdir(tmp)
        os.environ["RCAFLOWS_STORE_URL"] = f"sqlite:///{Path(tmp) / 'incidents.db'}"
        try:
            config = str(write_demo_config("deploy_latency", Path(tmp)))
            kwargs = {"config": config, "component": "gateway", "metric": "latency_p95_ms", "end": DEMO_END}
            rca(**kwargs)  # warm-up: imports, first-run registration
            t0 = time.perf_counter()
            state = rca(**kwargs, return_state=True)
            wall = time.perf_counter() - t0
            out = state.result()
            run_id = state.state_details.flow_run_id

            async def tasks() -> list[Any]:
                async with get_client() as client:
                    flt = FlowRunFilter(id=FlowRunFilterId(any_=[run_id]))
                    return await client.read_task_runs(flow_run_filter=flt)

            runs = asyncio.run(tasks())
        finally:
            os.chdir(cwd)
    rows.append(
        {
            "case": f"rca flow, deploy_latency demo incident (top: {out.get('top')}), wall",
            "wall_ms": round(1000 * wall, 0),
        }
    )
    for tr in sorted(runs, key=lambda r: r.start_time or r.expected_start_time):
        if tr.start_time and tr.end_time:
            rows.append(
                {"case": f"  task {tr.name}", "wall_ms": round(1000 * (tr.end_time - tr.start_time).total_seconds(), 0)}
            )
    return rows


def run(quick: bool) -> list[dict[str, Any]]:
    """Bench-runner entry point."""
    load = os.getloadavg()[0]
    rows = [{**r, "load1": round(load, 1)} for r in rank_speed(quick)]
    if not quick:  # the flow needs a Prefect harness: tens of seconds, not a quick case
        rows += [{**r, "load1": round(os.getloadavg()[0], 1)} for r in flow_speed()]
    return rows


def main() -> None:
    """Print the timing table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    rows = run(args.quick)
    width = max(len(r["case"]) for r in rows)
    print(f"{'case':<{width}}  {'wall_ms':>8}  load1")
    for r in rows:
        print(f"{r['case']:<{width}}  {r['wall_ms']:>8}  {r['load1']}")


if __name__ == "__main__":
    main()
