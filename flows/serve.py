"""Serve the ``detection`` and ``rca`` deployments from one process (no work pool needed)."""

from __future__ import annotations

from prefect import serve as prefect_serve

from flows.detection import detection
from flows.rca import rca
from rcaflows.config import load_config


def serve(config: str | None = None, limit: int = 4) -> None:
    """Serve hourly detection (cron from the config) and on-demand RCA until interrupted."""
    cfg = load_config(config)
    params = {"config": config} if config else {}
    prefect_serve(
        detection.to_deployment(
            name="hourly",
            cron=cfg.window.schedule,
            parameters=params,
            tags=["rcaflows", "detection"],
            description=f"Hourly detection on {cfg.system.name}",
        ),
        rca.to_deployment(
            name="on-demand",
            parameters=params,
            tags=["rcaflows", "rca"],
            description=f"Root-cause analysis on {cfg.system.name}, by hand or by event",
        ),
        limit=limit,
    )
