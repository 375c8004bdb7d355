"""Fault injection: notification receivers that fail, then accept, while detection runs end to end.

Detection (:func:`rcaflows.pipeline.detect_and_open`) reads a real ``files`` source plus one that
cannot be read, opens one availability incident in a real SQLite store, and the wiring delivers
it to three real receivers on localhost: a webhook answering 503 twice, an SMTP server answering
451 once, and a webhook whose port refuses connections until a server starts on it. Nothing of
rcaflows is mocked; retries sleep for real (backoffs are tiny).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from tests.detection.detection_data import END, metric_frame
from tests.notify.conftest import Mailbox, Receiver, _Handler, free_port

from rcaflows import pipeline, wiring
from rcaflows.config import load_config
from rcaflows.config.models import ChannelConfig, SourceConfig, SystemConfig
from rcaflows.incidents import EventKind, Store, events, get_incident
from rcaflows.incidents.models import NotificationStatus
from rcaflows.notify import notifications
from rcaflows.vocab import IncidentState


def start_receiver(port: int) -> tuple[Receiver, ThreadingHTTPServer]:
    """Start the tests' HTTP receiver on ``port`` (a port that refused connections until now)."""
    handler = type("Handler", (_Handler,), {})
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    rcv = Receiver(url=f"http://127.0.0.1:{port}")
    handler.receiver = rcv
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return rcv, server


@pytest.fixture
def late_port() -> Iterator[dict[str, object]]:
    """Return a free port nobody listens on yet; a receiver started on it later is stopped after the test."""
    state: dict[str, object] = {"port": free_port()}
    yield state
    server = state.get("server")
    if isinstance(server, ThreadingHTTPServer):
        server.shutdown()
        server.server_close()


def system(
    tmp_path: Path, receiver: Receiver, mailbox: Mailbox, down_port: int, mp: pytest.MonkeyPatch
) -> SystemConfig:
    """Return the demo system on a ``files`` source, a ``legacy`` source not there yet, and three remote channels."""
    cfg = load_config()
    frame = metric_frame(cfg, np.random.default_rng(5))
    legacy_comp = sorted(frame["component"].unique())[-1]
    feed = tmp_path / "feed"
    feed.mkdir()
    frame[frame["component"] != legacy_comp].to_parquet(feed / "metrics.parquet", index=False)
    # What ``legacy`` will serve once its directory exists (see ``restore_legacy``).
    frame[frame["component"] == legacy_comp].to_parquet(tmp_path / "legacy.parquet", index=False)
    mp.setenv("TEST_HOOK_URL", f"{receiver.url}/flaky")
    mp.setenv("TEST_DOWN_URL", f"http://127.0.0.1:{down_port}/events")
    channels = [
        ChannelConfig(name="hook", kind="webhook", url_env="TEST_HOOK_URL", retries=3, backoff=0.01),
        ChannelConfig(
            name="mail",
            kind="email",
            smtp_host=mailbox.host,
            smtp_port=mailbox.port,
            smtp_from="rcaflows@example.org",
            to=["oncall@example.org"],
            smtp_tls="none",
            retries=2,
            backoff=0.01,
        ),
        ChannelConfig(name="down", kind="webhook", url_env="TEST_DOWN_URL", retries=1, backoff=0.01, timeout=2),
    ]
    sources = [
        SourceConfig(name="feed", kind="files", options={"directory": str(feed)}),
        SourceConfig(name="legacy", kind="files", retries=0, options={"directory": str(tmp_path / "legacy")}),
    ]
    communication = cfg.communication.model_copy(
        update={
            "audiences": [],
            "regulatory": [],
            "status_page": cfg.communication.status_page.model_copy(update={"directory": str(tmp_path / "status")}),
        }
    )
    return cfg.model_copy(
        update={
            "sources": sources,
            "models": [],
            "notifications": channels,
            "teams": [t.model_copy(update={"channels": ["hook", "mail", "down"]}) for t in cfg.teams],
            "communication": communication,
            "store": cfg.store.model_copy(update={"url": f"sqlite:///{tmp_path / 'incidents.db'}"}),
            "rca": cfg.rca.model_copy(update={"reports_dir": str(tmp_path / "reports")}),
        }
    )


def restore_legacy(tmp_path: Path) -> None:
    """Make the ``legacy`` source readable: its directory appears with its component's series."""
    (tmp_path / "legacy").mkdir()
    (tmp_path / "legacy.parquet").rename(tmp_path / "legacy" / "metrics.parquet")


