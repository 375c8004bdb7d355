"""Benchmark: the hourly scan partitioned by metric shards, in-process vs a Dask LocalCluster of 2 workers.

Data: ``n`` latency series × (1 day of reference + 1 hour current) at 1-minute resolution,
float64, seeded as in ``detection_scan`` (1 % of series shifted +60 % over the last 30 minutes).
The series are split into shards of at most 2,500; each shard is one task that **loads** its
series (seeded generation stands in for the source read a worker would do itself, so the series
never travel through the scheduler) and runs the scan the metric detectors run
(:func:`rcaflows.detection.robust.shift_table`), returning its verdict counts.

Cases, per size (1k and 10k series; quick: 400 series):

* ``in_process`` — the shard tasks one after another in this process;
* ``dask_2_workers`` — the same tasks mapped over a ``distributed.LocalCluster`` of 2 worker
  processes × 1 thread (cluster start reported apart, as a deployment keeps it running);
* ``numpy_floor`` — one numpy pass (``mean`` + ``std`` per series) over the same matrices:
  the least any per-series scan can cost; ``ratio_vs_floor`` divides each case's scan seconds by it.

``scan_task_s`` / ``load_task_s`` sum the wall seconds spent inside the tasks (scan, and load of
the series); with 2 workers they exceed ``wall_s`` when the tasks overlap.

Both cases must find the same shifted series (checked). On this 2-core machine shared with
other jobs, 2 workers can at best halve the in-process wall time; ``load_1m`` says how busy it was.
"""

from __future__ import annotations

import logging
import sys
import time
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd

from common import max_rss_mib, row
from detection_scan import END, long_frames, make_matrix
from rcaflows.config.models import MetricKind, MetricSpec
from rcaflows.detection.robust import shift_table

MINUTES = 1440 + 60
SHARD = 2_500


def scan_shard(n_series: int, seed: int) -> dict[str, Any]:
    """Load one shard's series and scan them; return the failing series and the timings."""
    t0 = time.perf_counter()
    x, shifted = make_matrix(n_series, MINUTES, seed)
    names = pd.Index([f"s{seed}_{i:05d}" for i in range(n_series)])
    specs = [MetricSpec(component=c, name="latency_p99", kind=MetricKind.LATENCY, unit="ms") for c in names]
    ref, cur = long_frames(x, names, MINUTES - 60)
    t1 = time.perf_counter()
    table = shift_table(
        ref, cur, specs, current_end=END, z_threshold=6.0, min_relative_change=0.25, sustain=timedelta(minutes=10)
    )
    t2 = time.perf_counter()
    x.mean(axis=0), x.std(axis=0)
    t3 = time.perf_counter()
    failed = np.flatnonzero(table["status"].to_numpy() == "fail")
    return {
        "load_s": t1 - t0,
        "scan_s": t2 - t1,
        "floor_s": t3 - t2,
        "failed": [f"{seed}:{i}" for i in failed],
        "injected": len(shifted),
        "missed": len(np.setdiff1d(shifted, failed)),
    }


def _shards(n: int) -> list[tuple[int, int]]:
    return [(min(SHARD, n - lo), lo // SHARD) for lo in range(0, n, SHARD)]


def _rows(n: int, case: str, wall: float, parts: list[dict[str, Any]], extra: dict[str, Any]) -> dict[str, Any]:
    scan_s = sum(p["scan_s"] for p in parts)
    floor_s = sum(p["floor_s"] for p in parts)
    return row(
        benchmark="scan_dask",
        case=case,
        series=n,
        points_M=n * MINUTES / 1e6,
        shards=len(parts),
        wall_s=wall,
        series_per_s=n / wall,
        points_M_per_s=n * MINUTES / 1e6 / wall,
        scan_task_s=scan_s,
        load_task_s=sum(p["load_s"] for p in parts),
        ratio_vs_floor=scan_s / floor_s,
        shifts_found=f"{sum(p['injected'] - p['missed'] for p in parts)}/{sum(p['injected'] for p in parts)}",
        **extra,
    )


def run(quick: bool) -> list[dict[str, Any]]:
    """Return, per size, the in-process row, the Dask row and the numpy-floor row."""
    from distributed import Client, LocalCluster

    logging.getLogger("distributed").setLevel(logging.ERROR)
    sizes = [400] if quick else [1_000, 10_000]
    t0 = time.perf_counter()
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
    client = Client(cluster)
    client.run(scan_shard, 20, 99)  # each worker imports pandas and rcaflows once, as a running cluster has
    start_s = time.perf_counter() - t0
    rows = []
    try:
        for n in sizes:
            shards = _shards(n) if n > SHARD else [(n // 2, 0), (n - n // 2, 1)]
            t0 = time.perf_counter()
            local = [scan_shard(k, seed) for k, seed in shards]
            wall_local = time.perf_counter() - t0
            t0 = time.perf_counter()
            futures = client.map(scan_shard, [k for k, _ in shards], [s for _, s in shards], pure=False)
            remote = client.gather(futures)
            wall_dask = time.perf_counter() - t0
            same = sorted(f for p in local for f in p["failed"]) == sorted(f for p in remote for f in p["failed"])
            if not same:
                raise AssertionError(f"{n} series: the Dask scan found other series than the in-process one")
            rows.append(_rows(n, "in_process", wall_local, local, {"max_rss_MiB": max_rss_mib()}))
            rows.append(_rows(n, "dask_2_workers", wall_dask, remote, {"cluster_start_s": start_s}))
            floor = sum(p["floor_s"] for p in local)
            rows.append(
                row(benchmark="scan_dask", case="numpy_floor", series=n, points_M=n * MINUTES / 1e6, wall_s=floor)
            )
            print(f"[bench] scan_dask {n:,}: local {wall_local:.2f} s, dask {wall_dask:.2f} s", file=sys.stderr)
    finally:
        client.close()
        cluster.close()
    return rows


if __name__ == "__main__":
    for r in run(quick="--quick" in sys.argv):
        print(r)
