"""Lifecycle events: typed, published only after the commit, and a failing subscriber undoes nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import FrozenInstanceError
from typing import Any

import pytest

from rcaflows.incidents import (
    Action,
    EventKind,
    NewIncident,
    Store,
    acknowledge,
    events,
    finish_rca_run,
    get_incident,
    note,
    open_or_touch,
    reopen,
    resolve,
    start_rca_run,
    transition,
)
from rcaflows.incidents import lifecycle_events as lifecycle
from rcaflows.incidents.lifecycle_events import (
    Context,
    IncidentDeduplicated,
    IncidentOpened,
    IncidentReopened,
    IncidentTransitioned,
    IncidentUpdated,
    LifecycleEvent,
    RcaCompleted,
    side_effects,
)
from rcaflows.vocab import IncidentState

S = IncidentState


class Recorder:
    """A subscriber that remembers each event and the incident's state a fresh session sees at that moment."""

    def __init__(self) -> None:
        self.seen: list[tuple[LifecycleEvent, str, Any]] = []

    def __call__(self, ev: LifecycleEvent, ctx: Context) -> str:
        with ctx.store.session(readonly=True) as s:
            state = get_incident(s, ev.incident_id).state.value
        self.seen.append((ev, state, ctx.config))
        return state

    def types(self) -> list[str]:
        return [type(ev).__name__ for ev, _, _ in self.seen]


@pytest.fixture
def subscribe() -> Iterator[Callable[..., Recorder]]:
    """Return a function that subscribes a Recorder (or a given handler) to the bus for this test only."""
    names: list[str] = []

    def add(
        name: str, handler: Any = None, *, event_type: type[LifecycleEvent] = LifecycleEvent, outbound: bool = False
    ) -> Any:
        h = handler if handler is not None else Recorder()
        lifecycle.bus.subscribe(event_type, h, name=f"test-{name}", outbound=outbound)
        names.append(f"test-{name}")
        return h

    yield add
    for n in names:
        lifecycle.bus.unsubscribe(n)


def _open(store: Store, make_new: Callable[..., NewIncident], **kw: Any) -> int:
    with store.session() as s:
        inc, _ = open_or_touch(s, make_new(**kw))
        transition(s, inc, Action.TRIAGE, "detection")
        return inc.id


def test_events_are_delivered_after_the_commit_with_their_types(
    store: Store, make_new: Callable[..., NewIncident], subscribe: Callable[..., Recorder]
) -> None:
    rec = subscribe("recorder")
    with store.session() as s:
        inc, _ = open_or_touch(s, make_new())
        transition(s, inc, Action.TRIAGE, "detection")
        assert rec.seen == []  # queued, not published, while the transaction is open
        assert [type(e) for e in lifecycle.pending(s)] == [IncidentOpened, IncidentTransitioned]
        iid = inc.id
    # Each subscriber saw the committed state from a session of its own.
    assert [(type(ev), state) for ev, state, _ in rec.seen] == [
        (IncidentOpened, "triaged"),
        (IncidentTransitioned, "triaged"),
    ]
    opened = rec.seen[0][0]
    assert opened.incident_id == iid and opened.key == f"INC-{iid:04d}" and opened.actor == "detection"
    with pytest.raises(FrozenInstanceError):
        opened.key = "INC-9999"  # type: ignore[misc]
    rec.seen.clear()

    with store.session() as s:
        open_or_touch(s, make_new(detected_at=make_new().detected_at.replace(hour=13)))
        acknowledge(s, iid, "user:alice")
        note(s, iid, "looking", "user:alice")
        resolve(s, iid, "user:alice", reason="false_positive")
        reopen(s, iid, "user:bob")
    assert rec.types() == [
        "IncidentDeduplicated",
        "IncidentTransitioned",
        "IncidentUpdated",
        "IncidentTransitioned",
        "IncidentReopened",
    ]
    dup, ack, upd, res, back = (ev for ev, _, _ in rec.seen)
    assert isinstance(dup, IncidentDeduplicated) and dup.occurrences == 2
    assert isinstance(ack, IncidentTransitioned) and (ack.from_state, ack.to_state) == (S.TRIAGED, S.ACKNOWLEDGED)
    assert ack.action == "acknowledge" and ack.actor == "user:alice"
    assert isinstance(upd, IncidentUpdated) and upd.operation == "note"
    assert isinstance(res, IncidentTransitioned) and res.resolution == "false_positive"
    assert isinstance(back, IncidentReopened) and isinstance(back, IncidentTransitioned) and back.to_state is S.TRIAGED
    # Published after the whole unit committed: every subscriber saw the final state.
    assert {state for _, state, _ in rec.seen} == {"triaged"}


