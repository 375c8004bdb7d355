"""Scale-out of the hourly scan: metric shards as tasks on the configured task runner (threads or Dask).

The metric detectors run once per shard of components (one task each) and the whole-frame
detectors once; the parts are merged and the FDR control is applied once over all of them, so
the result equals the single-task scan's. ``execution.task_runner: dask`` runs the tasks on a
Dask cluster (``execution.dask_address``) or on a LocalCluster started for the run.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NONE
from prefect.task_runners import ThreadPoolTaskRunner

from rcaflows import pipeline
from rcaflows.config import SystemConfig
from rcaflows.data import MonitoringData, Window
from rcaflows.detection import DetectionReport
from rcaflows.detection.engine import (
    merge_reports,
    metric_detectors,
    run_detection,
    shard_scan,
    whole_frame_detectors,
)


def task_runner_for(cfg: SystemConfig) -> Any:
    """Return the Prefect task runner ``cfg.execution`` asks for."""
    ex = cfg.execution
    if ex.task_runner == "dask":
        from prefect_dask import DaskTaskRunner

        logging.getLogger("distributed").setLevel(logging.WARNING)
        if ex.dask_address:
            return DaskTaskRunner(address=ex.dask_address)
        return DaskTaskRunner(
            cluster_kwargs={
                "n_workers": ex.dask_workers,
                "threads_per_worker": 1,
                "processes": True,
                "dashboard_address": ":0",
            }
        )
    return ThreadPoolTaskRunner(max_workers=max(1, min(ex.shards + 1, 8)))


@task(name="detect-shard", cache_policy=NONE)
def detect_shard(cfg: SystemConfig, window: Window, shard: int) -> DetectionReport:
    """Run the metric detectors over one shard's series (no FDR: the merge controls it)."""
    return run_detection(cfg, window, metric_detectors(), control_fdr=False)


@task(name="detect-whole-frames", cache_policy=NONE)
def detect_whole(cfg: SystemConfig, window: Window) -> DetectionReport:
    """Run the detectors that need whole frames (predictions, batches) once."""
    return run_detection(cfg, window, whole_frame_detectors(), control_fdr=False)


@flow(name="detection-scan", description="The hourly scan split into metric shards, on the configured task runner.")
def sharded_scan(cfg: SystemConfig, data: MonitoringData, current_start: datetime) -> DetectionReport:
    """Submit one task per metric shard plus the whole-frame pass; merge their reports."""
    window = Window.split(data, current_start)
    parts = shard_scan(cfg, window, cfg.execution.shards)
    futures = [detect_shard.submit(c, w, k) for k, (c, w) in enumerate(parts)]
    futures.append(detect_whole.submit(cfg, window))
    report = merge_reports(cfg, window, [f.result() for f in futures])
    get_run_logger().info(
        "%d checks from %d metric shards + 1 whole-frame pass on %s",
        len(report.checks),
        len(parts),
        cfg.execution.task_runner,
    )
    return report


def scan(cfg: SystemConfig, data: MonitoringData, current_start: datetime) -> DetectionReport:
    """Run the sharded scan as a subflow on the task runner ``cfg.execution`` names, then the availability checks."""
    report = sharded_scan.with_options(task_runner=task_runner_for(cfg))(cfg, data, current_start)
    return pipeline.with_availability(cfg, data, current_start, report)


def wants_scale_out(cfg: SystemConfig) -> bool:
    """Return True when the config asks for shards or a Dask runner (else one in-process task)."""
    return cfg.execution.shards > 1 or cfg.execution.task_runner == "dask"
