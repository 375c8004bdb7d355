from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from rcaflows.incidents import (
    Action,
    EventKind,
    NewIncident,
    Store,
    acknowledge,
    merge,
    open_or_touch,
    record_event,
    resolve,
    transition,
)
from rcaflows.incidents.metrics import response_metrics

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
M = timedelta(minutes=1)


def _open(store: Store, make_new: Callable[..., NewIncident], at: datetime, **kw: object) -> int:
    with store.session() as s:
        inc, _ = open_or_touch(s, make_new(detected_at=at, **kw))
        transition(s, inc, Action.TRIAGE, "detection", at=at)
        return inc.id


def test_mtta_mttr_counts_recurrence_and_escalations_from_the_log(
    store: Store, make_new: Callable[..., NewIncident]
) -> None:
    a = _open(store, make_new, T0, fingerprint="a", component="etl", team="data-eng")
    b = _open(store, make_new, T0 + 60 * M, fingerprint="b", component="gateway", severity="critical", team="sre")
    with store.session() as s:
        acknowledge(s, a, "user:x", at=T0 + 5 * M)
        resolve(s, a, "user:x", at=T0 + 65 * M)
    c = _open(store, make_new, T0 + 120 * M, fingerprint="a", component="etl", team="data-eng")  # recurs (a)
    d = _open(store, make_new, T0 + 130 * M, fingerprint="d", component="etl", team="data-eng", type="bias_fairness")
    old = _open(store, make_new, T0 - timedelta(days=40), fingerprint="old", component="old")
    with store.session() as s:
        acknowledge(s, b, "user:y", at=T0 + 60 * M + 15 * M)
        record_event(s, b, EventKind.ESCALATION, "escalation", {"kind": "level", "level": 1}, at=T0 + 75 * M)
        record_event(s, b, EventKind.ESCALATION, "escalation", {"kind": "immediate", "level": 0}, at=T0 + 60 * M)
        record_event(s, c, EventKind.ESCALATION, "escalation", {"kind": "level", "level": 1}, at=T0 + 135 * M)
        resolve(s, c, "user:x", at=T0 + 120 * M + 25 * M)
        merge(s, d, b, "user:y", at=T0 + 200 * M)  # resolved as duplicate: left out of MTTR
        resolve(s, old, "user:x", at=T0 - timedelta(days=39))
    with store.session(readonly=True) as s:
        m = response_metrics(s, T0 - timedelta(days=30), T0 + timedelta(days=1))
    assert m.incidents == 4 and m.acknowledged == 2 and m.resolved == 3
    assert m.mtta_s == pytest.approx((5 + 15) / 2 * 60)
    assert m.mttr_s == pytest.approx((65 + 25) / 2 * 60)
    assert m.median_ttr_s == pytest.approx(45 * 60)
    assert m.by_team == {"data-eng": 3, "sre": 1}
    assert m.by_severity == {"critical": 1, "high": 3}
    assert m.by_type == {"bias_fairness": 1, "data_quality": 3}
    assert m.recurring == 2 and m.recurrence_rate == pytest.approx(0.5)  # c (fingerprint) and d (component)
    assert m.escalations == 3 and m.incidents_escalated == 2
    assert m.escalations_by_kind == {"immediate": 1, "level": 2}
    rows = {(r["metric"], r["group"]): r["value"] for r in m.rows()}
    assert rows[("incidents_by_team", "sre")] == 1 and rows[("mtta_s", "")] == m.mtta_s
    assert m.as_dict()["since"].startswith("2026-01-30")


def test_an_empty_period_has_no_averages(store: Store) -> None:
    with store.session(readonly=True) as s:
        m = response_metrics(s, T0, T0 + M)
    assert (m.incidents, m.mtta_s, m.mttr_s, m.recurrence_rate) == (0, None, None, None)
