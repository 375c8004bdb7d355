"""The watch after a fix: re-opened when the checks fail again, validated and resolved after clean runs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from mitigation_helpers import T0

from rcaflows.config.models import SystemConfig
from rcaflows.incidents import EventKind, Store, events, get_incident, record_run, resolve
from rcaflows.incidents.models import MitigationStatus
from rcaflows.mitigation.service import actions_of, decide, propose, run_approved
from rcaflows.mitigation.watch import evaluate_watches
from rcaflows.timeutil import now_utc
from rcaflows.vocab import IncidentState


def detection_run(store: Store, cfg: SystemConfig, at: Any, failing: list[str]) -> list[Any]:
    """Record one detection run (as handle_candidates does) and judge the watches."""
    with store.session() as s:
        record_run(s, cfg.system.name, at, {fp: {"type": "quality_degradation"} for fp in failing})
        return evaluate_watches(s, cfg, at)


def mitigated_by_manual_step(store: Store, cfg: SystemConfig, key: str) -> str:
    with store.session() as s:
        propose(s, cfg, key, "flow:1")
        decide(s, key, "tell_owners", "user:alice", approve=True)
    assert [o.status for o in run_approved(store, cfg, key, "flow:1")] == ["succeeded"]
    with store.session(readonly=True) as s:
        inc = get_incident(s, key)
        assert inc.state is IncidentState.MITIGATED
        return inc.fingerprint


def validation_steps(store: Store, key: str) -> list[str]:
    with store.session(readonly=True) as s:
        return [e.payload["step"] for e in events(s, key) if e.kind is EventKind.VALIDATION]


def test_clean_watch_validates_and_auto_resolves(
    store: Store, cfg: SystemConfig, make_incident: Callable[..., str]
) -> None:
    key = make_incident()
    mitigated_by_manual_step(store, cfg, key)
    t = now_utc()
    first = detection_run(store, cfg, t + timedelta(seconds=30), ["some-other-fingerprint"])
    assert [(o.key, o.verdict, o.clean_runs) for o in first] == [(key, "watching", 1)]
    detection_run(store, cfg, t + timedelta(seconds=30), [])  # the same hour again: not a second clean run
    with store.session(readonly=True) as s:
        assert get_incident(s, key).state is IncidentState.MITIGATED
    second = detection_run(store, cfg, t + timedelta(seconds=60), [])
    assert [(o.verdict, o.clean_runs) for o in second] == [("validated", 2)]
    with store.session(readonly=True) as s:
        inc = get_incident(s, key)
        assert inc.state is IncidentState.RESOLVED
        assert inc.details["resolution"]["reason"] == "mitigated"
        assert {a.name: a.effective for a in actions_of(s, key)} == {"tell_owners": True, "rollback_model": None}
    assert validation_steps(store, key) == ["started", "validated"]
    # a validated, auto-resolved incident is not watched again
    assert detection_run(store, cfg, t + timedelta(seconds=90), []) == []


def test_failed_fix_regresses_and_escalates(store: Store, cfg: SystemConfig, make_incident: Callable[..., str]) -> None:
    key = make_incident()
    fp = mitigated_by_manual_step(store, cfg, key)
    out = detection_run(store, cfg, now_utc() + timedelta(seconds=30), [fp])
    assert [o.verdict for o in out] == ["regressed"]
    with store.session(readonly=True) as s:
        inc = get_incident(s, key)
        assert inc.state is IncidentState.TRIAGED  # never left "mitigated" on a fix that did not work
        assert inc.details["watch"]["status"] == "regressed"
        assert actions_of(s, key)[1].status is MitigationStatus.SUCCEEDED and actions_of(s, key)[1].effective is False
        kinds = [(e.kind, e.payload.get("action") or e.payload.get("step")) for e in events(s, key)]
        assert (EventKind.TRANSITION, "regress") in kinds and (EventKind.ESCALATION, "escalate") in kinds
    assert validation_steps(store, key) == ["started", "regressed"]
    # the watch is over: later failures are ordinary duplicates, not a second regression
    assert detection_run(store, cfg, now_utc() + timedelta(seconds=60), [fp]) == []


def test_resolution_by_hand_is_watched_and_reopened(
    store: Store, cfg: SystemConfig, make_incident: Callable[..., str]
) -> None:
    key = make_incident()
    with store.session() as s:
        inc = resolve(s, key, "user:bob", reason="fixed", at=T0 + timedelta(hours=1))
        fp = inc.fingerprint
    assert [o.verdict for o in detection_run(store, cfg, T0 + timedelta(hours=2), [])] == ["watching"]
    out = detection_run(store, cfg, T0 + timedelta(hours=3), [fp])
    assert [o.verdict for o in out] == ["regressed"]
    with store.session(readonly=True) as s:
        inc = get_incident(s, key)
        assert inc.state is IncidentState.TRIAGED and inc.resolved_at is None
    assert validation_steps(store, key) == ["started", "regressed"]


def test_false_positive_resolution_is_not_watched(
    store: Store, cfg: SystemConfig, make_incident: Callable[..., str]
) -> None:
    key = make_incident()
    with store.session() as s:
        fp = resolve(s, key, "user:bob", reason="false_positive", at=T0 + timedelta(hours=1)).fingerprint
    assert detection_run(store, cfg, T0 + timedelta(hours=2), [fp]) == []
    with store.session(readonly=True) as s:
        assert get_incident(s, key).state is IncidentState.RESOLVED


def test_postmortem_timeline_says_what_was_tried_and_whether_it_worked(
    store: Store, cfg: SystemConfig, make_incident: Callable[..., str]
) -> None:
    from rcaflows.incidents import rca_runs
    from rcaflows.postmortem.timeline import build_timeline, response_metrics

    key = make_incident()
    fp = mitigated_by_manual_step(store, cfg, key)
    detection_run(store, cfg, now_utc() + timedelta(seconds=30), [fp])
    with store.session(readonly=True) as s:
        inc = get_incident(s, key)
        evs = events(s, key)
        items = [(i.category, i.summary) for i in build_timeline(inc, evs, rca_runs(s, key))]
        metrics = response_metrics(inc, evs)
    assert ("mitigation", "manual action tell_owners succeeded") in items
    assert any(c == "validation" and t.startswith("fix regressed: its checks failed again") for c, t in items)
    assert metrics.time_to_mitigate is not None and metrics.reopened == 0


def test_metrics_count_mitigations_and_fix_verdicts(
    store: Store, cfg: SystemConfig, make_incident: Callable[..., str]
) -> None:
    from rcaflows.incidents.metrics import response_metrics

    good = make_incident(fingerprint="good")
    bad = make_incident(fingerprint="bad")
    mitigated_by_manual_step(store, cfg, good)
    mitigated_by_manual_step(store, cfg, bad)
    t = now_utc()
    detection_run(store, cfg, t + timedelta(seconds=30), ["bad"])
    detection_run(store, cfg, t + timedelta(seconds=60), [])
    with store.session(readonly=True) as s:
        m = response_metrics(s, T0 - timedelta(days=1), t + timedelta(days=1))
    assert (m.incidents, m.mitigated, m.fixes_validated, m.fixes_regressed) == (2, 2, 1, 1)
    assert m.mttm_s is not None and m.mttm_s > 0
    assert {r["metric"]: r["value"] for r in m.rows()}["fixes_regressed"] == 1


def test_mitigation_by_hand_is_watched_too(store: Store, cfg: SystemConfig, make_incident: Callable[..., str]) -> None:
    from rcaflows.incidents import mitigate

    key = make_incident()
    with store.session() as s:
        fp = mitigate(s, key, "user:bob", at=T0 + timedelta(hours=1)).fingerprint
    assert [o.verdict for o in detection_run(store, cfg, T0 + timedelta(hours=2), [])] == ["watching"]
    assert [o.verdict for o in detection_run(store, cfg, T0 + timedelta(hours=3), [])] == ["validated"]
    with store.session(readonly=True) as s:
        inc = get_incident(s, key)
        assert (
            inc.state is IncidentState.RESOLVED
            and inc.details["watch"]["since"] == (T0 + timedelta(hours=1)).isoformat()
        )
    assert fp and validation_steps(store, key) == ["started", "validated"]
