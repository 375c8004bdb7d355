"""A resolved incident with a full history: detection, triage, notification, escalation, ack, RCA, mitigation."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from rcaflows.config.models import ChannelConfig
from rcaflows.incidents import (
    Action,
    EventKind,
    NewIncident,
    Store,
    finish_rca_run,
    open_or_touch,
    record_event,
    start_rca_run,
    transition,
    triage,
)
from rcaflows.notify import dispatch
from rcaflows.timeutil import now_utc

ONSET_LEAD = timedelta(minutes=15)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(f"sqlite:///{tmp_path / 'incidents.db'}")
    yield s
    s.dispose()


def rca_results(top: str, *, failed_phase: str | None = None, radius: list[str] | None = None) -> dict[str, Any]:
    """Return RCA results shaped like ``RcaResult.model_dump(mode='json')``."""
    phases = ["statistical", "component", "lineage", "model_behaviour", "environmental"]
    return {
        "hypotheses": [
            {
                "rank": 1,
                "component": top,
                "metric": "null_rate",
                "kind": "upstream_null_rate",
                "score": 3.0,
                "confidence": 0.82,
                "status": "supported",
                "supporting": [f"{top} null rate rose 0.2% -> 14%"],
            },
            {
                "rank": 2,
                "component": "scoring_api",
                "metric": "latency_p95",
                "kind": "metric_shift",
                "score": 1.0,
                "confidence": 0.1,
                "status": "weak",
                "supporting": ["latency rose 10%"],
            },
        ],
        "phases": [
            {
                "phase": p,
                "status": "failed" if p == failed_phase else "ok",
                "error": "boom" if p == failed_phase else None,
            }
            for p in phases
        ],
        "blast_radius": radius if radius is not None else ["fraud_model", "scoring_api", "chargebacks"],
    }


@pytest.fixture
def make_incident(store: Store, tmp_path: Path) -> Callable[..., str]:
    """Return a factory of incidents with a recorded history; ``resolve=False`` leaves it open."""

    def make(
        component: str = "feature_store",
        *,
        top: str = "etl_job",
        resolve: bool = True,
        escalate: bool = True,
        failed_phase: str | None = "environmental",
        detected_ago: timedelta = timedelta(hours=2),
        title: str | None = None,
    ) -> str:
        detected = now_utc() - detected_ago
        new = NewIncident(
            system="fraud-scoring",
            type="data_quality",
            subtype="null_rate",
            component=component,
            metric="amount",
            title=title or f"{component}: amount null rate 14%",
            severity="high",
            priority="P2",
            team="data-eng",
            detected_at=detected,
            details={
                "onset": (detected - ONSET_LEAD).isoformat(),
                "components": [component, "fraud_model"],
                "escalation_policy": "standard",
                "channels": ["log"],
            },
        )
        with store.session() as s:
            inc, _ = open_or_touch(s, new)
            triage(s, inc, "high", "P2", "data-eng", "detection", ["test"])
            key = inc.key
        log = ChannelConfig(name="log", kind="file", path=str(tmp_path / "notify.jsonl"))
        dispatch(store, key, [log], "opened", "detection")
        with store.session() as s:
            if escalate:
                record_event(s, key, EventKind.ESCALATION, "escalation", {"level": 1, "notify": ["log"]})
            transition(s, key, Action.ACKNOWLEDGE, "user:alice", comment="looking")
            run = start_rca_run(s, incident=key, flow_run_id=None, inputs_fingerprint="x", code_version="t")
            record_event(s, key, EventKind.RCA_STARTED, "rca", {"rca_run_id": run.id})
            finish_rca_run(
                s,
                run.id,
                status="completed",
                results=rca_results(top, failed_phase=failed_phase),
                report_html=str(tmp_path / f"{key}-rca.html"),
            )
            record_event(s, key, EventKind.RCA_COMPLETED, "rca", {"rca_run_id": run.id, "top": top, "confidence": 0.82})
            if resolve:
                transition(s, key, Action.MITIGATE, "user:alice", comment="rolled back the ETL job")
                transition(s, key, Action.RESOLVE, "user:alice", resolution="fixed")
        return key

    return make
