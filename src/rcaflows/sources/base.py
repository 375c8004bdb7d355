"""The source contract and its registry.

A source reads one system's monitoring data for a time span and returns the engine's frames
(:class:`rcaflows.data.MonitoringData`). The config names a source by ``kind``; the registry
builds it from its options.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Protocol

import pandas as pd

from rcaflows.config.models import SourceConfig, SystemConfig
from rcaflows.data import SOURCE_COLUMN, MonitoringData, empty_changes, empty_metrics
from rcaflows.errors import ConfigError


class Source(Protocol):
    """Reads monitoring data for ``[start, end)``."""

    name: str

    def load(self, start: datetime, end: datetime) -> MonitoringData:
        """Return every frame this source holds for ``[start, end)``."""
        ...


SourceFactory = Callable[[SourceConfig, SystemConfig], Source]
SOURCE_KINDS: dict[str, SourceFactory] = {}


def register(kind: str) -> Callable[[SourceFactory], SourceFactory]:
    """Register a source factory under ``kind``."""

    def deco(factory: SourceFactory) -> SourceFactory:
        SOURCE_KINDS[kind] = factory
        return factory

    return deco


def build_source(spec: SourceConfig, config: SystemConfig) -> Source:
    """Build the source a config entry names; unknown kinds are a config error."""
    # Import for the side effect of registering the built-in kinds.
    from rcaflows.sources import changes, demo, files, prometheus, tabular  # noqa: F401

    try:
        factory = SOURCE_KINDS[spec.kind]
    except KeyError:
        msg = f"sources[{spec.name}].kind: unknown source kind {spec.kind!r}; expected one of {sorted(SOURCE_KINDS)}"
        raise ConfigError(msg) from None
    return factory(spec, config)


def read_source(spec: SourceConfig, config: SystemConfig, start: datetime, end: datetime) -> MonitoringData:
    """Load one configured source; its prediction rows carry its name when a model names its source."""
    part = build_source(spec, config).load(start, end)
    if not part.predictions.empty and any(m.source is not None for m in config.models):
        part = replace(part, predictions=part.predictions.assign(**{SOURCE_COLUMN: spec.name}))
    return part


def merge(
    parts: Sequence[MonitoringData], start: datetime, end: datetime, missing: Sequence[str] = ()
) -> MonitoringData:
    """Merge what several sources returned into one :class:`MonitoringData`."""
    metrics = [p.metrics for p in parts if not p.metrics.empty]
    preds = [p.predictions for p in parts if not p.predictions.empty]
    changes = [p.changes for p in parts if not p.changes.empty]
    batches: dict[str, pd.DataFrame] = {}
    for p in parts:
        for node, frame in p.batches.items():
            batches[node] = pd.concat([batches[node], frame], ignore_index=True) if node in batches else frame
    return MonitoringData(
        start=start,
        end=end,
        metrics=pd.concat(metrics, ignore_index=True)
        if len(metrics) > 1
        else (metrics[0] if metrics else empty_metrics()),
        predictions=pd.concat(preds, ignore_index=True) if len(preds) > 1 else (preds[0] if preds else pd.DataFrame()),
        batches=batches,
        changes=(
            pd.concat(changes, ignore_index=True).sort_values("timestamp", kind="stable")
            if changes
            else empty_changes()
        ),
        missing_sources=tuple(missing) + tuple(m for p in parts for m in p.missing_sources),
    )


def load_sources(config: SystemConfig, start: datetime, end: datetime) -> MonitoringData:
    """Load and merge every configured source; a source that fails is named in ``missing_sources``.

    Raises:
        DataError: when every source failed (the first failure's message is kept).
    """
    from rcaflows.errors import DataError

    parts, missing, first_error = [], [], None
    for spec in config.sources:
        try:
            parts.append(read_source(spec, config, start, end))
        except DataError as exc:
            missing.append(spec.name)
            first_error = first_error or exc
    if not parts and first_error is not None:
        raise first_error
    return merge(parts, start, end, missing)
