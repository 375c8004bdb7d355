"""Overdue post-mortem action items remind their owners, through a real HTTP receiver on localhost (issue 14)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from rich.console import Console
from tests.notify.conftest import T0, Receiver
from typer.testing import CliRunner

from rcaflows import cli
from rcaflows.config import load_config
from rcaflows.config.models import SystemConfig
from rcaflows.demo import bundled_config_path
from rcaflows.incidents import EventKind, Store, events
from rcaflows.postmortem import add_action, complete_action, owner_channels, remind_overdue


def _config(receiver: Receiver, monkeypatch: pytest.MonkeyPatch, path: Path, store_url: str) -> SystemConfig:
    """Write the bundled system's config with three webhooks, a team on one and alice on another; load it."""
    monkeypatch.setenv("TEST_TEAM_HOOK", f"{receiver.url}/events")
    monkeypatch.setenv("TEST_ALICE_HOOK", f"{receiver.url}/flaky")
    monkeypatch.setenv("TEST_GONE_HOOK", f"{receiver.url}/no-such-hook")
    doc = yaml.safe_load(bundled_config_path().read_text(encoding="utf-8"))
    doc["store"]["url"] = store_url
    doc["notifications"] += [
        {"name": "team-hook", "kind": "webhook", "url_env": "TEST_TEAM_HOOK", "retries": 0},
        {"name": "alice-hook", "kind": "webhook", "url_env": "TEST_ALICE_HOOK", "retries": 2, "backoff": 0},
        {"name": "gone-hook", "kind": "webhook", "url_env": "TEST_GONE_HOOK", "retries": 0},
    ]
    doc["teams"].append({"name": "ml-ops", "channels": ["team-hook"]})
    for person in doc["oncall"]["people"]:
        if person["name"] == "alice":
            person["contacts"] = ["alice-hook"]
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return load_config(path)


def test_overdue_items_reach_their_owners_once_per_period(
    store: Store,
    open_incident: Callable[..., str],
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    cfg = _config(receiver, monkeypatch, tmp_path / "system.yaml", str(store.url.render_as_string(hide_password=False)))
    key = open_incident()
    now = T0 + timedelta(days=10)
    with store.session() as s:
        team_item = add_action(s, key, "Add a null-rate contract", "team:ml-ops", "pm", due_at=T0 + timedelta(days=3))
        alice_item = add_action(s, key, "Write the runbook", "user:alice", "pm", due_at=T0 + timedelta(days=9))
        lost_item = add_action(s, key, "Ask someone", "nobody", "pm", due_at=T0 + timedelta(days=1))
        gone_item = add_action(s, key, "Page the old hook", "gone-hook", "pm", due_at=T0 + timedelta(days=2))
        add_action(s, key, "Not due yet", "team:ml-ops", "pm", due_at=T0 + timedelta(days=30))
        done = add_action(s, key, "Done already", "team:ml-ops", "pm", due_at=T0)
        complete_action(s, done.id, "user:bob")
        ids = (team_item.id, alice_item.id, lost_item.id, gone_item.id)
    receiver.failures["/flaky"] = 1  # alice's hook is busy once: retried, then delivered

    sent = remind_overdue(store, cfg, now=now, sleep=lambda _: None)
    by_item = {r.item: r for r in sent}
    assert set(by_item) == set(ids)  # not the one not yet due, not the done one
    assert by_item[ids[0]].ok and by_item[ids[0]].channel == "team-hook"
    assert by_item[ids[1]].ok and by_item[ids[1]].channel == "alice-hook"
    assert not by_item[ids[2]].ok and "owner 'nobody' is not a team" in (by_item[ids[2]].error or "")
    assert not by_item[ids[3]].ok and by_item[ids[3]].channel == "gone-hook"
    team_posts = receiver.on("/events")
    assert len(team_posts) == 1
    body = team_posts[0].body
    assert body["dedup_key"] == f"rcaflows/fraud-scoring/{key}/action-{ids[0]}"  # not the incident's thread
    summary = body["payload"]["summary"]
    assert "Overdue action item" in summary and "Add a null-rate contract" in summary
    assert "overdue by 7d 0h" in body["payload"]["custom_details"]["reason"]
    assert len(receiver.on("/flaky")) == 2  # one 503, one delivery
    with store.session(readonly=True) as s:
        notes = [e.payload for e in events(s, key) if e.kind is EventKind.NOTE and "reminder" in e.payload]
    assert sorted((n["reminder"], n["ok"]) for n in notes) == sorted(
        [(ids[0], True), (ids[1], True), (ids[2], False), (ids[3], False)]
    )

    # An hour later: the delivered ones are not sent again, the failed ones are retried.
    again = remind_overdue(store, cfg, now=now + timedelta(hours=1), sleep=lambda _: None)
    assert {r.item for r in again if r.skipped} == {ids[0], ids[1]}
    assert len(receiver.on("/events")) == 1
    # A day later every overdue item is reminded again.
    later = remind_overdue(store, cfg, now=now + timedelta(days=1, minutes=1), sleep=lambda _: None)
    assert not any(r.skipped for r in later) and len(receiver.on("/events")) == 2


def test_owner_lookup_and_the_cli(
    store: Store,
    open_incident: Callable[..., str],
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    path = tmp_path / "system.yaml"
    cfg = _config(receiver, monkeypatch, path, str(store.url.render_as_string(hide_password=False)))
    assert [c.name for c in owner_channels(cfg, "ml-ops")] == ["team-hook"]
    assert [c.name for c in owner_channels(cfg, "person:alice")] == ["alice-hook"]
    assert [c.name for c in owner_channels(cfg, "gone-hook")] == ["gone-hook"]
    with pytest.raises(LookupError, match="'team:nope'"):
        owner_channels(cfg, "team:nope")

    key = open_incident()
    with store.session() as s:
        item = add_action(s, key, "Add a contract", "ml-ops", "pm", due_at=T0)
        item_id = item.id
    monkeypatch.setattr(cli._common, "console", Console(width=220, soft_wrap=True))
    runner = CliRunner()
    res = runner.invoke(
        cli.app, ["actions", "remind", "--config", str(path), "--now", "2026-03-05T00:00:00Z", "--json"]
    )
    assert res.exit_code == 0, res.output
    assert [(r["item"], r["channel"], r["ok"]) for r in json.loads(res.output)] == [(item_id, "team-hook", True)]
    assert len(receiver.on("/events")) == 1
    monkeypatch.setenv("TEST_TEAM_HOOK", f"{receiver.url}/no-such-hook")
    res = runner.invoke(
        cli.app, ["actions", "remind", "--config", str(path), "--now", "2026-03-07T00:00:00Z", "--every", "1h"]
    )
    assert res.exit_code == 1 and "FAILED" in res.output
