"""Fixtures of the mitigation tests: a real store (SQLite, or PostgreSQL via tests/pg.py), the demo system
with runbooks, and an incident with a completed RCA whose top hypothesis is a deploy."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from mitigation_helpers import DEPLOY_RCA, RUNBOOKS, T0, with_mitigation

from pg import empty_store
from rcaflows.config import load_config
from rcaflows.config.loader import demo_config_path
from rcaflows.config.models import SystemConfig
from rcaflows.incidents import NewIncident, Store, finish_rca_run, open_or_touch, start_rca_run, triage


@pytest.fixture(scope="session")
def demo_cfg() -> SystemConfig:
    return load_config(demo_config_path())


@pytest.fixture
def cfg(demo_cfg: SystemConfig) -> SystemConfig:
    return with_mitigation(demo_cfg, RUNBOOKS)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """Yield an empty store: a real SQLite file, or a fresh schema of ``$RCAFLOWS_TEST_DB_URL`` (PostgreSQL)."""
    with empty_store(tmp_path) as s:
        yield s


@pytest.fixture
def make_incident(store: Store, cfg: SystemConfig) -> Callable[..., str]:
    """Return a factory: open + triage one incident of the demo system with a completed RCA; return its key."""

    def make(
        *, severity: str = "high", rca: dict[str, Any] | None = DEPLOY_RCA, component: str = "scoring_api", **kw: Any
    ) -> str:
        new = NewIncident(
            system=cfg.system.name,
            type=kw.pop("type", "quality_degradation"),
            subtype="accuracy_drop",
            component=component,
            metric="precision",
            title="precision dropped",
            severity=severity,
            priority="P2",
            team="ml-platform",
            detected_at=kw.pop("detected_at", T0),
            fingerprint=kw.pop("fingerprint", ""),
        )
        with store.session() as s:
            inc, _ = open_or_touch(s, new)
            triage(s, inc, severity, "P2", "ml-platform", "detection")
            if rca is not None:
                run = start_rca_run(s, incident=inc, flow_run_id=None, inputs_fingerprint="x", code_version="t")
                finish_rca_run(s, run.id, status="completed", results=rca)
            return inc.key

    return make
