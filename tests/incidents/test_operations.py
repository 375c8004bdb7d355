from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

import pytest

from rcaflows.errors import NotFoundError, RcaflowsError, StoreError, TransitionError
from rcaflows.incidents import (
    Action,
    EventKind,
    Incident,
    NewIncident,
    Store,
    acknowledge,
    assign,
    events,
    get_incident,
    match_silence,
    merge,
    mitigate,
    note,
    open_or_touch,
    reopen,
    resolve,
    retriage,
    set_severity,
    snooze,
    transition,
)
from rcaflows.timeutil import now_utc
from rcaflows.vocab import IncidentState, Priority, Severity

S = IncidentState


def _open(store: Store, make_new: Callable[..., NewIncident], **kw: object) -> int:
    with store.session() as s:
        inc, _ = open_or_touch(s, make_new(**kw))
        transition(s, inc, Action.TRIAGE, "detection")
        return inc.id


def _replay(store: Store, incident_id: int) -> tuple[IncidentState, Incident]:
    """Replay the transition events from ``detected``; each must start where the previous ended."""
    with store.session(readonly=True) as s:
        inc = get_incident(s, incident_id)
        state = S.DETECTED
        for e in events(s, inc):
            if e.kind is EventKind.TRANSITION:
                assert e.payload["from"] == state.value, f"event {e.id} starts from {e.payload['from']}, not {state}"
                state = S(e.payload["to"])
            elif "state" in e.payload:  # a state-keeping operation happened in the state it names
                assert e.payload["state"] == state.value
        return state, inc


def test_every_operation_is_one_event_and_the_log_explains_the_state(
    store: Store, make_new: Callable[..., NewIncident]
) -> None:
    iid = _open(store, make_new)
    ops: list[Callable] = [
        lambda s: acknowledge(s, iid, "user:alice", comment="looking", expires_in=timedelta(hours=1)),
        lambda s: assign(s, iid, "alice", "user:alice", team="data-eng"),
        lambda s: note(s, iid, "null rate traced to the merchant feed", "user:alice"),
        lambda s: mitigate(s, iid, "user:alice", comment="backfilled"),
        lambda s: resolve(s, iid, "user:alice", reason="fixed", comment="feed repaired"),
        lambda s: note(s, iid, "post-mortem scheduled", "user:bob"),  # notes are allowed after resolution
        lambda s: reopen(s, iid, "user:bob", comment="back again"),
    ]
    for op in ops:
        with store.session() as s:
            before = len(events(s, iid))
            op(s)
            assert len(events(s, iid)) == before + 1
    state, inc = _replay(store, iid)
    assert state is inc.state is S.TRIAGED
    assert inc.details["assignee"] == "alice" and inc.team == "data-eng"
    assert "resolution" not in inc.details and inc.resolved_at is None  # reopen clears the resolution
    with store.session(readonly=True) as s:
        kinds = [(e.kind.value, e.payload.get("action")) for e in events(s, iid)]
        resolved = next(e.payload for e in events(s, iid) if e.payload.get("action") == "resolve")
    assert kinds[2:] == [
        ("transition", "acknowledge"),
        ("triaged", "assign"),
        ("note", "note"),
        ("transition", "mitigate"),
        ("transition", "resolve"),
        ("note", "note"),
        ("transition", "reopen"),
    ]
    assert resolved["resolution"] == "fixed" and resolved["comment"] == "feed repaired"


