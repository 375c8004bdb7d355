"""Incident roles from the schedules (audited), and the RCA's top cause adding its team as a responder."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.notify.conftest import Mailbox, mailbox  # noqa: F401  (fixture)
from tests.triage.test_oncall import HANDOFF, people_config

from rcaflows.config.models import SystemConfig
from rcaflows.incidents import NewIncident, Store, finish_rca_run, open_or_touch, start_rca_run
from rcaflows.incidents import triage as triage_incident
from rcaflows.notify import notifications
from rcaflows.triage.roles import add_responders_from_rca, assign_roles, roles_of


@pytest.fixture
def pcfg(cfg: SystemConfig, mailbox: Mailbox, tmp_path: Path) -> SystemConfig:  # noqa: F811
    return people_config(cfg, mailbox, tmp_path)


def _open(store: Store, priority: str, at: datetime, n: int = 1) -> str:
    with store.session() as s:
        inc, _ = open_or_touch(
            s,
            NewIncident(
                system="fraud-scoring",
                type="performance_availability",
                subtype="latency",
                component="scoring_api",
                title=f"latency {n}",
                severity="high",
                priority=priority,
                team="ml-platform",
                fingerprint=f"fp-{n}",
                detected_at=at,
                details={"components": ["scoring_api"]},
            ),
        )
        triage_incident(s, inc, "high", priority, "ml-platform", "detection", ["test"])
        return inc.key


def test_p2_gets_commander_and_comms_lead_from_the_schedule_once(store: Store, pcfg: SystemConfig) -> None:
    key = _open(store, "P2", HANDOFF)
    new = assign_roles(store, pcfg, key, at=HANDOFF + timedelta(minutes=1))
    assert [(r["role"], r["person"]) for r in new] == [("incident_commander", "alice"), ("comms_lead", "bob")]
    roles = roles_of(store, key)
    assert roles["incident_commander"]["person"] == "alice" and "shift #13" in roles["incident_commander"]["why"]
    assert roles["comms_lead"]["why"].startswith("on-call secondary of ml-platform")
    assert assign_roles(store, pcfg, key, at=HANDOFF + timedelta(hours=1)) == []  # recorded once, audited
    low = _open(store, "P4", HANDOFF, n=2)
    assert assign_roles(store, pcfg, low, at=HANDOFF) == []
    assert "incident_commander" not in roles_of(store, low)


def test_a_role_nobody_holds_is_recorded_not_skipped(store: Store, pcfg: SystemConfig) -> None:
    roles = pcfg.oncall.roles.model_copy(update={"comms_team": "data-eng"})
    cfg = pcfg.model_copy(update={"oncall": pcfg.oncall.model_copy(update={"roles": roles})})
    night = datetime(2026, 3, 2, 22, 0, tzinfo=UTC)  # data-eng covers office hours only
    key = _open(store, "P1", night)
    new = assign_roles(store, cfg, key, at=night)
    lead = next(r for r in new if r["role"] == "comms_lead")
    assert lead["person"] is None and lead["why"] == "nobody is on-call primary of data-eng"


def test_rca_top_cause_of_another_team_adds_it_as_responder_and_pages_it(
    store: Store,
    pcfg: SystemConfig,
    mailbox: Mailbox,  # noqa: F811
) -> None:
    at = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # 13:00 Berlin: data-eng's office hours (alice)
    key = _open(store, "P2", at)
    with store.session() as s:
        run = start_rca_run(s, incident=key, flow_run_id=None, inputs_fingerprint="x", code_version="t")
        run_id = run.id
    with store.session() as s:
        finish_rca_run(
            s,
            run_id,
            status="completed",
            results={"hypotheses": [{"component": "feature_db", "kind": "resource_saturation", "confidence": 0.8}]},
        )
    (added,) = add_responders_from_rca(store, pcfg, key, at=at, sleep=lambda _: None)
    assert added["responder"] == "data-eng"
    assert added["reason"] == (
        "RCA ranks feature_db (resource_saturation, 80% confidence) as the most likely root cause; "
        "feature_db is owned by data-eng"
    )
    assert [m["To"] for m in mailbox.mails] == ["alice@example.org"]  # data-eng's on-call person
    assert "added as responder" in mailbox.mails[0].get_payload(decode=True).decode()
    with store.session(readonly=True) as s:
        assert {r.channel for r in notifications(s, key)} == {"mail:alice", "pager:alice"}
    assert add_responders_from_rca(store, pcfg, key, at=at) == []  # once
    assert [r["responder"] for r in roles_of(store, key)["responders"]] == ["data-eng"]


def test_rca_top_cause_of_the_owning_team_adds_nobody(store: Store, pcfg: SystemConfig) -> None:
    key = _open(store, "P2", HANDOFF)
    with store.session() as s:
        run_id = start_rca_run(s, incident=key, flow_run_id=None, inputs_fingerprint="y", code_version="t").id
    with store.session() as s:
        finish_rca_run(
            s, run_id, status="completed", results={"hypotheses": [{"component": "geo_api", "confidence": 0.9}]}
        )
    assert add_responders_from_rca(store, pcfg, key, at=HANDOFF) == []


def _rca(store: Store, key: str, hypotheses: list[dict[str, object]]) -> None:
    with store.session() as s:
        run_id = start_rca_run(s, incident=key, flow_run_id=None, inputs_fingerprint=key, code_version="t").id
    with store.session() as s:
        finish_rca_run(s, run_id, status="completed", results={"hypotheses": hypotheses})


def test_an_inconclusive_rca_escalates_to_the_specialists_once(
    store: Store,
    pcfg: SystemConfig,
    mailbox: Mailbox,  # noqa: F811
) -> None:
    from rcaflows.triage.roles import escalate_inconclusive

    roles = pcfg.oncall.roles.model_copy(update={"specialists": ["oncall:data-eng"], "inconclusive_below": 0.3})
    cfg = pcfg.model_copy(update={"oncall": pcfg.oncall.model_copy(update={"roles": roles})})
    at = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # data-eng's office hours: alice
    sure, unsure = _open(store, "P2", at, n=1), _open(store, "P2", at, n=2)
    _rca(store, sure, [{"component": "geo_api", "confidence": 0.8}])
    _rca(store, unsure, [{"component": "geo_api", "confidence": 0.12}, {"component": "feature_db", "confidence": 0.1}])
    assert escalate_inconclusive(store, cfg, sure, at=at) == []
    (item,) = escalate_inconclusive(store, cfg, unsure, at=at, sleep=lambda _: None)
    assert item["escalated_to"] == ["oncall:data-eng"]
    assert "inconclusive (top hypothesis geo_api at 12%, below 30%)" in item["reason"]
    assert [m["To"] for m in mailbox.mails] == ["alice@example.org"]
    assert escalate_inconclusive(store, cfg, unsure, at=at) == []  # once per RCA run


def test_a_dependency_incident_drafts_the_vendor_ticket_with_its_sla(store: Store, pcfg: SystemConfig) -> None:
    from rcaflows.config.models import VendorConfig
    from rcaflows.triage.roles import draft_vendor_ticket

    vendor = VendorConfig(
        name="GeoCoder",
        components=["geo_api"],
        contact="support@geocoder.example",
        sla_response=timedelta(hours=4),
        escalation=["account manager", "duty line"],
    )
    cfg = pcfg.model_copy(update={"vendors": [vendor]})
    at = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    key = _open(store, "P2", at)  # latency on scoring_api, which calls geo_api
    _rca(store, key, [{"component": "geo_api", "confidence": 0.9}])
    (item,) = draft_vendor_ticket(store, cfg, key, at=at)
    assert (item["vendor"], item["sla_due"]) == ("GeoCoder", (at + timedelta(hours=4)).isoformat())
    text = item["ticket"]
    assert text.startswith("To: support@geocoder.example (GeoCoder)") and key in text
    assert "ranks geo_api first (90% confidence)" in text and "account manager -> duty line" in text
    assert draft_vendor_ticket(store, cfg, key, at=at) == []  # drafted once
    other = _open(store, "P2", at, n=3)
    _rca(store, other, [{"component": "feature_db", "confidence": 0.9}])
    assert draft_vendor_ticket(store, cfg, other, at=at) == []  # no vendor behind it
