from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prefect_api: None) -> Iterator[Path]:
    """Run a flow test in its own directory with its own SQLite store, against the shared harness."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RCAFLOWS_STORE_URL", f"sqlite:///{tmp_path / 'incidents.db'}")
    yield tmp_path
