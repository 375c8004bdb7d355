from __future__ import annotations

import json
import re
import shutil
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

import rcaflows
from rcaflows.errors import NotFoundError, TransitionError
from rcaflows.incidents import (
    EventKind,
    Incident,
    NewIncident,
    RcaStatus,
    Store,
    check,
    code_version,
    events,
    fingerprint_for,
    finish_rca_run,
    get_incident,
    get_rca_run,
    incident_dict,
    list_incidents,
    open_or_touch,
    rca_runs,
    record_event,
    start_rca_run,
    transition,
    triage,
)
from rcaflows.vocab import IncidentState, Priority, Severity

MakeNew = Callable[..., NewIncident]


T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)  # the make_new fixture's detection time


def _open(store: Store, new: NewIncident) -> str:
    with store.session() as s:
        inc, created = open_or_touch(s, new)
        assert created
        return inc.key


def _count(store: Store, model: type) -> int:
    with store.session(readonly=True) as s:
        return s.scalar(sa.select(sa.func.count()).select_from(model)) or 0


def replay(store: Store, key: str) -> IncidentState:
    """Fold the transition events from ``detected``; the guard must accept every step."""
    with store.session(readonly=True) as s:
        log = events(s, key)
    state = IncidentState.DETECTED
    for ev in log:
        if ev.kind is EventKind.TRANSITION:
            assert ev.payload["from"] == state.value
            state = check(state, ev.payload["action"])
            assert ev.payload["to"] == state.value
    return state


# -- fingerprints and NewIncident --------------------------------------------------------------


def test_fingerprint_is_stable_short_and_field_sensitive() -> None:
    fp = fingerprint_for("sys", "data_quality", "null_rate", "feature-store", "amount")
    assert re.fullmatch(r"[0-9a-f]{16}", fp)
    assert fp == fingerprint_for("sys", "data_quality", "null_rate", "feature-store", "amount")
    assert fp != fingerprint_for("sys", "data_quality", "null_rate", "feature-store", "country")
    assert fp != fingerprint_for("sys", "data_quality", "null_rate", "feature-store")


def test_new_incident_computes_a_fingerprint_only_when_none_is_given(make_new: MakeNew) -> None:
    computed = make_new()
    assert computed.fingerprint == fingerprint_for(
        "fraud-scoring", "data_quality", "null_rate", "feature-store", "txn_amount"
    )
    assert make_new(fingerprint="alertmanager:9f3a1c").fingerprint == "alertmanager:9f3a1c"


def test_new_incident_refuses_naive_timestamps(make_new: MakeNew) -> None:
    with pytest.raises(ValueError, match="no timezone"):
        make_new(detected_at=datetime(2026, 3, 1, 12))


# -- open, dedup --------------------------------------------------------------------------------


def test_open_inserts_a_detected_incident_with_a_detected_event(store: Store, make_new: MakeNew) -> None:
    new = make_new()
    key = _open(store, new)
    with store.session(readonly=True) as s:
        inc = get_incident(s, key)
        log = events(s, inc)
    assert inc.state is IncidentState.DETECTED
    assert inc.occurrences == 1 and inc.last_seen_at == inc.detected_at == new.detected_at
    assert [e.kind for e in log] == [EventKind.DETECTED]
    assert log[0].actor == "detection"
    assert log[0].payload["details"] == {"null_rate": 0.14, "baseline": 0.002}
    assert log[0].payload["fingerprint"] == new.fingerprint


def test_duplicate_bumps_count_and_last_seen_instead_of_opening(store: Store, make_new: MakeNew) -> None:
    first = make_new()
    key = _open(store, first)
    later = first.detected_at + timedelta(hours=1)
    with store.session() as s:
        inc, created = open_or_touch(s, make_new(detected_at=later))
    assert not created and inc.key == key
    assert _count(store, Incident) == 1
    with store.session(readonly=True) as s:
        inc = get_incident(s, key)
        log = events(s, inc)
    assert inc.occurrences == 2
    assert inc.last_seen_at == later
    assert inc.detected_at == first.detected_at
    dup = [e for e in log if e.kind is EventKind.DUPLICATE]
    assert len(dup) == 1 and dup[0].payload["fingerprint"] == first.fingerprint


