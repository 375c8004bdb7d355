from __future__ import annotations

import importlib.util
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flows.escalation import escalation

from rcaflows.config import load_config
from rcaflows.incidents import EventKind, NewIncident, Store, acknowledge, events, open_or_touch
from rcaflows.incidents import triage as triage_incident
from rcaflows.triage.escalation import plan_escalation

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _open(store: Store, fingerprint: str, severity: str) -> int:
    cfg = load_config()
    with store.session() as s:
        inc, _ = open_or_touch(
            s,
            NewIncident(
                system="fraud-scoring",
                type="performance_availability",
                subtype="latency",
                component="scoring_api",
                title=f"latency {fingerprint}",
                severity=severity,
                priority="P1",
                team="ml-platform",
                fingerprint=fingerprint,
                detected_at=T0,
                details={"components": ["scoring_api"]},
            ),
        )
        triage_incident(s, inc, severity, "P1", "ml-platform", "detection")
        plan_escalation(s, inc, cfg, "standard", teams_involved=["ml-platform"], impact={"business": 1.0})
        return inc.id


def test_escalation_flow_fires_due_steps_and_skips_acknowledged(workdir: Path) -> None:
    store = Store.from_url(load_config().store.url)  # the workdir's store (RCAFLOWS_STORE_URL)
    left = _open(store, "left-alone", "critical")
    acked = _open(store, "acked", "critical")
    with store.session() as s:
        acknowledge(s, acked, "user:alice", comment="on it")
    rows = escalation(at=T0 + timedelta(minutes=20))
    assert [(r["incident_id"], r["kind"], r["level"]) for r in rows] == [(left, "immediate", 0), (left, "level", 1)]
    assert escalation(at=T0 + timedelta(minutes=20)) == []  # a second run fires nothing again
    with store.session(readonly=True) as s:
        left_log = events(s, left)
        acked_log = events(s, acked)
    assert [e.payload["kind"] for e in left_log if e.kind is EventKind.ESCALATION] == ["immediate", "level"]
    assert not any(e.kind is EventKind.ESCALATION for e in acked_log)
    if importlib.util.find_spec("rcaflows.notify") is not None:  # the notification layer delivered them
        sent = [e for e in left_log if e.kind is EventKind.NOTIFICATION]
        # the fired steps went out as escalations; the rest are the audiences' status updates that came due
        assert len([e for e in sent if e.actor == "escalation"]) == 2
        assert {e.actor for e in sent} <= {"escalation", "communication"}