def test_wrong_states_unknown_ids_and_bad_values_are_clear_errors(
    store: Store, make_new: Callable[..., NewIncident]
) -> None:
    iid = _open(store, make_new)
    with store.session() as s:
        resolve(s, iid, "user:a", reason="false_positive")
    key = f"INC-{iid:04d}"
    cases: list[tuple[Callable, type[Exception], str]] = [
        (lambda s: acknowledge(s, iid, "u"), TransitionError, f"cannot acknowledge {key}: it is resolved"),
        (lambda s: mitigate(s, iid, "u"), TransitionError, f"cannot mitigate {key}: it is resolved"),
        (lambda s: assign(s, iid, "bob", "u"), TransitionError, f"cannot assign {key}: it is resolved"),
        (lambda s: snooze(s, iid, "u", reason="x", duration=timedelta(hours=1)), TransitionError, "cannot snooze"),
        (lambda s: resolve(s, iid, "u"), TransitionError, f"cannot resolve {key}: it is resolved"),
        (lambda s: acknowledge(s, "INC-9999", "u"), NotFoundError, "no incident 'INC-9999'"),
        (lambda s: note(s, "nope", "x", "u"), NotFoundError, "'nope' is not an incident reference"),
    ]
    for op, err, msg in cases:
        with pytest.raises(err, match=msg), store.session() as s:
            op(s)
    other = _open(store, make_new, fingerprint="other")
    bad: list[tuple[Callable, str]] = [
        (lambda s: resolve(s, other, "u", reason="gone"), "unknown resolution reason 'gone'; expected one of fixed"),
        (lambda s: note(s, other, "  ", "u"), "note text is empty"),
        (lambda s: snooze(s, other, "u", reason="x"), "give exactly one of a duration or an expiry"),
        (lambda s: set_severity(s, other, "catastrophic", "u", reason="x"), "set severity of"),
        (lambda s: acknowledge(s, other, "u", expires_in=timedelta(0)), "must be positive"),
    ]
    for op, msg in bad:
        with pytest.raises(StoreError, match=msg), store.session() as s:
            op(s)
    _, inc = _replay(store, other)
    assert inc.state is S.TRIAGED  # every refused operation left it untouched


def test_merge_resolves_the_duplicate_links_it_and_keeps_its_events(
    store: Store, make_new: Callable[..., NewIncident]
) -> None:
    keep = _open(store, make_new, fingerprint="a")
    dup = _open(store, make_new, fingerprint="b")
    with store.session() as s:
        note(s, dup, "seen on the dashboard too", "user:a")
    with store.session() as s:
        d, k = merge(s, dup, keep, "user:a", comment="same feed")
        assert (d.state, k.state) == (S.RESOLVED, S.TRIAGED)
    with store.session(readonly=True) as s:
        d, k = get_incident(s, dup), get_incident(s, keep)
        assert d.details["merged_into"] == k.key and d.details["resolution"]["reason"] == "duplicate"
        assert k.details["merged"] == [d.key] and k.occurrences == 2
        dup_log = [(e.kind.value, e.payload.get("action")) for e in events(s, d)]
        assert ("note", "note") in dup_log and dup_log[-1] == ("transition", "resolve")
        assert events(s, k)[-1].payload == {
            "merged": d.key,
            "occurrences": 2,
            "comment": "same feed",
            "action": "merge",
            "state": "triaged",
        }
    with pytest.raises(TransitionError, match="into itself"), store.session() as s:
        merge(s, keep, keep, "user:a")
    with pytest.raises(TransitionError, match="cannot merge"), store.session() as s:
        merge(s, keep, dup, "user:a")  # the survivor (dup) is resolved


def test_snooze_is_an_incident_scoped_silence(store: Store, make_new: Callable[..., NewIncident]) -> None:
    iid = _open(store, make_new, fingerprint="fp-snooze")
    with store.session() as s:
        inc = snooze(s, iid, "user:carol", reason="known migration", duration=timedelta(hours=2))
        snz = inc.details["snooze"]
        assert snz["by"] == "user:carol" and snz["reason"] == "known migration"
    with store.session() as s:
        hit = match_silence(
            s,
            system="fraud-scoring",
            incident_type="data_quality",
            component="x",
            fingerprint="fp-snooze",
            at=now_utc(),
        )
        miss = match_silence(
            s, system="fraud-scoring", incident_type="data_quality", component="x", fingerprint="other", at=now_utc()
        )
    assert hit is not None and hit.id == snz["silence"] and hit.author == "user:carol" and miss is None


def test_severity_override_is_pinned_and_audited(store: Store, make_new: Callable[..., NewIncident]) -> None:
    iid = _open(store, make_new)
    with store.session() as s:
        retriage(s, iid, "medium", "P3", "detection")
        assert get_incident(s, iid).severity is Severity.MEDIUM  # no pin yet: re-triage applies
    with store.session() as s:
        set_severity(s, iid, "critical", "user:lead", reason="regulator asked", priority="P1")
    with store.session() as s:
        inc = retriage(s, iid, "low", "P4", "detection", reasons=["score fell"])
        assert (inc.severity, inc.priority) == (Severity.CRITICAL, Priority.P1)
        log = events(s, iid)
    override = next(e for e in log if e.payload.get("action") == "set_severity")
    assert override.actor == "user:lead" and override.payload["previous"]["severity"] == "medium"
    assert override.payload["reason"] == "regulator asked" and override.payload["pinned"] is True
    assert log[-1].payload["kept_override"] is True and log[-1].payload["proposed"]["severity"] == "low"


