"""Post-mortem drafts from a real store: timeline, metrics, assessment, recurrence, action items, rendering."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from tests.postmortem.conftest import ONSET_LEAD, rca_results

from rcaflows.errors import NotFoundError, TransitionError
from rcaflows.incidents import EventKind, Store, events, get_incident
from rcaflows.postmortem import (
    add_action,
    build_postmortem,
    complete_action,
    link_similar,
    list_actions,
    render_html,
    render_markdown,
    write_postmortem,
)


def test_timeline_and_metrics_come_from_the_audit_log(store: Store, make_incident: Callable[..., str]) -> None:
    key = make_incident()
    with store.session() as s:
        pm = build_postmortem(s, key)
        inc = get_incident(s, key)
        log = events(s, inc)
    cats = [t.category for t in pm.timeline]
    expected = [
        "onset",
        "detection",
        "triage",
        "notification",
        "escalation",
        "acknowledgement",
        "rca",
        "rca finding",
        "mitigation",
        "resolution",
    ]
    assert [c for c in cats if c in expected] == expected  # every kind of moment, in time order
    assert [t.at for t in pm.timeline] == sorted(t.at for t in pm.timeline)
    first_ack = next(e.at for e in log if e.payload.get("action") == "acknowledge")
    m = pm.metrics
    assert m.time_to_detect == ONSET_LEAD
    assert m.time_to_acknowledge == first_ack - inc.detected_at
    assert m.time_to_resolve == inc.resolved_at - inc.detected_at
    assert m.time_to_mitigate is not None and m.time_to_mitigate <= m.time_to_resolve
    assert (m.escalations, m.escalations_before_ack, m.notifications_sent, m.notifications_failed) == (1, 1, 1, 0)
    assert pm.resolution == "fixed" and pm.state == "resolved"
    assert pm.impact.duration == inc.resolved_at - (inc.detected_at - ONSET_LEAD)
    assert pm.impact.downstream == ["fraud_model", "scoring_api", "chargebacks"]
    assert pm.impact.components == ["feature_store", "fraud_model"]
    assert pm.causes[0].component == "etl_job" and pm.failed_phases == ["environmental"]


def test_assessment_and_seeded_actions_follow_the_metrics(store: Store, make_incident: Callable[..., str]) -> None:
    bad = make_incident("feature_store")
    good = make_incident("gateway", escalate=False, failed_phase=None, top="gateway")
    with store.session() as s:
        pm_bad, pm_good = build_postmortem(s, bad), build_postmortem(s, good)
    assert any("Detected within the first detection window" in w for w in pm_bad.went_well)
    assert any("escalation step(s) had fired" in b for b in pm_bad.went_badly)
    assert any("environmental" in b for b in pm_bad.went_badly)
    assert any("no escalation was needed" in w for w in pm_good.went_well)
    assert any("Every RCA phase completed" in w for w in pm_good.went_well)
    assert not any("escalation" in b or "phase" in b for b in pm_good.went_badly)
    sources = {a.source for a in pm_bad.actions}
    assert {"postmortem:root_cause", "postmortem:rca_phases", "postmortem:ack"} <= sources
    assert all(a.owner == "data-eng" and a.status == "open" and a.due_at for a in pm_bad.actions)
    with store.session() as s:  # refreshing keeps the items, never duplicates them
        again = build_postmortem(s, bad)
    assert sorted(a.id for a in again.actions) == sorted(a.id for a in pm_bad.actions)


def test_recurrence_links_by_fingerprint_component_and_root_cause(
    store: Store, make_incident: Callable[..., str]
) -> None:
    first = make_incident("feature_store", top="etl_job", detected_ago=timedelta(days=3))
    other = make_incident("gateway", top="gateway", detected_ago=timedelta(days=2))
    same_cause = make_incident("scoring_api", top="etl_job", detected_ago=timedelta(days=1))
    again = make_incident("feature_store", top="etl_job")
    with store.session() as s:
        links = {(get_incident(s, link.related_id).key, link.reason) for link in link_similar(s, again)}
        assert link_similar(s, first) == []  # only earlier incidents are linked
        n_before = len(link_similar(s, again))
    assert links == {(first, "fingerprint"), (first, "component"), (first, "root_cause"), (same_cause, "root_cause")}
    assert all(k != other for k, _ in links)
    assert n_before == 4  # idempotent
    with store.session() as s:
        pm = build_postmortem(s, again)
    assert {r.key for r in pm.related} == {first, same_cause}
    assert any("recurrence" in b.lower() and first in b for b in pm.went_badly)
    assert "Recurrence:" in render_markdown(pm) and first in render_markdown(pm)


def test_drafts_render_every_section_and_escape_input(store: Store, make_incident: Callable[..., str]) -> None:
    key = make_incident(title="<script>alert(1)</script> | pipe")
    with store.session() as s:
        pm = build_postmortem(s, key)
    html, md = render_html(pm), render_markdown(pm)
    for section in (
        "Summary",
        "Impact",
        "Timeline",
        "Root cause and contributing factors",
        "What went well",
        "What went badly",
        "Action items",
    ):
        assert section in html and f"## {section}" in md
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<script>" not in md and "\\| pipe" in md


def test_write_postmortem_records_a_report_event(
    store: Store, make_incident: Callable[..., str], tmp_path: Path
) -> None:
    key = make_incident()
    _, paths = write_postmortem(store, key, tmp_path / "out", count_predictions=False)
    assert paths.markdown.read_text().startswith(f"# Post-mortem (draft): {key}")
    assert paths.html.exists()
    with store.session(readonly=True) as s:
        ev = events(s, key)[-1]
    assert ev.kind is EventKind.REPORT and ev.payload["postmortem"] == str(paths.markdown)


def test_open_incident_draft_says_it_is_not_resolved(store: Store, make_incident: Callable[..., str]) -> None:
    key = make_incident(resolve=False)
    with store.session() as s:
        pm = build_postmortem(s, key)
    assert pm.metrics.time_to_resolve is None and pm.impact.ended_at is None
    assert "still acknowledged" in pm.summary or "still investigating" in pm.summary


def test_action_items_are_tracked(store: Store, make_incident: Callable[..., str]) -> None:
    key = make_incident()
    with store.session() as s:
        item = add_action(s, key, "Add a null-rate expectation on amount", "data-eng", "user:bob")
        item_id = item.id
    with store.session() as s:
        done = complete_action(s, item_id, "user:bob")
        assert done.status.value == "done" and done.done_by == "user:bob"
    with store.session() as s, pytest.raises(TransitionError, match="already done"):
        complete_action(s, item_id, "user:bob")
    with store.session() as s:
        with pytest.raises(NotFoundError, match="no action item 999"):
            complete_action(s, 999, "user:bob")
        with pytest.raises(ValueError, match="non-empty title"):
            add_action(s, key, "  ", "x", "user:bob")
        assert [a.id for a in list_actions(s, status="done")] == [item_id]
        notes = [e.payload for e in events(s, key) if e.kind is EventKind.NOTE]
    assert {"action_item": item_id, "done": "Add a null-rate expectation on amount"} in notes


def test_on_resolved_updates_messages_then_drafts(
    store: Store, make_incident: Callable[..., str], tmp_path: Path
) -> None:
    from rcaflows.notify import notifications
    from rcaflows.postmortem import on_resolved

    open_key = make_incident("gateway", resolve=False)
    with pytest.raises(TransitionError, match="once it is resolved"):
        on_resolved(store, open_key, out_dir=tmp_path)
    key = make_incident()
    pm, paths = on_resolved(store, key, out_dir=tmp_path)
    assert paths.markdown.exists() and pm.state == "resolved"
    with store.session(readonly=True) as s:
        (rec,) = notifications(s, key)
    assert rec.deliveries == 2 and rec.last_message["state"] == "resolved"
    lines = (tmp_path / "notify.jsonl").read_text().splitlines()
    assert sum(key in line and '"action": "resolve"' in line for line in lines) == 1


def test_zero_and_refuted_hypotheses_are_no_factors_and_the_list_has_no_gaps(
    store: Store, make_incident: Callable[..., str]
) -> None:
    from rcaflows.incidents import finish_rca_run, start_rca_run

    key = make_incident()
    results = rca_results("etl_job")
    hyp = results["hypotheses"]
    results["hypotheses"] = [
        hyp[0],
        {**hyp[1], "rank": 2, "component": "geo_api", "confidence": 0.0, "status": "supported"},
        {**hyp[1], "rank": 3, "component": "reporting", "confidence": 0.3, "status": "refuted"},
        {**hyp[1], "rank": 4, "component": "scoring_api", "confidence": 0.2, "status": "weak"},
    ]
    with store.session() as s:
        run = start_rca_run(s, incident=key, flow_run_id=None, inputs_fingerprint="y", code_version="t")
        finish_rca_run(s, run.id, status="completed", results=results)
    with store.session() as s:
        pm = build_postmortem(s, key)
    assert [(c.rank, c.component) for c in pm.causes] == [(1, "etl_job"), (2, "scoring_api")]
    md = render_markdown(pm)
    assert "geo_api" not in md and "reporting" not in md
    assert "1. **etl\\_job" in md or "1. **etl_job" in md
    assert "2. **scoring\\_api" in md or "2. **scoring_api" in md