def test_duplicate_matches_open_incidents_of_any_open_state(store: Store, make_new: MakeNew) -> None:
    key = _open(store, make_new())
    with store.session() as s:
        transition(s, key, "acknowledge", "user:alice")
        transition(s, key, "mitigate", "user:alice")
    with store.session() as s:
        inc, created = open_or_touch(s, make_new(detected_at=T0 + timedelta(hours=1)))
    assert not created and inc.key == key and inc.occurrences == 2


def test_same_fingerprint_of_another_system_opens_its_own(store: Store, make_new: MakeNew) -> None:
    _open(store, make_new(fingerprint="shared"))
    _open(store, make_new(system="churn-model", fingerprint="shared"))
    assert _count(store, Incident) == 2


def test_resolved_incident_with_same_fingerprint_leads_to_a_new_one(store: Store, make_new: MakeNew) -> None:
    old = _open(store, make_new())
    with store.session() as s:
        transition(s, old, "resolve", "user:alice")
    with store.session() as s:
        inc, created = open_or_touch(s, make_new())
        new_key = inc.key
    assert created and new_key != old
    with store.session(readonly=True) as s:
        old_inc = get_incident(s, old)
        assert old_inc.occurrences == 1 and old_inc.state is IncidentState.RESOLVED
        assert [e.kind for e in events(s, old)] == [EventKind.DETECTED, EventKind.TRANSITION]


def test_concurrent_detections_of_one_fingerprint_open_one_incident(store: Store, make_new: MakeNew) -> None:
    barrier = threading.Barrier(4)
    created: list[bool] = []
    errors: list[BaseException] = []

    def detect() -> None:
        try:
            barrier.wait()
            with store.session() as s:
                created.append(open_or_touch(s, make_new())[1])
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=detect) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(created) == [False, False, False, True]
    with store.session(readonly=True) as s:
        (inc,) = list_incidents(s)
    assert inc.occurrences == 1  # the same hour detected four times is one occurrence


def test_rerunning_the_same_hour_changes_nothing(store: Store, make_new: MakeNew) -> None:
    key = _open(store, make_new())
    hours = [T0 + timedelta(hours=h) for h in (1, 2, 1, 2, 0)]  # hour 1 and 2 re-run, and the first hour
    for at in hours:
        with store.session() as s:
            inc, created = open_or_touch(s, make_new(detected_at=at))
            assert not created and inc.key == key
    with store.session(readonly=True) as s:
        inc = get_incident(s, key)
        dups = [e for e in events(s, inc) if e.kind is EventKind.DUPLICATE]
    assert inc.occurrences == 3 and len(dups) == 2 and inc.last_seen_at == T0 + timedelta(hours=2)


# -- transitions --------------------------------------------------------------------------------


def test_acknowledging_a_resolved_incident_is_refused_and_changes_nothing(store: Store, make_new: MakeNew) -> None:
    key = _open(store, make_new())
    with store.session() as s:
        transition(s, key, "resolve", "auto-resolve")
    with store.session(readonly=True) as s:
        before = incident_dict(get_incident(s, key))
        log_before = [(e.id, e.kind) for e in events(s, key)]
    with (
        pytest.raises(TransitionError, match=f"cannot acknowledge {key}: it is resolved"),
        store.session() as s,
    ):
        transition(s, key, "acknowledge", "user:alice", comment="looking")
    with store.session(readonly=True) as s:
        assert incident_dict(get_incident(s, key)) == before
        assert [(e.id, e.kind) for e in events(s, key)] == log_before
    assert before["state"] == "resolved"


