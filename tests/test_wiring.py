"""The wiring: the store's lifecycle events reach escalation, notification and post-mortem drafting.

A real SQLite store, the bundled demo config with a file channel under the test's directory, and
the real subscribers; nothing of ours is mocked.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from rcaflows import wiring
from rcaflows.config import SystemConfig, load_config
from rcaflows.config.models import ChannelConfig
from rcaflows.incidents import (
    Action,
    EventKind,
    NewIncident,
    Store,
    acknowledge,
    events,
    get_incident,
    open_or_touch,
    resolve,
    transition,
)
from rcaflows.incidents.lifecycle_events import bus
from rcaflows.notify import notifications
from rcaflows.vocab import IncidentState

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(f"sqlite:///{tmp_path / 'incidents.db'}")
    s.create_all()
    yield s
    s.dispose()


def _config(tmp_path: Path, reports: Path) -> SystemConfig:
    cfg = load_config()
    channel = ChannelConfig(name="ml-file", kind="file", path=str(tmp_path / "ml.log"))
    return cfg.model_copy(
        update={"notifications": [channel], "rca": cfg.rca.model_copy(update={"reports_dir": str(reports)})}
    )


def _new() -> NewIncident:
    return NewIncident(
        system="fraud-scoring",
        type="data_quality",
        subtype="null_rate",
        component="feature_store",
        metric="null_rate",
        title="null rate 14% (baseline 0.2%)",
        severity="high",
        priority="P2",
        team="ml-platform",
        detected_at=T0,
        details={"channels": ["ml-file"]},
    )


def _lines(tmp_path: Path) -> list[dict]:
    return [json.loads(x) for x in (tmp_path / "ml.log").read_text().splitlines()]


def test_install_subscribes_each_side_effect_once() -> None:
    wiring.install()
    wiring.install()
    subs = {s.name: s for s in bus.subscriptions()}
    assert {"escalation", "notify", "postmortem"} <= set(subs)
    assert not subs["escalation"].outbound and subs["notify"].outbound and subs["postmortem"].outbound


def test_open_ack_and_resolve_notify_and_draft_without_the_caller_asking(store: Store, tmp_path: Path) -> None:
    cfg = _config(tmp_path, tmp_path / "reports")
    with wiring.scope(cfg) as sc:
        with store.session() as s:
            inc, _ = open_or_touch(s, _new())
            transition(s, inc, Action.TRIAGE, "detection")  # an engine step: no message of its own
            key = inc.key
        assert [x["action"] for x in _lines(tmp_path)] == ["trigger"]
        with store.session() as s:
            acknowledge(s, key, "user:alice", at=T0 + timedelta(minutes=5))
        with store.session() as s:
            resolve(s, key, "user:alice", reason="fixed", at=T0 + timedelta(minutes=30))
    assert [x["action"] for x in _lines(tmp_path)] == ["trigger", "update", "resolve"]
    assert sc.failures() == []
    (paths,) = [p for p in sc.results("postmortem") if p is not None]
    assert paths.markdown == tmp_path / "reports" / f"{key}-postmortem.md"
    assert f"# Post-mortem (draft): {key}" in paths.markdown.read_text(encoding="utf-8")
    with store.session(readonly=True) as s:
        (rec,) = notifications(s, key)
        log = events(s, key)
    assert rec.deliveries == 3 and rec.last_message["state"] == "resolved"
    assert [e.payload["postmortem"] for e in log if e.kind is EventKind.REPORT] == [str(paths.markdown)]


def test_without_a_scope_the_engine_changes_state_and_messages_nobody(store: Store, tmp_path: Path) -> None:
    wiring.install()
    with store.session() as s:
        inc, _ = open_or_touch(s, _new())
        key = inc.key
    with store.session() as s:
        resolve(s, key, "backtest", reason="fixed")
    assert not (tmp_path / "ml.log").exists()
    assert not list(tmp_path.glob("**/*-postmortem.md"))


def test_a_failing_post_mortem_is_audited_and_the_resolution_and_messages_stand(store: Store, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the reports directory should be")
    cfg = _config(tmp_path, blocker / "reports")
    with wiring.scope(cfg) as sc:
        with store.session() as s:
            inc, _ = open_or_touch(s, _new())
            key = inc.key
        with store.session() as s:
            resolve(s, key, "user:alice", reason="fixed", at=T0 + timedelta(minutes=30))
    (failure,) = sc.failures()
    assert failure.subscriber == "postmortem" and failure.event.key == key
    with store.session(readonly=True) as s:
        assert get_incident(s, key).state is IncidentState.RESOLVED
        audited = [e.payload for e in events(s, key) if e.kind is EventKind.SUBSCRIBER_FAILED]
    assert [(a["subscriber"], a["action"]) for a in audited] == [("postmortem", "resolve")]
    assert [x["action"] for x in _lines(tmp_path)] == ["trigger", "resolve"]  # notification ran before it


def test_a_merged_duplicate_gets_no_post_mortem(store: Store, tmp_path: Path) -> None:
    from rcaflows.incidents import merge

    cfg = _config(tmp_path, tmp_path / "reports")
    with wiring.scope(cfg) as sc:
        with store.session() as s:
            a, _ = open_or_touch(s, _new())
            b, _ = open_or_touch(s, _new().model_copy(update={"fingerprint": "other"}))
            ka, kb = a.key, b.key
        with store.session() as s:
            merge(s, kb, ka, "user:alice", at=T0 + timedelta(minutes=1))
    assert [p for p in sc.results("postmortem") if p is not None] == []
    assert {x["dedup_key"].rsplit("/", 1)[1] for x in _lines(tmp_path) if x["action"] == "resolve"} == {kb}
