"""``oncall.roles.on_other_team: reassign``: the RCA's top cause hands the incident to the team that owns it.

On the real store (SQLite, or PostgreSQL with ``$RCAFLOWS_TEST_DB_URL``), a real SMTP server for the
page of the new team's on-call person, and a file channel the old team reads.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.notify.conftest import Mailbox, mailbox  # noqa: F401  (fixture)
from tests.triage.test_oncall import people_config

from rcaflows.config.models import SystemConfig
from rcaflows.incidents import (
    EventKind,
    NewIncident,
    Store,
    events,
    finish_rca_run,
    get_incident,
    open_or_touch,
    resolve,
    start_rca_run,
)
from rcaflows.incidents import triage as triage_incident
from rcaflows.triage.escalation import plan_escalation, steps_of
from rcaflows.triage.roles import add_responders_from_rca, roles_of

AT = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # 13:00 Berlin: data-eng's office hours, alice on call


@pytest.fixture
def rcfg(cfg: SystemConfig, mailbox: Mailbox, tmp_path: Path) -> SystemConfig:  # noqa: F811
    """People config with ``on_other_team: reassign``; ml-platform reads ops-file, data-eng has the 'night' policy."""
    base = people_config(cfg, mailbox, tmp_path)
    teams = []
    for t in base.teams:
        if t.name == "ml-platform":
            t = t.model_copy(update={"channels": ["ops-file"]})
        elif t.name == "data-eng":
            t = t.model_copy(update={"channels": ["console"], "escalation_policy": "night"})
        teams.append(t)
    roles = base.oncall.roles.model_copy(update={"on_other_team": "reassign", "min_confidence": 0.5})
    return base.model_copy(update={"teams": teams, "oncall": base.oncall.model_copy(update={"roles": roles})})


def _open(store: Store, cfg: SystemConfig, n: int = 1) -> str:
    with store.session() as s:
        inc, _ = open_or_touch(
            s,
            NewIncident(
                system="fraud-scoring",
                type="performance_availability",
                subtype="latency",
                component="scoring_api",
                title=f"scoring_api latency {n}",
                severity="high",
                priority="P2",
                team="ml-platform",
                fingerprint=f"fp-{n}",
                detected_at=AT - timedelta(minutes=10),
                details={"components": ["scoring_api"], "channels": ["ops-file"], "escalation_policy": "people"},
            ),
        )
        triage_incident(s, inc, "high", "P2", "ml-platform", "detection", ["test"], at=AT - timedelta(minutes=10))
        plan_escalation(s, inc, cfg, "people")
        return inc.key


def _rca(store: Store, key: str, component: str, confidence: float) -> None:
    with store.session() as s:
        run_id = start_rca_run(s, incident=key, flow_run_id=None, inputs_fingerprint=component, code_version="t").id
    with store.session() as s:
        hyp = {"component": component, "kind": "resource_saturation", "confidence": confidence}
        finish_rca_run(s, run_id, status="completed", results={"hypotheses": [hyp]})


def _ops_lines(cfg: SystemConfig) -> list[dict[str, object]]:
    path = Path(next(c.path for c in cfg.notifications if c.name == "ops-file") or "")
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_reassign_hands_over_audited_tells_the_old_team_and_pages_the_new(
    store: Store,
    rcfg: SystemConfig,
    mailbox: Mailbox,  # noqa: F811
) -> None:
    key = _open(store, rcfg)
    _rca(store, key, "feature_db", 0.8)
    (item,) = add_responders_from_rca(store, rcfg, key, at=AT, sleep=lambda _: None)
    reason = (
        "RCA ranks feature_db (resource_saturation, 80% confidence) as the most likely root cause; "
        "feature_db is owned by data-eng"
    )
    assert (item["reassigned_to"], item["reassigned_from"], item["assignee"]) == ("data-eng", "ml-platform", "alice")
    assert item["reason"] == reason and item["told"] == ["ops-file"]

    with store.session(readonly=True) as s:
        inc = get_incident(s, key)
        assert inc.team == "data-eng" and inc.details["assignee"] == "alice"
        assert inc.details["channels"] == ["console"] and inc.details["escalation_policy"] == "night"
        log = events(s, inc)
        steps = steps_of(s, inc)
    # the audited operation: who had it before
    (assigned,) = [e for e in log if e.kind is EventKind.TRIAGED and e.payload.get("action") == "assign"]
    assert assigned.actor == "roles" and assigned.payload["previous"]["team"] == "ml-platform"
    assert assigned.payload["team"] == "data-eng" and assigned.at == AT
    # the old policy's pending pages are cancelled; the new team's policy is planned from the hand-over
    assert {s.status.value for s in steps if s.targets == ["oncall:ml-platform"]} == {"cancelled"}
    (new_step,) = [s for s in steps if s.status.value == "pending"]
    assert new_step.targets == ["oncall:data-eng"] and new_step.due_at.replace(tzinfo=UTC) == AT + timedelta(minutes=5)
    # the old team is told why, on its channel
    (told,) = _ops_lines(rcfg)
    assert f"reassigned from ml-platform to data-eng: {reason}" in str(told["text"])
    # the new team's on-call person is paged
    assert [m["To"] for m in mailbox.mails] == ["alice@example.org"]
    assert "reassigned to data-eng (from ml-platform)" in mailbox.mails[0].get_payload(decode=True).decode()

    assert add_responders_from_rca(store, rcfg, key, at=AT) == []  # once: it is data-eng's now
    assert [r["reassigned_to"] for r in roles_of(store, key)["reassignments"]] == ["data-eng"]


def test_a_later_rca_never_hands_it_back_it_adds_the_old_team_as_responder(
    store: Store,
    rcfg: SystemConfig,
    mailbox: Mailbox,  # noqa: F811
) -> None:
    key = _open(store, rcfg)
    _rca(store, key, "feature_db", 0.8)
    add_responders_from_rca(store, rcfg, key, at=AT, sleep=lambda _: None)
    _rca(store, key, "geo_api", 0.9)  # owned by ml-platform, which the first RCA took the incident from
    (added,) = add_responders_from_rca(store, rcfg, key, at=AT + timedelta(minutes=1), sleep=lambda _: None)
    assert added["responder"] == "ml-platform"
    with store.session(readonly=True) as s:
        assert get_incident(s, key).team == "data-eng"
    assert len(roles_of(store, key)["reassignments"]) == 1


def test_weak_rca_or_responder_mode_keeps_the_team(
    store: Store,
    rcfg: SystemConfig,
    mailbox: Mailbox,  # noqa: F811
) -> None:
    weak = _open(store, rcfg, n=1)
    _rca(store, weak, "feature_db", 0.4)  # below min_confidence 0.5
    assert add_responders_from_rca(store, rcfg, weak, at=AT) == []
    responder_mode = rcfg.oncall.roles.model_copy(update={"on_other_team": "responder"})
    cfg = rcfg.model_copy(update={"oncall": rcfg.oncall.model_copy(update={"roles": responder_mode})})
    other = _open(store, cfg, n=2)
    _rca(store, other, "feature_db", 0.8)
    (added,) = add_responders_from_rca(store, cfg, other, at=AT, sleep=lambda _: None)
    assert added["responder"] == "data-eng"
    with store.session(readonly=True) as s:
        assert get_incident(s, weak).team == "ml-platform" and get_incident(s, other).team == "ml-platform"


def test_a_resolved_incident_is_not_reassigned_and_the_refusal_is_recorded(
    store: Store,
    rcfg: SystemConfig,
    mailbox: Mailbox,  # noqa: F811
) -> None:
    key = _open(store, rcfg)
    with store.session() as s:
        resolve(s, key, "alice", reason="fixed", at=AT - timedelta(minutes=5))
    _rca(store, key, "feature_db", 0.8)
    assert add_responders_from_rca(store, rcfg, key, at=AT, sleep=lambda _: None) == []
    with store.session(readonly=True) as s:
        inc = get_incident(s, key)
        assert inc.team == "ml-platform"
        notes = [e.payload for e in events(s, inc) if e.kind is EventKind.NOTE and e.actor == "roles"]
    assert [n["reassign_refused"] for n in notes] == ["data-eng"]
    assert "not reassigned:" in notes[0]["reason"] and mailbox.mails == []


def test_the_rca_completed_subscriber_reassigns_and_the_messages_follow(
    store: Store,
    rcfg: SystemConfig,
    mailbox: Mailbox,  # noqa: F811
) -> None:
    from rcaflows import wiring

    key = _open(store, rcfg)
    with wiring.scope(rcfg) as sc:
        _rca(store, key, "feature_db", 0.8)  # RcaCompleted -> roles.on_rca_completed, on the wall clock
    assert not sc.failures(), [d.error for d in sc.failures()]
    (item,) = [x for result in sc.results("responders") for x in result]
    assert (item["reassigned_to"], item["reassigned_from"]) == ("data-eng", "ml-platform")
    with store.session(readonly=True) as s:
        inc = get_incident(s, key)
        assert inc.team == "data-eng"
        kinds = [(e.kind, e.actor) for e in events(s, inc)]
    assert (EventKind.TRIAGED, "roles") in kinds and (EventKind.NOTE, "roles") in kinds
    told = [str(line["text"]) for line in _ops_lines(rcfg)]
    assert any("reassigned from ml-platform to data-eng" in text for text in told), told
