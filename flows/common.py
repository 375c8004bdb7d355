"""Helpers shared by the flows: config resolution, the store, the shared data-loading task, the incident board."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import TypeVar, cast

import pandas as pd
from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NONE
from prefect.utilities.annotations import opaque

from rcaflows import pipeline
from rcaflows.board import BOARD_KEY, board_markdown
from rcaflows.config import SystemConfig, load_config
from rcaflows.config.loader import CONFIG_ENV, located
from rcaflows.data import MonitoringData
from rcaflows.errors import ConfigError
from rcaflows.incidents import Store


def resolve_config(config: str | None) -> SystemConfig:
    """Load the system config at ``config`` (or ``RCAFLOWS_CONFIG``); a flow never falls back to the demo.

    The checks the config loader cannot make (it sits below the notifier registry) run here too, so
    a channel of an unknown kind fails the run at its start rather than at its first message.

    Raises:
        ConfigError: listing every problem as ``notifications[i].field: what is wrong``.
    """
    from rcaflows.notify.base import channel_problems

    cfg = load_config(config)
    problems = channel_problems(cfg)
    if problems:
        where = config or os.environ.get(CONFIG_ENV, CONFIG_ENV)
        raise ConfigError(f"{where}: {len(problems)} problem(s) in config", located(where, problems))
    return cfg


def config_ref(config: str | None) -> str | None:
    """Return the absolute path of the config a flow runs on (``config`` or ``$RCAFLOWS_CONFIG``)."""
    ref = config or os.environ.get(CONFIG_ENV) or None
    return str(Path(ref).resolve()) if ref else None


T = TypeVar("T")


def whole(value: T) -> T:
    """Return ``value`` marked so that a task call takes it whole, without walking its contents.

    Prefect visits every nested value of a task's parameters twice per call, looking for upstream
    futures and results to link: on a system config, a detection report or an RCA context that is
    10-100 ms a task, ~1 s of CPU per demo scenario. A value marked here is still resolved (a
    future is waited for) and still linked to the task that returned it; only its insides are not
    searched, and nothing the engine passes keeps a future inside. For direct task calls only: a
    Dask task runner ships the marker itself to its workers (Prefect 3.9), so ``.submit()`` takes values.
    """
    return cast(T, opaque(value))


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
def load_window(cfg: SystemConfig, start: datetime, end: datetime, unreadable_ok: bool = False) -> MonitoringData:
    """Read every configured source for ``[start, end)``; retried, since sources are remote.

    With ``unreadable_ok`` (detection), sources that cannot be read are named in the data, not
    raised, even when none can be: detection opens an incident per unreadable source.
    """
    log = get_run_logger()
    data = pipeline.load_window(cfg, start, end, unreadable_ok=unreadable_ok)
    if data.missing_sources:
        log.warning(
            "sources missing from this window: %s",
            "; ".join(f"{name}: {data.source_errors.get(name, 'not read')}" for name in data.missing_sources),
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


def publish_board(cfg: SystemConfig, at: datetime | None = None) -> None:
    """Publish the open-incident board as the keyed ``incidents-open`` Markdown artifact; never fail the flow.

    A board that cannot be built is logged: the run that changed the incidents already committed.
    """
    try:
        markdown = board_markdown(store_for(cfg), cfg, at)
        create_markdown_artifact(
            markdown=markdown, key=BOARD_KEY, description=f"Open incidents of {cfg.system.name}, by priority"
        )
    except Exception as exc:  # the board is a view; a broken one must not fail detection or escalation
        get_run_logger().error("incident board not published: %s: %s", type(exc).__name__, exc)