def test_lifecycle_sets_one_timestamp_per_state(store: Store, make_new: MakeNew) -> None:
    key = _open(store, make_new())
    seen: dict[str, datetime] = {}

    def step(action: str, **payload: object) -> Incident:
        with store.session() as s:
            transition(s, key, action, "user:alice", **payload)
        with store.session(readonly=True) as s:
            return get_incident(s, key)

    with store.session() as s:
        triage_done = triage(s, key, Severity.CRITICAL, Priority.P1, "fraud-oncall", "triage", ["revenue path"])
    assert triage_done.triaged_at is not None
    seen["triaged_at"] = triage_done.triaged_at
    inc = triage_done
    for action, field in [
        ("acknowledge", "acknowledged_at"),
        ("investigate", "investigating_at"),
        ("mitigate", "mitigated_at"),
        ("resolve", "resolved_at"),
    ]:
        inc = step(action)
        stamp = getattr(inc, field)
        assert stamp is not None and stamp.tzinfo is not None and stamp.utcoffset() == timedelta(0)
        assert all(stamp >= earlier for earlier in seen.values())
        seen[field] = stamp
    assert inc.state is IncidentState.RESOLVED and inc.closed_at is None

    inc = step("reopen", reason="came back")
    assert inc.state is IncidentState.TRIAGED
    assert inc.resolved_at is None  # an open incident carries no resolution time
    assert inc.triaged_at == seen["triaged_at"]  # first entry kept
    inc = step("investigate")
    assert inc.investigating_at == seen["investigating_at"]
    inc = step("resolve")
    assert inc.resolved_at is not None and inc.resolved_at > seen["resolved_at"]
    inc = step("close")
    assert inc.state is IncidentState.CLOSED and inc.closed_at is not None and inc.closed_at >= inc.resolved_at
    assert replay(store, key) is IncidentState.CLOSED
    with store.session(readonly=True) as s:
        transitions = [e for e in events(s, key) if e.kind is EventKind.TRANSITION]
    assert [e.payload["action"] for e in transitions] == [
        "triage",
        "acknowledge",
        "investigate",
        "mitigate",
        "resolve",
        "reopen",
        "investigate",
        "resolve",
        "close",
    ]
    assert transitions[5].payload["reason"] == "came back"


def test_investigate_again_is_allowed_and_logged(store: Store, make_new: MakeNew) -> None:
    key = _open(store, make_new())
    with store.session() as s:
        transition(s, key, "triage", "triage")
        transition(s, key, "investigate", "rca:run-1")
        inc = transition(s, key, "investigate", "rca:run-2")
    assert inc.state is IncidentState.INVESTIGATING
    with store.session(readonly=True) as s:
        actors = [e.actor for e in events(s, key) if e.kind is EventKind.TRANSITION]
    assert actors == ["triage", "rca:run-1", "rca:run-2"]


def test_triage_sets_fields_with_one_transition_event(store: Store, make_new: MakeNew) -> None:
    key = _open(store, make_new(severity="low", priority="P4", team="unassigned"))
    with store.session() as s:
        triage(s, key, "critical", "P1", "fraud-oncall", "triage", ["revenue-critical model", "score 0.97"])
    with store.session(readonly=True) as s:
        inc = get_incident(s, key)
        log = events(s, key)
    assert (inc.severity, inc.priority, inc.team) == (Severity.CRITICAL, Priority.P1, "fraud-oncall")
    assert inc.state is IncidentState.TRIAGED
    (ev,) = [e for e in log if e.kind is not EventKind.DETECTED]
    assert ev.kind is EventKind.TRANSITION
    assert ev.payload == {
        "action": "triage",
        "from": "detected",
        "to": "triaged",
        "severity": "critical",
        "priority": "P1",
        "team": "fraud-oncall",
        "reasons": ["revenue-critical model", "score 0.97"],
    }


def test_refused_triage_leaves_the_fields_alone(store: Store, make_new: MakeNew) -> None:
    key = _open(store, make_new(severity="low"))
    with store.session() as s:
        transition(s, key, "acknowledge", "user:alice")
    with pytest.raises(TransitionError, match="cannot triage"), store.session() as s:
        triage(s, key, "critical", "P1", "x", "triage", [])
    with store.session(readonly=True) as s:
        assert get_incident(s, key).severity is Severity.LOW


def test_transition_accepts_a_detached_incident_and_returns_the_fresh_one(store: Store, make_new: MakeNew) -> None:
    with store.session() as s:
        detached, _ = open_or_touch(s, make_new())
    with store.session() as s:
        inc = transition(s, detached, "acknowledge", "user:alice")
    assert inc.state is IncidentState.ACKNOWLEDGED and inc.version == detached.version + 1


