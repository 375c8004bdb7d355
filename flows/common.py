"""Helpers shared by the flows: config resolution, the store, the shared data-loading task."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NONE

from rcaflows.config import SystemConfig, load_config
from rcaflows.data import MonitoringData
from rcaflows.errors import ConfigError, EmptyWindowError
from rcaflows.incidents import Store
from rcaflows.sources import load_sources


def resolve_config(config: str | None, scenario: str | None = None) -> SystemConfig:
    """Load ``config`` (the bundled demo system when None), switching demo sources to ``scenario``.

    Each demo scenario is its own simulated world, so its incidents are scoped to the system
    ``<name>/<scenario>`` and never deduplicate against another scenario's.
    """
    cfg = load_config(config)
    if scenario is None:
        return cfg
    demo = [s for s in cfg.sources if s.kind == "demo"]
    if not demo:
        where = config or "the bundled demo config"
        raise ConfigError(f"{where}: sources: --scenario needs a source of kind 'demo'")
    sources = [
        s.model_copy(update={"options": {**s.options, "scenario": scenario}}) if s.kind == "demo" else s
        for s in cfg.sources
    ]
    system = cfg.system.model_copy(update={"name": f"{cfg.system.name}/{scenario}"})
    return cfg.model_copy(update={"sources": sources, "system": system})


def store_for(cfg: SystemConfig) -> Store:
    """Return the (cached) incident store of a config."""
    return Store.from_url(cfg.store.url)


def hour_floor(at: datetime | None) -> datetime:
    """Return ``at`` (default: now) floored to the hour, in UTC."""
    ts = pd.Timestamp.now(tz="UTC") if at is None else pd.Timestamp(at)
    if ts.tzinfo is None:
        raise ConfigError(f"at: timestamp {at!r} has no timezone; give it in UTC, e.g. 2026-03-02T12:00:00Z")
    return ts.tz_convert("UTC").floor("h").to_pydatetime()


@task(name="load-window", retries=2, retry_delay_seconds=[1, 5], cache_policy=NONE)
def load_window(cfg: SystemConfig, start: datetime, end: datetime) -> MonitoringData:
    """Read every configured source for ``[start, end)``; retried, since sources are remote."""
    log = get_run_logger()
    data = load_sources(cfg, start, end)
    if data.missing_sources:
        log.warning("sources missing from this window: %s", ", ".join(data.missing_sources))
    if data.is_empty():
        raise EmptyWindowError(
            f"window {start.isoformat()} .. {end.isoformat()}: no data from sources "
            f"{', '.join(s.name for s in cfg.sources)}"
        )
    log.info(
        "loaded %d metric samples, %d predictions, %d change events for %s .. %s",
        len(data.metrics),
        len(data.predictions),
        len(data.changes),
        start.isoformat(),
        end.isoformat(),
    )
    return data
