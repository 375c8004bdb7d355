from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from rcaflows.config import SystemConfig
from rcaflows.config.models import EscalationLevel
from rcaflows.incidents import EventKind, Incident, Store, acknowledge, events, resolve, snooze
from rcaflows.incidents.models import StepStatus
from rcaflows.triage.escalation import (
    escalate_due,
    planned_steps,
    snapshot_policy,
    steps_of,
)
from rcaflows.vocab import IncidentState, Severity

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)  # detection time of every incident open_planned makes
H = timedelta(hours=1)
M = timedelta(minutes=1)


def state_of(store: Store, incident_id: int) -> Incident:
    with store.session(readonly=True) as s:
        inc = s.get(Incident, incident_id)
        assert inc is not None
        return inc


def _steps(store: Store, incident_id: int) -> list[tuple[str, int, str]]:
    with store.session(readonly=True) as s:
        return [(st.kind, st.level, st.status.value) for st in steps_of(s, incident_id)]


def _escalations(store: Store, incident_id: int) -> list[dict]:
    with store.session(readonly=True) as s:
        return [e.payload for e in events(s, incident_id) if e.kind is EventKind.ESCALATION]


def test_snapshot_follows_then_and_offsets_levels(cfg: SystemConfig) -> None:
    snap = snapshot_policy(cfg, "standard")
    assert snap["chain"] == ["standard", "leads"]
    assert [lvl["after"] for lvl in snap["levels"]] == ["15m", "1h", "3h"]  # leads' 2h after standard's 1h
    assert snap["levels"][2]["notify"] == ["team:sre", "ml-file"]


def test_planned_steps_per_rule(cfg: SystemConfig) -> None:
    snap = snapshot_policy(cfg, "standard")
    base = {"n_components": 1, "n_teams": 1, "impact": {"business": 1.0, "compliance": 0.0}}
    kinds = [s.kind for s in planned_steps(snap, severity=Severity.CRITICAL, suspected=False, **base)]
    assert kinds == ["immediate", "level", "level", "level", "management"]
    kinds = [s.kind for s in planned_steps(snap, severity=Severity.HIGH, suspected=False, **base)]
    assert kinds == ["level", "level", "level", "management"]  # only critical pages at once here
    # A suspected incident never pages: no immediate page and no paging level.
    suspected = planned_steps(snap, severity=Severity.CRITICAL, suspected=True, **base)
    assert [s.kind for s in suspected] == ["management"] and not any(s.page for s in suspected)
    # Complexity and business impact.
    wide = {"n_components": 2, "n_teams": 3, "impact": {"business": 1.0, "compliance": 1.0}}
    steps = planned_steps(snap, severity=Severity.HIGH, suspected=False, incident_type="bias_fairness", **wide)
    coord = next(s for s in steps if s.kind == "coordinator")
    assert coord.targets == ["team:sre"] and "3 teams" in coord.reason and coord.after == timedelta(0)
    execu = next(s for s in steps if s.kind == "executive")
    assert execu.targets == ["ml-file"] and "compliance (bias_fairness)" in execu.reason
    # 'urgent' also sends executive notice on revenue impact, and pages at 'high'.
    urgent = planned_steps(snapshot_policy(cfg, "urgent"), severity=Severity.HIGH, suspected=False, **base)
    assert [s.kind for s in urgent][:1] == ["immediate"] and any("revenue" in s.reason for s in urgent)


def test_due_steps_fire_once_in_order_and_are_audited(store: Store, cfg: SystemConfig, open_planned: Callable) -> None:
    iid = open_planned(severity="critical")
    assert escalate_due(store, cfg, T0 - M, dispatch=False) == []
    fired = escalate_due(store, cfg, T0 + 20 * M, dispatch=False)
    assert [(f.kind, f.level) for f in fired] == [("immediate", 0), ("level", 1)]
    assert fired[0].channels == ["console"]
    assert escalate_due(store, cfg, T0 + 20 * M, dispatch=False) == []  # never twice
    fired = escalate_due(store, cfg, T0 + 4 * H, dispatch=False)
    assert [f.kind for f in fired] == ["level", "level", "management"]
    assert fired[1].channels == ["console", "sre-file", "ml-file"]  # team:sre expanded
    assert [p["level"] for p in _escalations(store, iid)] == [0, 1, 2, 3, 4]


