"""Benchmark: one hourly detection scan over many minute-resolution metric series.

Data: ``n`` series × 7 days at 1-minute resolution (10,080 points each; 10,000 series ≈ 100 M
points), **float64** (the dtype the engine computes in), seeded: level 100 + 5·N(0, 1) noise +
a daily cycle of amplitude 10; 1 % of the series get a +60 % shift over their last 30 minutes.
The last hour is the current window, the 7 days before it the reference.

Measured, each once, wall time and peak memory traced while it runs (beyond its input):

* ``shift_table`` — the scan the hourly flow runs (every detector over metrics calls
  :func:`rcaflows.detection.robust.shift_table`): long frames in (``timestamp, component,
  metric, value``; component/metric as pandas categoricals), one verdict per series out. Its
  ``failed`` count is checked against the injected shifts. It runs the anomaly scorer
  (``score_matrix`` with the daily period, reference + current) on the series whose size gates
  pass at half strength, so its cost grows with the number of candidate series
  (``warn_or_fail``: exactly the series scored), not with all of them.
* ``score_matrix`` — :func:`rcaflows.detection.anomaly.score_matrix` over the whole (time ×
  series) matrix with the daily period: the cost of scoring *every* series, the bound the scan
  would reach if every series were a candidate.
* the physical floor — one plain numpy pass over the same matrix: ``X.mean(0)`` + ``X.std(0)``
  (``floor_mean_std``), and, as the floor of any median-based statistic, ``np.nanmedian(X, 0)``
  (``floor_nanmedian``). ``ratio`` columns divide a path's CPU time by these (CPU seconds of
  this single-threaded process stay comparable when other work loads the shared machine;
  wall seconds are reported beside them).

50,000 series (≈ 500 M points, 4 GB as float64) are scanned in chunks of 10,000 series, as a
flow would; the row reports the summed time and the largest per-chunk peak, and skips
``score_matrix`` (linear in the number of series: read it off the 10,000 row).
``RCAFLOWS_BENCH_SCAN_SIZES`` (default ``1000,10000,50000``) picks the sizes.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from common import max_rss_mib, measure, row
from rcaflows.config.models import MetricKind, MetricSpec
from rcaflows.detection.robust import shift_table
from rcaflows.detection.stats import score_matrix

END = datetime(2026, 1, 12, 0, 0, tzinfo=UTC)
DAYS = 7
CHUNK = 10_000
SHIFTED_SHARE = 0.01


def make_matrix(n_series: int, minutes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the (minute × series) float64 matrix and the indices of the shifted series."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((minutes, n_series))
    x *= 5.0
    x += 100.0
    tod = (np.arange(minutes) % 1440) / 1440.0
    x += (10.0 * np.sin(2 * np.pi * tod))[:, None]
    shifted = rng.choice(n_series, size=max(1, int(n_series * SHIFTED_SHARE)), replace=False)
    x[-30:, shifted] *= 1.6
    return x, np.sort(shifted)


def long_frames(x: np.ndarray, names: pd.Index, cut: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return the reference and current long frames of a (minute × series) matrix."""
    minutes, n = x.shape
    ts = pd.date_range(END - timedelta(minutes=minutes), periods=minutes, freq="1min")

    def frame(lo: int, hi: int) -> pd.DataFrame:
        rows = hi - lo
        return pd.DataFrame(
            {
                "timestamp": np.repeat(ts[lo:hi], n),
                "component": pd.Categorical.from_codes(np.tile(np.arange(n), rows), categories=names),
                "metric": pd.Categorical.from_codes(np.zeros(rows * n, dtype=np.int8), categories=["latency_p99"]),
                "value": x[lo:hi].ravel(),
            }
        )

    return frame(0, cut), frame(cut, minutes)


