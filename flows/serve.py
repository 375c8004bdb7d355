"""Serve the ``detection`` and ``rca`` deployments from one process (no work pool needed)."""

from __future__ import annotations

from typing import cast

from prefect import serve as prefect_serve
from prefect.deployments.runner import RunnerDeployment

from flows.detection import detection
from flows.rca import rca
from rcaflows.config import load_config


def serve(config: str | None = None, limit: int = 4) -> None:
    """Serve hourly detection (cron from the config) and on-demand RCA until interrupted."""
    cfg = load_config(config)
    params = {"config": config} if config else {}
    # to_deployment is dispatched sync here; its annotation also admits the async variant.
    hourly = cast(
        RunnerDeployment,
        detection.to_deployment(
            name="hourly",
            cron=cfg.window.schedule,
            parameters=params,
            tags=["rcaflows", "detection"],
            description=f"Hourly detection on {cfg.system.name}",
        ),
    )
    on_demand = cast(
        RunnerDeployment,
        rca.to_deployment(
            name="on-demand",
            parameters=params,
            tags=["rcaflows", "rca"],
            description=f"Root-cause analysis on {cfg.system.name}, by hand or by event",
        ),
    )
    prefect_serve(hourly, on_demand, limit=limit)