OPS: dict[str, Callable] = {
    "ack": lambda s, i: acknowledge(s, i, "user:a", comment="mine"),
    "resolve": lambda s, i: resolve(s, i, "user:b", reason="benign"),
    "mitigate": lambda s, i: mitigate(s, i, "user:c"),
    "reopen": lambda s, i: reopen(s, i, "user:d"),
    "assign": lambda s, i: assign(s, i, "erin", "user:e"),
    "note": lambda s, i: note(s, i, "hello", "user:f"),
    "severity": lambda s, i: set_severity(s, i, "low", "user:g", reason="minor"),
    "snooze": lambda s, i: snooze(s, i, "user:h", reason="later", duration=timedelta(hours=1)),
}


@pytest.mark.parametrize("round_", range(4))
def test_racing_operations_never_reach_an_impossible_state(
    store: Store, make_new: Callable[..., NewIncident], is_sqlite: bool, round_: int
) -> None:
    """All operations start together on one incident (real SQLite file); the log explains the end state."""
    iid = _open(store, make_new, fingerprint=f"race-{round_}")
    names = list(OPS)[round_:] + list(OPS)[:round_]
    barrier = threading.Barrier(len(names))
    outcome: dict[str, str] = {}

    def run(name: str) -> None:
        barrier.wait()
        try:
            with store.session() as s:
                OPS[name](s, iid)
            outcome[name] = "ok"
        except RcaflowsError as e:
            outcome[name] = type(e).__name__

    threads = [threading.Thread(target=run, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(outcome.values()) <= {"ok", "TransitionError"}
    assert outcome["note"] == "ok"  # a note is allowed in every state
    state, inc = _replay(store, iid)
    assert state is inc.state
    with store.session(readonly=True) as s:
        log = events(s, iid)
    applied = {e.payload.get("action") for e in log[2:]}  # after detected + triage
    ok = {n for n, o in outcome.items() if o == "ok"}
    action_of = {"ack": "acknowledge", "severity": "set_severity"}
    assert {action_of.get(n, n) for n in ok} == applied  # exactly the successful ones left an event
    if inc.state is S.RESOLVED:
        assert inc.resolved_at is not None and inc.details["resolution"]["reason"] == "benign"
    else:
        assert inc.resolved_at is None
    if is_sqlite:  # writers serialize: every operation saw the previous one's result, none failed as stale
        assert all("concurrently" not in o for o in outcome.values())


def test_operation_times_must_not_run_backwards_or_lie_in_the_future(
    store: Store, make_new: Callable[..., NewIncident]
) -> None:
    from rcaflows.incidents.metrics import response_metrics

    t0 = now_utc() - timedelta(days=2)
    iid = _open(store, make_new, detected_at=t0)
    # `ack --at` before the detection: a negative time to acknowledge
    with store.session() as s, pytest.raises(TransitionError, match="precedes its last change"):
        acknowledge(s, iid, "user:a", at=t0 - timedelta(days=365))
    with store.session() as s:
        acknowledge(s, iid, "user:a", at=now_utc() - timedelta(hours=1))
    with store.session() as s, pytest.raises(TransitionError, match="precedes its last change"):
        resolve(s, iid, "user:a", at=now_utc() - timedelta(hours=2))  # before the acknowledgement
    for op in (
        lambda s, at: resolve(s, iid, "user:a", at=at),
        lambda s, at: note(s, iid, "later", "user:a", at=at),
        lambda s, at: mitigate(s, iid, "user:a", at=at),
    ):
        with store.session() as s, pytest.raises(TransitionError, match="in the future"):
            op(s, now_utc() + timedelta(days=1))
    with store.session() as s, pytest.raises(TransitionError, match="precedes"):
        note(s, iid, "too early", "user:a", at=t0)  # a back-dated note before the last change too
    with store.session() as s:
        resolve(s, iid, "user:a", at=now_utc() + timedelta(minutes=1))  # small clock skew is fine
    with store.session(readonly=True) as s:
        m = response_metrics(s, t0 - timedelta(days=1), now_utc() + timedelta(hours=1))
        kinds = [e.kind for e in events(s, iid)]
    assert m.mtta_s is not None and m.mtta_s >= 0 and m.mttr_s is not None and m.mttr_s >= 0
    assert kinds.count(EventKind.TRANSITION) == 3  # triage, ack, resolve: refused ones left no trace
