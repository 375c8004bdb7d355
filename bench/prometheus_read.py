"""Prometheus read throughput: samples per second from a real local server, source vs raw HTTP+JSON.

Builds TSDB blocks (``promtool``) holding 50 gauge series × 7 days of one-minute samples, starts
the local ``prometheus`` binary on them and reads the whole span three ways:

* ``PrometheusSource.load``: one ``query_range`` selecting every series, paginated under
  Prometheus' 11,000-points-per-series limit, parsed into the engine's long frame;
* the same, one query per series (how a config with PromQL per metric reads);
* the floor: the same HTTP requests with ``httpx`` and ``json`` only, no frame.

``python bench/run.py prometheus_read`` (or ``python bench/prometheus_read.py``).
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

from rcaflows.demo.export import LocalPrometheus, write_openmetrics
from rcaflows.sources.prometheus import PrometheusSource, PromQuery

END = datetime(2026, 3, 2, tzinfo=UTC)
REPEATS = 2  # best of: the machine is shared


def _series(n_series: int, days: float) -> pd.DataFrame:
    rng = np.random.default_rng(11)
    ts = pd.date_range(END - timedelta(days=days), END, freq="1min", inclusive="left", tz="UTC")
    t = np.arange(len(ts))
    values = 100 + 10 * np.sin(2 * np.pi * t / 1440)[None, :] + rng.normal(0, 2, (n_series, len(ts)))
    return pd.DataFrame(
        {
            "timestamp": np.tile(ts, n_series),
            "component": np.repeat([f"svc-{i:04d}" for i in range(n_series)], len(ts)),
            "metric": "latency_ms",
            "value": np.round(values, 3).ravel(),
        }
    )


def _raw_floor(src: PrometheusSource, start: datetime, end: datetime) -> int:
    """Send the source's requests with httpx and parse the JSON only; return the samples received."""
    n = 0
    with httpx.Client(base_url=src.url, timeout=src.timeout.total_seconds()) as client:
        for q in src.queries:
            for first, last in src.chunks(start, end):
                params = {"query": q.query, "start": first, "end": last, "step": f"{src.step.total_seconds():g}s"}
                body = client.get("/api/v1/query_range", params=params).json()
                n += sum(len(s["values"]) for s in body["data"]["result"])
    return n


def run(quick: bool) -> list[dict[str, Any]]:
    """Return one row per read path."""
    from common import row

    n_series, days = (5, 0.25) if quick else (50, 7.0)
    metrics = _series(n_series, days)
    start, end = END - timedelta(days=days), END
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-prom-") as tmp:
        om = write_openmetrics(metrics, Path(tmp) / "bench.om", {"job": "bench"})
        t0 = time.perf_counter()
        with LocalPrometheus([om], directory=Path(tmp) / "prom") as prom:
            load_s = time.perf_counter() - t0
            one = PrometheusSource(
                name="bench",
                url=prom.url,
                queries=[PromQuery(query='latency_ms{job="bench"}', metric="latency_ms", component_label="component")],
            )
            per_series = PrometheusSource(
                name="bench",
                url=prom.url,
                queries=[
                    PromQuery(query=f'latency_ms{{component="{c}"}}', metric="latency_ms", component="c")
                    for c in sorted(metrics["component"].unique())
                ],
            )
            one.load(start, end)  # warm the server's page cache: every case reads warm blocks
            cases = [
                ("PrometheusSource: one query, all series", one, lambda: len(one.load(start, end).metrics)),
                (
                    "PrometheusSource: one query per series",
                    per_series,
                    lambda: len(per_series.load(start, end).metrics),
                ),
                ("floor: httpx + json only, one query", one, lambda: _raw_floor(one, start, end)),
            ]
            for case, src, read in cases:
                walls = []
                for _ in range(REPEATS):
                    t = time.perf_counter()
                    n = read()
                    walls.append(time.perf_counter() - t)
                    assert n == len(metrics), (case, n, len(metrics))
                rows.append(
                    row(
                        benchmark="prometheus_read",
                        case=case,
                        series=n_series,
                        samples=n,
                        requests=len(src.queries) * len(src.chunks(start, end)),
                        best_wall_s=min(walls),
                        samples_per_s=n / min(walls),
                        blocks_build_and_start_s=load_s,
                    )
                )
    return rows


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    for r in run(quick="--quick" in sys.argv):
        print(r)