def test_ack_cancels_levels_after_commit_and_nothing_fires_after(
    store: Store, cfg: SystemConfig, open_planned: Callable
) -> None:
    iid = open_planned(severity="critical")
    with store.session() as s:
        inc = acknowledge(s, iid, "user:alice", comment="on it")
        assert inc.state is IncidentState.ACKNOWLEDGED
    status = {(k, lvl): st for k, lvl, st in _steps(store, iid)}
    assert status[("immediate", 0)] == status[("level", 1)] == "cancelled"
    assert status[("management", 4)] == "pending"  # an ack does not resolve
    fired = escalate_due(store, cfg, T0 + 3 * H, dispatch=False)
    assert fired == [] and _escalations(store, iid) == []
    with store.session() as s:
        resolve(s, iid, "user:alice", reason="fixed")
    assert escalate_due(store, cfg, T0 + 100 * H, dispatch=False) == []
    assert {st for _, _, st in _steps(store, iid)} == {"cancelled"}
    with store.session(readonly=True) as s:
        log = events(s, iid)
    ack = next(e for e in log if e.payload.get("action") == "acknowledge")
    # The escalation subscriber audits its cancellation at the ack's time, right after the ack's commit.
    cancel = next(e for e in log if e.kind is EventKind.NOTE and e.payload.get("after") == "acknowledge")
    assert cancel.actor == "escalation" and cancel.at == ack.at and cancel.id > ack.id
    assert cancel.payload["cancelled_steps"] == 4  # immediate + 3 levels


def test_config_edits_do_not_reach_open_incidents(store: Store, cfg: SystemConfig, open_planned: Callable) -> None:
    iid = open_planned(severity="high")
    edited = cfg.model_copy(
        update={
            "escalation": [
                p.model_copy(update={"levels": [EscalationLevel(after=timedelta(minutes=1), notify=["ml-file"])]})
                if p.name == "standard"
                else p
                for p in cfg.escalation
            ]
        }
    )
    fired = escalate_due(store, edited, T0 + 5 * M, dispatch=False)
    assert fired == []  # the incident keeps its 15m first level
    with store.session(readonly=True) as s:
        snap = state_of(store, iid).details["escalation"]["snapshot"]
        assert snap["levels"][0]["after"] == "15m"
        assert len(steps_of(s, iid)) == 4


def test_suspected_incident_never_pages(store: Store, cfg: SystemConfig, open_planned: Callable) -> None:
    iid = open_planned(severity="critical", confidence="suspected")
    fired = escalate_due(store, cfg, T0 + 10 * H, dispatch=False)
    assert [f.kind for f in fired] == ["management"] and not any(f.page for f in fired)
    assert all(not p["page"] for p in _escalations(store, iid))


def test_ack_expiry_lapses_and_escalation_resumes(store: Store, cfg: SystemConfig, open_planned: Callable) -> None:
    iid = open_planned(severity="high")
    with store.session() as s:
        acknowledge(s, iid, "user:bob", expires_in=30 * M, at=T0 + 10 * M)  # level 1 had 5 min left
    assert escalate_due(store, cfg, T0 + 30 * M, dispatch=False) == []  # ack still holds
    fired = escalate_due(store, cfg, T0 + 44 * M, dispatch=False)  # lapsed at 40m; level 1 due 5 min later
    assert fired == []
    assert state_of(store, iid).state is IncidentState.TRIAGED
    fired = escalate_due(store, cfg, T0 + 45 * M, dispatch=False)
    assert [(f.kind, f.level) for f in fired] == [("level", 1)] and "lapsed" in fired[0].reason
    with store.session(readonly=True) as s:
        lapse = [e.payload for e in events(s, iid) if e.payload.get("action") == "unacknowledge"]
    assert lapse and lapse[0]["reason"] == "acknowledgement expired"


def test_snooze_holds_escalation_until_it_ends(store: Store, cfg: SystemConfig, open_planned: Callable) -> None:
    iid = open_planned(severity="high")
    with store.session() as s:
        snooze(s, iid, "user:carol", reason="deploy in progress", until=T0 + 2 * H, at=T0 + M)
    assert escalate_due(store, cfg, T0 + 90 * M, dispatch=False) == []
    fired = escalate_due(store, cfg, T0 + 2 * H + M, dispatch=False)
    assert [f.level for f in fired] == [1, 2]


def test_dispatch_hook_gets_the_channels_after_commit(store: Store, cfg: SystemConfig, open_planned: Callable) -> None:
    iid = open_planned(severity="critical")
    calls: list[tuple] = []

    def hook(
        st: Store, incident_id: int, channels: list[str], reason: str, actor: str, *, config: object, force: bool
    ) -> None:
        assert force  # an escalation is sent even if the message content did not change
        with st.session(readonly=True) as s:  # the escalation is committed before delivery
            assert any(e.kind is EventKind.ESCALATION for e in events(s, incident_id))
        calls.append((incident_id, tuple(channels), actor))
        raise RuntimeError("receiver down")  # a failed delivery never undoes the escalation

    fired = escalate_due(store, cfg, T0 + M, dispatch=hook)
    assert [f.kind for f in fired] == ["immediate"] and calls == [(iid, ("console",), "escalation")]
    assert _steps(store, iid)[0][2] == StepStatus.FIRED.value


