"""Fixtures of the detector and engine tests; the data and helpers live in :mod:`detection_data`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from detection_data import make_data

from rcaflows.config import load_config
from rcaflows.config.models import SystemConfig
from rcaflows.data import MonitoringData
from rcaflows.incidents import Store


@pytest.fixture(scope="session")
def config() -> SystemConfig:
    """Return the demo system config."""
    return load_config()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """Return an empty SQLite incident store in the test's directory."""
    s = Store(f"sqlite:///{tmp_path / 'incidents.db'}")
    s.create_all()
    yield s
    s.dispose()


@pytest.fixture(scope="session")
def normal_data(config: SystemConfig) -> MonitoringData:
    """Return one seeded normal day and hour (treat as read-only; copy frames before changing them)."""
    return make_data(config, seed=11)


@pytest.fixture()
def data(normal_data: MonitoringData) -> MonitoringData:
    """Return a deep copy of the normal data, free to modify."""
    return MonitoringData(
        start=normal_data.start,
        end=normal_data.end,
        metrics=normal_data.metrics.copy(),
        predictions=normal_data.predictions.copy(),
        batches={k: v.copy() for k, v in normal_data.batches.items()},
    )