def test_a_stale_version_is_refused_as_a_concurrent_change(store: Store, make_new: MakeNew) -> None:
    key = _open(store, make_new())
    with pytest.raises(TransitionError, match="changed concurrently"), store.session() as s:
        inc = get_incident(s, key)
        # Another writer's update, invisible to this session's identity map.
        s.connection().exec_driver_sql("UPDATE incidents SET version = version + 1")
        transition(s, inc, "acknowledge", "user:alice")
    with store.session(readonly=True) as s:
        assert get_incident(s, key).state is IncidentState.DETECTED
        assert [e.kind for e in events(s, key)] == [EventKind.DETECTED]


@pytest.mark.parametrize("round_", range(5))
def test_racing_acknowledge_and_resolve_never_reach_an_impossible_state(
    store: Store, make_new: MakeNew, round_: int
) -> None:
    key = _open(store, make_new())
    barrier = threading.Barrier(2)
    outcome: dict[str, str] = {}
    unexpected: list[BaseException] = []

    def act(action: str) -> None:
        try:
            barrier.wait()
            with store.session() as s:
                transition(s, key, action, f"user:{action}")
            outcome[action] = "applied"
        except TransitionError:
            outcome[action] = "refused"
        except BaseException as e:  # any other error fails the test below
            unexpected.append(e)

    threads = [threading.Thread(target=act, args=(a,)) for a in ("acknowledge", "resolve")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert unexpected == []
    # resolve is allowed from detected and from acknowledged, so it always applies;
    # acknowledge applies only if it came first (a valid serial order), never after resolve.
    assert outcome["resolve"] == "applied"
    with store.session(readonly=True) as s:
        inc = get_incident(s, key)
        transitions = [e.payload["action"] for e in events(s, key) if e.kind is EventKind.TRANSITION]
    assert inc.state is IncidentState.RESOLVED
    if outcome["acknowledge"] == "applied":
        assert transitions == ["acknowledge", "resolve"] and inc.acknowledged_at is not None
    else:
        assert transitions == ["resolve"] and inc.acknowledged_at is None
    assert replay(store, key) is inc.state


# -- lookups and events -------------------------------------------------------------------------


def test_get_incident_accepts_id_digits_and_key(store: Store, make_new: MakeNew) -> None:
    key = _open(store, make_new())
    with store.session(readonly=True) as s:
        inc = get_incident(s, key)
        for ref in (inc.id, str(inc.id), inc.key, inc.key.lower(), f"INC-{inc.id}"):
            assert get_incident(s, ref).id == inc.id
    assert key == f"INC-{inc.id:04d}"


@pytest.mark.parametrize(
    "ref", ["INC-9999", 9999, 0, -1, 2**63, "9223372036854775808", "", "abc", "INC-", "INC-12x", True, 1.0, None]
)
def test_get_incident_with_a_bad_ref_raises_not_found(store: Store, make_new: MakeNew, ref: object) -> None:
    _open(store, make_new())
    with pytest.raises(NotFoundError), store.session(readonly=True) as s:
        get_incident(s, ref)


def test_list_incidents_newest_first_with_filters(store: Store, make_new: MakeNew) -> None:
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    keys = [_open(store, make_new(metric=f"m{i}", detected_at=t0 + timedelta(hours=i))) for i in range(3)]
    other = _open(store, make_new(system="churn-model", detected_at=t0 + timedelta(hours=9)))
    with store.session() as s:
        transition(s, keys[1], "resolve", "user:alice")
    with store.session(readonly=True) as s:
        assert [i.key for i in list_incidents(s)] == [other, keys[2], keys[1], keys[0]]
        assert [i.key for i in list_incidents(s, system="fraud-scoring")] == keys[::-1]
        open_fraud = list_incidents(s, system="fraud-scoring", states={IncidentState.DETECTED})
        assert [i.key for i in open_fraud] == [keys[2], keys[0]]
        assert [i.key for i in list_incidents(s, limit=2)] == [other, keys[2]]


def test_record_event_appends_in_time_order(store: Store, make_new: MakeNew) -> None:
    key = _open(store, make_new())
    with store.session() as s:
        note = record_event(s, key, EventKind.NOTE, "user:bob", {"text": "checking the upstream job"})
        record_event(s, key, "notification", "notify:slack", {"channel": "#fraud"})
    assert note.id is not None
    with store.session(readonly=True) as s:
        log = events(s, key)
    assert [e.kind for e in log] == [EventKind.DETECTED, EventKind.NOTE, EventKind.NOTIFICATION]
    assert log[1].payload == {"text": "checking the upstream job"} and log[1].actor == "user:bob"
    assert [e.at for e in log] == sorted(e.at for e in log)


def test_incident_dict_is_json_serializable(store: Store, make_new: MakeNew) -> None:
    key = _open(store, make_new())
    with store.session() as s:
        d = incident_dict(transition(s, key, "acknowledge", "user:alice"))
    round_trip = json.loads(json.dumps(d))
    assert round_trip["key"] == key and round_trip["state"] == "acknowledged"
    assert round_trip["type"] == "data_quality" and round_trip["severity"] == "high"
    assert datetime.fromisoformat(round_trip["acknowledged_at"]).tzinfo is not None
    assert round_trip["detected_at"] == "2026-03-01T12:00:00+00:00"
    assert round_trip["resolved_at"] is None and round_trip["open"] is True


# -- RCA runs -----------------------------------------------------------------------------------


def test_two_rca_runs_for_one_incident_are_both_kept(store: Store, make_new: MakeNew) -> None:
    key = _open(store, make_new())
    run_ids = []
    for n in (1, 2):
        with store.session() as s:
            run = start_rca_run(
                s,
                incident=key,
                flow_run_id=f"flow-{n}",
                inputs_fingerprint="inputs-abc",
                code_version="0.1.0+gdeadbee",
                parameters={"window": "6h"},
            )
            run_ids.append(run.id)
    with store.session() as s:
        finish_rca_run(s, run_ids[0], status="failed", results={"error": "lineage phase timed out"})
        finish_rca_run(
            s,
            run_ids[1],
            status=RcaStatus.COMPLETED,
            results={"top_cause": "feature-store"},
            report_html="reports/INC-0001/2.html",
            report_md="reports/INC-0001/2.md",
        )
    with store.session(readonly=True) as s:
        runs = rca_runs(s, key)
    assert [r.id for r in runs] == run_ids and run_ids[0] != run_ids[1]
    assert [r.status for r in runs] == [RcaStatus.FAILED, RcaStatus.COMPLETED]
    assert [r.flow_run_id for r in runs] == ["flow-1", "flow-2"]
    assert runs[0].results == {"error": "lineage phase timed out"}
    assert runs[1].results == {"top_cause": "feature-store"} and runs[1].report_md == "reports/INC-0001/2.md"
    assert all(r.finished_at is not None and r.finished_at >= r.started_at for r in runs)
    assert all(r.parameters == {"window": "6h"} and r.code_version == "0.1.0+gdeadbee" for r in runs)


def test_a_finished_rca_run_cannot_be_finished_again(store: Store, make_new: MakeNew) -> None:
    with store.session() as s:
        run = start_rca_run(s, incident=None, flow_run_id=None, inputs_fingerprint="x", code_version="v", parameters={})
        finish_rca_run(s, run.id, status="completed", results={"a": 1})
    with pytest.raises(TransitionError, match="already completed"), store.session() as s:
        finish_rca_run(s, run.id, status="failed", results={"b": 2})
    with pytest.raises(NotFoundError), store.session() as s:
        finish_rca_run(s, 424242, status="failed", results=None)
    with store.session(readonly=True) as s:
        stored = get_rca_run(s, run.id)
    assert stored.status is RcaStatus.COMPLETED and stored.results == {"a": 1}
    assert stored.incident_id is None  # an ad-hoc run on a metric window


def test_code_version_starts_with_the_package_version() -> None:
    v = code_version()
    assert v.startswith(rcaflows.__version__)
    checkout = Path(rcaflows.__file__).resolve().parents[2]
    if (checkout / ".git").exists() and shutil.which("git"):
        assert re.fullmatch(re.escape(rcaflows.__version__) + r"\+g[0-9a-f]{4,40}", v)