@pytest.mark.parametrize("round_", range(6))
def test_ack_racing_the_escalation_run_never_both(
    store: Store, cfg: SystemConfig, open_planned: Callable, round_: int
) -> None:
    """Ack and an escalation run start together; a step may fire only before the ack, never after it."""
    iid = open_planned(severity="critical")
    barrier = threading.Barrier(2)
    out: dict[str, object] = {}

    def ack() -> None:
        barrier.wait()
        with store.session() as s:
            acknowledge(s, iid, "user:alice")
        out["ack"] = True

    def run() -> None:
        barrier.wait()
        out["fired"] = escalate_due(store, cfg, T0 + 20 * M, dispatch=False)

    threads = [threading.Thread(target=ack), threading.Thread(target=run)]
    if round_ % 2:
        threads.reverse()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert out["ack"] is True
    with store.session(readonly=True) as s:
        log = events(s, iid)
        steps = steps_of(s, iid)
    ack_id = next(e.id for e in log if e.payload.get("action") == "acknowledge")
    esc_ids = [e.id for e in log if e.kind is EventKind.ESCALATION]
    assert all(e < ack_id for e in esc_ids)  # nothing escalated after the ack
    fired = [st for st in steps if st.status is StepStatus.FIRED]
    assert len(fired) == len(esc_ids) == len(out["fired"])  # type: ignore[arg-type]
    assert len(fired) in (0, 2)  # either the run went first (both due steps) or the ack did (none)
    assert all(
        st.status is StepStatus.CANCELLED for st in steps if st.until == "ack" and st.status is not StepStatus.FIRED
    )


def test_reopen_plans_the_snapshot_again_from_the_reopening(
    store: Store, cfg: SystemConfig, open_planned: Callable
) -> None:
    from rcaflows.incidents import reopen

    iid = open_planned(severity="high")
    with store.session() as s:
        resolve(s, iid, "user:alice", reason="fixed", at=T0 + 5 * M)
    assert {st for _, _, st in _steps(store, iid)} == {"cancelled"}
    with store.session() as s:
        reopen(s, iid, "user:bob", at=T0 + 2 * H)
    with store.session(readonly=True) as s:
        pending = [st for st in steps_of(s, iid) if st.status is StepStatus.PENDING]
    assert [(st.kind, st.level) for st in pending] == [("level", 1), ("level", 2), ("level", 3), ("management", 4)]
    assert pending[0].due_at == T0 + 2 * H + 15 * M  # the first level, counted from the reopening
    fired = escalate_due(store, cfg, T0 + 2 * H + 16 * M, dispatch=False)
    assert [(f.kind, f.level) for f in fired] == [("level", 1)]


def test_an_acknowledged_incident_is_never_paged_even_without_the_subscriber(
    store: Store, cfg: SystemConfig, open_planned: Callable
) -> None:
    """The engine re-reads the incident: the cancellation subscriber is timely, not load-bearing."""
    from rcaflows import wiring
    from rcaflows.incidents import Action, transition
    from rcaflows.incidents.lifecycle_events import bus

    iid = open_planned(severity="critical")
    bus.unsubscribe("escalation")
    try:
        with store.session() as s:
            acknowledge(s, iid, "user:alice", at=T0 + M)
        assert {st for _, _, st in _steps(store, iid)} == {"pending"}  # nobody cancelled them
        with store.session() as s:
            transition(s, iid, Action.INVESTIGATE, "rca")  # no longer 'acknowledged', still acked
        fired = escalate_due(store, cfg, T0 + 5 * H, dispatch=False)
        assert [f.kind for f in fired] == ["management"]  # until=resolve: an ack does not end it
        with store.session() as s:
            resolve(s, iid, "user:alice", reason="fixed")
        assert escalate_due(store, cfg, T0 + 100 * H, dispatch=False) == []
        # Due steps of a resolved incident are cancelled by the engine itself, not left pending.
        assert "pending" not in {st for _, _, st in _steps(store, iid)}
    finally:
        wiring.install()


def test_a_replanned_escalation_pages_again_despite_an_earlier_ack(
    store: Store, cfg: SystemConfig, open_planned: Callable
) -> None:
    """A regression re-plans the escalation: the old ack must not silence the new steps."""
    from rcaflows.incidents import get_incident, mitigate
    from rcaflows.triage.escalation import replan_escalation

    iid = open_planned(severity="high")
    with store.session() as s:
        acknowledge(s, iid, "user:alice", at=T0 + M)
    with store.session() as s:
        mitigate(s, iid, "user:alice", at=T0 + 10 * M)
    with store.session() as s:
        replan_escalation(s, get_incident(s, iid), T0 + H)
    assert state_of(store, iid).details["ack"]["replanned_at"] == (T0 + H).isoformat()
    fired = escalate_due(store, cfg, T0 + H + 16 * M, dispatch=False)
    assert [(f.kind, f.level) for f in fired] == [("level", 1)]