def test_a_rolled_back_transition_publishes_nothing(
    store: Store, make_new: Callable[..., NewIncident], subscribe: Callable[..., Recorder]
) -> None:
    iid = _open(store, make_new)
    rec = subscribe("recorder")
    with pytest.raises(RuntimeError, match="changed my mind"), store.session() as s:
        acknowledge(s, iid, "user:alice")
        assert len(lifecycle.pending(s)) == 1
        raise RuntimeError("changed my mind")
    assert rec.seen == []
    # An explicit rollback inside a unit discards what was queued before it; the rest still commits.
    with store.session() as s:
        acknowledge(s, iid, "user:alice")
        s.rollback()
        assert lifecycle.pending(s) == []
        note(s, iid, "after the rollback", "user:alice")
    assert rec.types() == ["IncidentUpdated"]
    with store.session(readonly=True) as s:
        assert get_incident(s, iid).state is S.TRIAGED


def test_a_failed_commit_publishes_nothing(
    store: Store, make_new: Callable[..., NewIncident], subscribe: Callable[..., Recorder], is_sqlite: bool
) -> None:
    if not is_sqlite:
        pytest.skip("deletes the SQLite file under the open store")
    iid = _open(store, make_new)
    rec = subscribe("recorder")
    assert store.db_file is not None
    with pytest.raises(Exception, match="was deleted while in use"), store.session() as s:
        acknowledge(s, iid, "user:alice")
        store.db_file.unlink()  # the store refuses to commit into a vanished file
    assert rec.seen == []


def test_a_failing_subscriber_is_audited_and_undoes_nothing(
    store: Store, make_new: Callable[..., NewIncident], subscribe: Callable[..., Recorder]
) -> None:
    iid = _open(store, make_new)

    def boom(ev: LifecycleEvent, ctx: Context) -> None:
        raise RuntimeError(f"pager down for {ev.key}")

    before = subscribe("before")
    subscribe("boom", boom)
    after = subscribe("after")
    with store.session() as s:
        acknowledge(s, iid, "user:alice", comment="on it")
    with store.session(readonly=True) as s:
        inc = get_incident(s, iid)
        log = events(s, iid)
    assert inc.state is S.ACKNOWLEDGED  # the committed change stands
    assert before.types() == after.types() == ["IncidentTransitioned"]  # the others still ran
    failed = [e for e in log if e.kind is EventKind.SUBSCRIBER_FAILED]
    assert len(failed) == 1
    p = failed[0].payload
    assert p["subscriber"] == "test-boom" and p["error"] == f"RuntimeError: pager down for {inc.key}"
    assert p["event"] == "IncidentTransitioned" and p["action"] == "acknowledge" and p["to_state"] == "acknowledged"


def test_outbound_subscribers_run_only_inside_a_side_effects_scope(
    store: Store, make_new: Callable[..., NewIncident], subscribe: Callable[..., Recorder]
) -> None:
    iid = _open(store, make_new)
    out = subscribe("outbound", outbound=True)
    book = subscribe("bookkeeping")
    with store.session() as s:
        note(s, iid, "no scope", "user:a")
    assert out.seen == [] and book.types() == ["IncidentUpdated"]
    config = object()
    with side_effects(config) as scope, store.session() as s:
        note(s, iid, "in scope", "user:a")
    assert [(type(ev), cfg) for ev, _, cfg in out.seen] == [(IncidentUpdated, config)]
    assert {d.subscriber for d in scope.deliveries} >= {"test-outbound", "test-bookkeeping"}
    assert scope.results("test-outbound") == ["triaged"] and scope.failures() == []


def test_a_completed_rca_run_publishes_rca_completed(
    store: Store, make_new: Callable[..., NewIncident], subscribe: Callable[..., Recorder]
) -> None:
    iid = _open(store, make_new)
    rec = subscribe("rca", event_type=RcaCompleted)
    with store.session() as s:
        failed = start_rca_run(s, incident=iid, flow_run_id=None, inputs_fingerprint="a", code_version="t")
        finish_rca_run(s, failed.id, status="failed", results={"error": "x"})
        run = start_rca_run(s, incident=iid, flow_run_id=None, inputs_fingerprint="b", code_version="t")
        finish_rca_run(
            s, run.id, status="completed", results={"hypotheses": [{"component": "feature-store"}]}, actor="rca:42"
        )
    assert len(rec.seen) == 1  # the failed run publishes nothing
    ev = rec.seen[0][0]
    assert isinstance(ev, RcaCompleted) and ev.rca_run_id == run.id and ev.top == "feature-store"
    assert ev.actor == "rca:42" and ev.incident_id == iid


def test_rca_completed_speaks_as_of_the_incidents_latest_observation(
    store: Store, make_new: Callable[..., NewIncident], subscribe: Callable[..., Recorder]
) -> None:
    """A backtest's or the demo's incident (seen in the past) gets its RCA update dated then, not on the wall clock."""
    iid = _open(store, make_new)
    rec = subscribe("rca", event_type=RcaCompleted)
    with store.session() as s:
        inc = get_incident(s, iid)
        seen = max(inc.last_seen_at, inc.detected_at)
        run = start_rca_run(s, incident=iid, flow_run_id=None, inputs_fingerprint="c", code_version="t")
        finish_rca_run(s, run.id, status="completed", results={"hypotheses": []})
        finished = run.finished_at
    ev = rec.seen[0][0]
    assert seen < finished  # the fixture's incident was seen before this test ran
    assert ev.at == seen
