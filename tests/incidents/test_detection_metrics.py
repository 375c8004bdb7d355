"""MTTD, late detections, overdue action items and false-positive rate per detector (issue 14)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from rcaflows import cli
from rcaflows.incidents import NewIncident, Store, open_or_touch, resolve
from rcaflows.incidents.metrics import response_metrics
from rcaflows.postmortem import add_action, complete_action

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
M = timedelta(minutes=1)


def _checks(*detectors: str) -> list[dict[str, object]]:
    return [{"detector": d, "check": "x", "component": "c", "metric": "m", "status": "fail"} for d in detectors]


def _open(
    store: Store, make_new: Callable[..., NewIncident], at: datetime, onset: datetime | None, **kw: object
) -> str:
    details: dict[str, object] = {"checks": _checks(*kw.pop("detectors", ("performance",)))}  # type: ignore[arg-type]
    if onset is not None:
        details["onset"] = onset.isoformat()
    with store.session() as s:
        inc, _ = open_or_touch(s, make_new(detected_at=at, details=details, **kw))
        return inc.key


def test_mttd_late_detections_overdue_items_and_false_positive_rates(
    store: Store, store_url: str, make_new: Callable[..., NewIncident]
) -> None:
    a = _open(store, make_new, T0, T0 - 10 * M, fingerprint="a")
    b = _open(store, make_new, T0 + 60 * M, T0 - 30 * M, fingerprint="b", detectors=("performance", "drift"))
    c = _open(store, make_new, T0 + 120 * M, None, fingerprint="c", detectors=("drift",))  # no onset: no TTD
    _open(store, make_new, T0 + 130 * M, T0 + 100 * M, fingerprint="d")  # still open: not in the FP rates
    with store.session() as s:
        resolve(s, a, "user:x", reason="false_positive", at=T0 + 5 * M)
        resolve(s, b, "user:x", reason="fixed", at=T0 + 90 * M)
        resolve(s, c, "user:x", reason="false_positive", at=T0 + 125 * M)
        add_action(s, b, "add a runbook", "data-eng", "pm", due_at=T0 + timedelta(days=1))  # overdue at the end
        add_action(s, b, "later", "data-eng", "pm", due_at=T0 + timedelta(days=30))  # not yet due
        done = add_action(s, b, "done one", "data-eng", "pm", due_at=T0)
        complete_action(s, done.id, "user:x")
    end = T0 + timedelta(days=2)
    with store.session(readonly=True) as s:
        m = response_metrics(s, T0 - timedelta(days=1), end, ttd_target=timedelta(minutes=45))
    # TTD: a 10 min, b 90 min, d 30 min; c has no recorded onset
    assert m.detected_with_onset == 3
    assert m.mttd_s == pytest.approx((10 + 90 + 30) / 3 * 60)
    assert m.median_ttd_s == pytest.approx(30 * 60)
    assert m.late_detections == 1 and m.ttd_target_s == 45 * 60  # b only
    assert (m.action_items_open, m.action_items_overdue) == (2, 1)
    # performance raised a (FP) and b (fixed); drift raised b (fixed) and c (FP); d is open
    assert m.resolved_by_detector == {"drift": 2, "performance": 2}
    assert m.false_positive_rate_by_detector == {"drift": 0.5, "performance": 0.5}
    rows = {(r["metric"], r["group"]): r["value"] for r in m.rows()}
    assert rows[("false_positive_rate_by_detector", "drift")] == 0.5 and rows[("late_detections", "")] == 1
    with store.session(readonly=True) as s:  # the target defaults to one hour
        assert response_metrics(s, T0 - timedelta(days=1), end).late_detections == 1
        assert response_metrics(s, T0 - timedelta(days=1), end, ttd_target=timedelta(minutes=5)).late_detections == 3

    res = CliRunner().invoke(
        cli.app,
        ["metrics", "--store", store_url, "--since", "3d", "--until", end.isoformat(), "--format", "json"],
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["action_items_overdue"] == 1 and doc["false_positive_rate_by_detector"] == {
        "drift": 0.5,
        "performance": 0.5,
    }
    res = CliRunner().invoke(cli.app, ["metrics", "--store", store_url, "--since", "3d", "--until", end.isoformat()])
    assert res.exit_code == 0 and "MTTD" in res.output and "false-positive rate: drift" in res.output
