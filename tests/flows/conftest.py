from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pg import fresh_schema, pg_test_url
from rcaflows.incidents import Store


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prefect_api: None) -> Iterator[Path]:
    """Run a flow test in its own directory with its own store, against the shared harness.

    The store is a SQLite file, or a fresh PostgreSQL schema when ``$RCAFLOWS_TEST_DB_URL`` is set.
    """
    monkeypatch.chdir(tmp_path)
    pg_url = pg_test_url()
    if pg_url is None:
        monkeypatch.setenv("RCAFLOWS_STORE_URL", f"sqlite:///{tmp_path / 'incidents.db'}")
        yield tmp_path
        return
    with fresh_schema(pg_url) as url:
        monkeypatch.setenv("RCAFLOWS_STORE_URL", url)
        yield tmp_path
        Store.clear_cache()  # close this test's pooled connections before its schema is dropped
