"""Fixtures of the triage tests: a real SQLite store and a helper that opens a triaged, planned incident."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pg import empty_store
from rcaflows.config import SystemConfig, load_config
from rcaflows.incidents import NewIncident, Store, open_or_touch
from rcaflows.incidents import triage as triage_incident
from rcaflows.triage.escalation import plan_escalation

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def cfg() -> SystemConfig:
    return load_config()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """Yield an empty store: a real SQLite file, or a fresh schema of ``$RCAFLOWS_TEST_DB_URL`` (PostgreSQL)."""
    with empty_store(tmp_path) as s:
        yield s


@pytest.fixture
def open_planned(store: Store, cfg: SystemConfig) -> Callable[..., int]:
    """Return a factory: open a triaged incident with its escalation planned; returns its id."""
    counter = iter(range(1, 10_000))

    def make(
        *,
        severity: str = "high",
        policy: str | None = "standard",
        confidence: str = "detected",
        components: list[str] | None = None,
        teams: list[str] | None = None,
        impact: dict[str, float] | None = None,
        detected_at: datetime = T0,
        itype: str = "performance_availability",
        config: SystemConfig | None = None,
        **extra: Any,
    ) -> int:
        n = next(counter)
        comps = components or ["scoring_api"]
        new = NewIncident(
            system="fraud-scoring",
            type=itype,
            subtype="latency",
            component=comps[0],
            metric="latency_p95_ms",
            title=f"incident {n}",
            severity=severity,
            priority="P2",
            team="ml-platform",
            fingerprint=f"fp-{n}",
            detected_at=detected_at,
            details={"components": comps, **extra},
        )
        with store.session() as s:
            inc, _ = open_or_touch(s, new)
            triage_incident(s, inc, severity, "P2", "ml-platform", "detection", ["test"])
            plan_escalation(
                s,
                inc,
                config or cfg,
                policy,
                confidence=confidence,
                teams_involved=teams or ["ml-platform"],
                impact=impact or {"business": 0.5, "compliance": 0.0},
            )
            return inc.id

    return make