def scan_once(n_series: int, minutes: int, seed: int, with_score: bool = True) -> dict[str, Any]:
    """Measure the scan paths and the floor on one chunk of series; return the figures."""
    x, shifted = make_matrix(n_series, minutes, seed)
    names = pd.Index([f"svc{seed}_{i:05d}" for i in range(n_series)])
    specs = [MetricSpec(component=c, name="latency_p99", kind=MetricKind.LATENCY, unit="ms") for c in names]
    cut = minutes - 60
    frames = long_frames(x, names, cut)
    table, t_shift, m_shift, c_shift = measure(
        lambda: shift_table(
            *frames,
            specs,
            current_end=END,
            z_threshold=6.0,
            min_relative_change=0.25,
            sustain=timedelta(minutes=10),
        )
    )
    failed = np.flatnonzero(table["status"].to_numpy() == "fail")
    scored = int(table["status"].isin(["fail", "warn"]).sum())
    frames, table = (), None  # free the long frames before the matrix paths run
    t_score = m_score = c_score = float("nan")
    if with_score:
        _, t_score, m_score, c_score = measure(lambda: score_matrix(x, period=1440))
    _, t_mean, _, c_mean = measure(lambda: (x.mean(axis=0), x.std(axis=0)))
    _, t_med, _, c_med = measure(lambda: np.nanmedian(x, axis=0))
    return {
        "t_shift": t_shift,
        "m_shift": m_shift,
        "t_score": t_score,
        "m_score": m_score,
        "t_mean": t_mean,
        "t_med": t_med,
        "c_shift": c_shift,
        "c_score": c_score,
        "c_mean": c_mean,
        "c_med": c_med,
        "scored": scored,
        "missed": len(np.setdiff1d(shifted, failed)),
        "false_alarms": len(np.setdiff1d(failed, shifted)),
        "injected": len(shifted),
        "input_mib": x.nbytes / 2**20,
    }


def scan(n_series: int, minutes: int = DAYS * 1440) -> dict[str, Any]:
    """Scan ``n_series`` series in chunks of :data:`CHUNK`; return one result row."""
    with_score = n_series <= CHUNK  # score_matrix is linear in the series: the 10k row gives it
    parts = [
        scan_once(min(CHUNK, n_series - lo), minutes, seed=lo // CHUNK, with_score=with_score)
        for lo in range(0, n_series, CHUNK)
    ]
    total = {
        k: sum(p[k] for p in parts)
        for k in (
            "t_shift",
            "t_score",
            "t_mean",
            "t_med",
            "c_shift",
            "c_score",
            "c_mean",
            "c_med",
            "missed",
            "false_alarms",
            "scored",
        )
    }
    injected = sum(p["injected"] for p in parts)
    return row(
        case=f"{n_series:,} series × {minutes:,} min (float64)",
        points_M=n_series * minutes / 1e6,
        chunks=len(parts),
        shift_table_s=total["t_shift"],
        shift_table_cpu_s=total["c_shift"],
        shift_table_peak_MiB=max(p["m_shift"] for p in parts),
        score_matrix_s=total["t_score"],
        score_matrix_cpu_s=total["c_score"],
        score_matrix_peak_MiB=max(p["m_score"] for p in parts),
        floor_mean_std_cpu_s=total["c_mean"],
        floor_nanmedian_cpu_s=total["c_med"],
        ratio_shift_vs_mean_std=total["c_shift"] / total["c_mean"],
        ratio_shift_vs_nanmedian=total["c_shift"] / total["c_med"],
        ratio_score_vs_mean_std=total["c_score"] / total["c_mean"],
        input_MiB_per_chunk=max(p["input_mib"] for p in parts),
        max_rss_MiB=max_rss_mib(),
        shifts_found=f"{injected - total['missed']}/{injected}",
        false_alarms=total["false_alarms"],
        warn_or_fail=total["scored"],
    )


def run(quick: bool) -> list[dict[str, Any]]:
    """Return one row per size: 1k, 10k and 50k series (quick: 200 series × 2 days)."""
    if quick:
        return [scan(200, minutes=2 * 1440)]
    rows = []
    sizes = os.environ.get("RCAFLOWS_BENCH_SCAN_SIZES", "1000,10000,50000")
    for n in (int(v) for v in sizes.split(",")):
        rows.append(scan(n))
        print(f"[bench] detection_scan {n:,} series: {rows[-1]}", file=sys.stderr, flush=True)
    return rows
