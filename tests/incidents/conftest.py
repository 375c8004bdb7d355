"""Fixtures of the incident-store tests: a real SQLite file, or ``$RCAFLOWS_TEST_DB_URL``.

Set ``RCAFLOWS_TEST_DB_URL=postgresql+psycopg://user:pw@host/db`` to run the same tests against
PostgreSQL (``.ci/start-postgres start`` prints such a URL); each test then gets its own empty
schema (``tests/pg.py``), dropped afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pg import fresh_schema, pg_test_url
from rcaflows.incidents import NewIncident, Store


@pytest.fixture
def store_url(tmp_path: Path) -> Iterator[str]:
    """Yield the URL the test's store lives at: a SQLite file, or a fresh PostgreSQL schema."""
    pg_url = pg_test_url()
    if pg_url is None:
        yield f"sqlite:///{tmp_path / 'store' / 'incidents.db'}"
        return
    with fresh_schema(pg_url) as url:
        yield url
        Store.clear_cache()


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """Yield an empty incident store."""
    s = Store(store_url)
    s.create_all()
    yield s
    s.dispose()


@pytest.fixture
def is_sqlite(store: Store) -> bool:
    return store.engine.dialect.name == "sqlite"


T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def make_new() -> Callable[..., NewIncident]:
    """Return a factory of NewIncident with sensible defaults, any field overridable."""

    def make(**overrides: Any) -> NewIncident:
        fields: dict[str, Any] = {
            "system": "fraud-scoring",
            "type": "data_quality",
            "subtype": "null_rate",
            "component": "feature-store",
            "metric": "txn_amount",
            "title": "txn_amount null rate 14% (baseline 0.2%)",
            "severity": "high",
            "priority": "P2",
            "team": "ml-platform",
            "detected_at": T0,
            "details": {"null_rate": 0.14, "baseline": 0.002},
        }
        fields.update(overrides)
        return NewIncident(**fields)

    return make