def test_failing_receivers_get_each_message_once_and_the_incident_is_unaffected(
    tmp_path: Path, receiver: Receiver, mailbox: Mailbox, late_port: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    port = late_port["port"]
    assert isinstance(port, int)
    cfg = system(tmp_path, receiver, mailbox, port, monkeypatch)
    receiver.failures["/flaky"] = 2  # 503 twice, then 202
    mailbox.fail_next = 1  # 451 once, then 250
    store = Store.from_url(cfg.store.url)
    store.create_all()

    # 1. The legacy source cannot be read: one incident opens and goes out to the three channels.
    with wiring.scope(cfg) as sc:
        first = pipeline.detect_and_open(store, cfg, END)
    assert [(o.component, o.subtype, o.action) for o in first.outcome.incidents] == [
        ("source:legacy", "unreadable", "opened")
    ]
    key = first.outcome.incidents[0].key
    assert sc.failures() == []  # a failed delivery is recorded, not a subscriber failure
    assert len(receiver.on("/flaky")) == 3  # two refusals and the accepted one
    assert [r.body["event_action"] for r in receiver.on("/flaky")] == ["trigger"] * 3
    assert len(mailbox.mails) == 1 and key in str(mailbox.mails[0]["Subject"])
    with store.session(readonly=True) as s:
        inc = get_incident(s, key)
        assert inc.state is IncidentState.TRIAGED and inc.details["channels"] == ["hook", "mail", "down"]
        recs = {r.channel: r for r in notifications(s, key)}
        sent = [e.payload for e in events(s, key) if e.kind is EventKind.NOTIFICATION]
    assert {c: (r.status, r.attempts, r.deliveries) for c, r in recs.items()} == {
        "hook": (NotificationStatus.SENT, 3, 1),
        "mail": (NotificationStatus.SENT, 2, 1),
        "down": (NotificationStatus.FAILED, 2, 0),
    }
    assert "cannot reach" in (recs["down"].last_error or "")
    # One audit event per channel and delivery, each with the attempts it took.
    assert sorted((p["channel"], p["action"], p["ok"], p["attempts"]) for p in sent) == [
        ("down", "trigger", False, 2),
        ("hook", "trigger", True, 3),
        ("mail", "trigger", True, 2),
    ]

    # 2. Still unreadable: the same incident, deduplicated; nothing is sent again.
    with wiring.scope(cfg) as sc:
        again = pipeline.detect_and_open(store, cfg, END)
    assert [(o.key, o.action) for o in again.outcome.incidents] == [(key, "deduplicated")]
    assert sc.failures() == []
    assert len(receiver.on("/flaky")) == 3 and len(mailbox.mails) == 1

    # 3. The source is back and so is the receiver that refused connections: the incident resolves,
    # each channel gets one resolve message, and the one that never got the opening gets this one.
    restore_legacy(tmp_path)
    down, server = start_receiver(port)
    late_port["server"] = server
    with wiring.scope(cfg) as sc:
        back = pipeline.detect_and_open(store, cfg, END)
    assert back.outcome.resolved == [key] and back.outcome.incidents == []
    assert sc.failures() == []
    assert [r.body["event_action"] for r in receiver.on("/flaky")] == ["trigger"] * 3 + ["resolve"]
    assert [r.body["event_action"] for r in down.on("/events")] == ["resolve"]
    assert {r.body["dedup_key"] for r in [*receiver.on("/flaky"), *down.on("/events")]} == {
        receiver.on("/flaky")[0].body["dedup_key"]
    }
    assert len(mailbox.mails) == 2 and mailbox.mails[1]["In-Reply-To"] == mailbox.mails[0]["Message-ID"]
    with store.session(readonly=True) as s:
        inc = get_incident(s, key)
        assert inc.state is IncidentState.RESOLVED and inc.resolved_at == END
        recs = {r.channel: r for r in notifications(s, key)}
        sent = [e.payload for e in events(s, key) if e.kind is EventKind.NOTIFICATION]
        transitions = [e.payload["action"] for e in events(s, key) if e.kind is EventKind.TRANSITION]
    assert {c: (r.status, r.attempts, r.deliveries, r.last_error) for c, r in recs.items()} == {
        "hook": (NotificationStatus.SENT, 4, 2, None),
        "mail": (NotificationStatus.SENT, 3, 2, None),
        "down": (NotificationStatus.SENT, 3, 1, None),
    }
    assert sorted((p["channel"], p["action"], p["ok"], p["attempts"]) for p in sent) == [
        ("down", "resolve", True, 1),
        ("down", "trigger", False, 2),
        ("hook", "resolve", True, 1),
        ("hook", "trigger", True, 3),
        ("mail", "resolve", True, 1),
        ("mail", "trigger", True, 2),
    ]
    # The failures changed nothing in the lifecycle: triaged once, resolved once.
    assert sorted(transitions) == ["resolve", "triage"]
