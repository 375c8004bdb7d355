"""The notifier contract, run over every registered notifier against real receivers on localhost.

A notifier registered by name must: post the first message of an incident, deliver an update onto
the same thread (edit, reply or keyed event: never a second thread), and raise DeliveryError when its
receiver refuses. ``channels_for`` (test_dispatch) must give every registered notifier a channel, so
a new notifier without a case here fails this test instead of going untested.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import BaseModel
from tests.notify.conftest import Mailbox, Receiver
from tests.notify.test_dispatch import channels_for

from rcaflows.config import load_config
from rcaflows.config.models import ChannelConfig
from rcaflows.incidents import Store
from rcaflows.notify import (
    Delivered,
    DeliveryError,
    DeliveryMode,
    EventAction,
    Message,
    Notifier,
    NotifyError,
    Previous,
    dispatch,
    notifier_for,
    register,
    registered,
)
from rcaflows.notify.base import _REGISTRY, channel_problems, secret_values

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def message(action: EventAction = EventAction.TRIGGER, state: str = "triaged", severity: str = "high") -> Message:
    return Message(
        incident_key="INC-0007",
        dedup_key="rcaflows/fraud-scoring/INC-0007",
        system="fraud-scoring",
        title="feature-store: txn_amount null rate 14%",
        state=state,
        severity=severity,
        priority="P2",
        team="data-eng",
        component="feature-store",
        detected_at=T0,
        report="https://reports.example/rca/INC-0007-rca-1.html",
        action=action,
        reason="test",
    )


def observed(kind: str, receiver: Receiver, mailbox: Mailbox, tmp_path: Path, capsys: Any) -> list[str]:
    """Return the text of every delivery the receiver of ``kind`` got, oldest first."""
    if kind == "console":
        return [line for line in capsys.readouterr().err.splitlines() if line.startswith("[rcaflows]")]
    if kind == "file":
        return [json.loads(line)["text"] for line in (tmp_path / "notes.jsonl").read_text().splitlines()]
    if kind == "email":
        return [f"{m['Subject']}\n{m.get_payload()}" for m in mailbox.mails]
    if kind == "slack":  # posted once, then edited: the one message's text, once per edit or post
        return [m["text"] for m in receiver.slack_messages.values() for _ in range(m["edits"] + 1)]
    if kind == "webhook":
        return [r.body["payload"]["summary"] for r in receiver.on("/events")]
    if kind == "pagerduty":
        return [
            f"{r.body['event_action']} {r.body['dedup_key']} {r.body['payload']}" for r in receiver.on("/v2/enqueue")
        ]
    raise AssertionError(f"no observer for notifier {kind!r}: add one here")


def broken(kind: str, ch: ChannelConfig, tmp_path: Path, receiver: Receiver) -> tuple[ChannelConfig, bool] | None:
    """Return ``(channel whose receiver refuses, transient?)``; None for the console, which cannot refuse."""
    if kind == "console":
        return None
    if kind == "file":
        (tmp_path / "a-dir").mkdir(exist_ok=True)
        return ch.model_copy(update={"path": str(tmp_path / "a-dir")}), False
    if kind == "email":
        return ch.model_copy(update={"smtp_port": 1}), True  # nothing listens: connection refused
    if kind == "slack":
        return ch.model_copy(update={"api_url": f"{receiver.url}/nowhere"}), False  # HTTP 404
    if kind == "webhook":
        return ch.model_copy(update={"url_env": "TEST_BROKEN_URL"}), True  # answers 500
    if kind == "pagerduty":
        settings = {**ch.settings, "routing_key_env": "TEST_PD_SHORT_KEY"}
        return ch.model_copy(update={"settings": settings}), False  # PagerDuty answers 400 to a bad key
    raise AssertionError(f"no refusing receiver for notifier {kind!r}: add one here")


@pytest.mark.parametrize("kind", sorted(registered()))
def test_every_registered_notifier_keeps_one_thread_and_reports_refusals(
    kind: str,
    receiver: Receiver,
    mailbox: Mailbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: Any,
) -> None:
    every = channels_for(receiver, mailbox, tmp_path, monkeypatch)
    assert set(every) == set(registered()), "give every registered notifier a channel in channels_for"
    ch = every[kind]
    notifier = notifier_for(ch)
    assert isinstance(notifier, Notifier) and type(notifier).kind == kind

    first = notifier.send(message(), None)
    assert first.mode in (DeliveryMode.POST, DeliveryMode.EVENT) and first.external_id
    previous = Previous(external_id=first.external_id, thread_id=first.thread_id, deliveries=1)
    update = notifier.send(message(EventAction.UPDATE, state="investigating", severity="critical"), previous)
    assert update.mode in (DeliveryMode.EDIT, DeliveryMode.REPLY, DeliveryMode.EVENT)
    assert update.external_id == first.external_id  # the same thread, not a second one
    seen = observed(kind, receiver, mailbox, tmp_path, capsys)
    assert len(seen) == 2 and all("INC-0007" in text for text in seen), seen
    assert "critical" in seen[-1].lower() or "investigating" in seen[-1]

    refusing = broken(kind, ch, tmp_path, receiver)
    if refusing is None:
        return
    bad, transient = refusing
    monkeypatch.setenv("TEST_BROKEN_URL", f"{receiver.url}/echo/fail500")
    monkeypatch.setenv("TEST_PD_SHORT_KEY", "too-short")
    with pytest.raises(DeliveryError) as err:
        notifier_for(bad.model_copy(update={"timeout": 2.0})).send(message(), None)
    assert err.value.transient is transient
    assert repr(ch.name) in str(err.value)  # the error names the channel


def test_pagerduty_event_carries_actions_links_and_no_secret(
    store: Store,
    open_incident: Callable[..., str],
    receiver: Receiver,
    mailbox: Mailbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ch = channels_for(receiver, mailbox, tmp_path, monkeypatch)["pagerduty"]
    n = notifier_for(ch)
    n.send(message(), None)
    n.send(message(EventAction.UPDATE, state="acknowledged"), Previous(external_id="rcaflows/fraud-scoring/INC-0007"))
    n.send(message(EventAction.RESOLVE, state="resolved"), Previous(external_id="rcaflows/fraud-scoring/INC-0007"))
    got = receiver.on("/v2/enqueue")
    assert [r.body["event_action"] for r in got] == ["trigger", "acknowledge", "resolve"]
    assert {r.body["dedup_key"] for r in got} == {"rcaflows/fraud-scoring/INC-0007"}
    assert got[0].body["links"] == [{"href": "https://reports.example/rca/INC-0007-rca-1.html", "text": "RCA report"}]
    assert got[0].body["payload"]["severity"] == "error" and got[0].body["payload"]["group"] == "data-eng"
    # the integration key named by a *_env setting is redacted from stored errors like the built-in secrets
    assert "R0UT1NGKEY0123456789abcdef012345" in secret_values(ch)
    echo_url = f"{receiver.url}/echo-body/x"
    echo = ch.model_copy(update={"settings": {**ch.settings, "events_url": echo_url}, "retries": 0})
    key = open_incident()
    (result,) = dispatch(store, key, [echo], "opened", "test", sleep=lambda _: None)
    assert not result.ok and "answered HTTP 400" in (result.error or "") and "routing_key" in (result.error or "")
    assert "R0UT1NGKEY" not in (result.error or "") and "***" in (result.error or "")


def test_unknown_kind_names_the_field_and_the_known_kinds(store: Store, open_incident: Callable[..., str]) -> None:
    ch = ChannelConfig(name="ops-teams", kind="msteams")
    with pytest.raises(NotifyError) as err:
        notifier_for(ch)
    text = str(err.value)
    assert "notifications[ops-teams].kind: unknown notifier kind 'msteams'" in text
    for known in registered():
        assert known in text
    key = open_incident()
    (result,) = dispatch(store, key, [ch], "opened", "test", sleep=lambda _: None)
    assert not result.ok and result.kind == "msteams" and "known kinds: console, email" in (result.error or "")


def test_settings_are_validated_by_the_notifiers_own_model() -> None:
    missing = ChannelConfig(name="pd", kind="pagerduty", settings={"events_url": "http://127.0.0.1:9/x"})
    with pytest.raises(NotifyError, match=r"notifications\[pd\]\.settings: .*routing_key_env"):
        notifier_for(missing)
    typo = ChannelConfig(name="pd", kind="pagerduty", settings={"routing_key_env": "K", "routing_kye": "x"})
    with pytest.raises(NotifyError, match=r"notifications\[pd\]\.settings\.routing_kye: unknown setting"):
        notifier_for(typo)
    builtin = ChannelConfig(name="log", kind="console", settings={"colour": True})
    with pytest.raises(NotifyError, match=r"notifications\[log\]\.settings: notifier 'console' takes no 'settings'"):
        notifier_for(builtin)


def test_channel_problems_give_field_paths_for_validate() -> None:
    cfg = load_config(Path(__file__).parents[2] / "examples" / "ticket_routing" / "system.yaml")
    assert channel_problems(cfg) == []  # every shipped config stays valid
    extra = [
        ChannelConfig(name="teams", kind="msteams"),
        ChannelConfig(name="pd", kind="pagerduty", settings={"routing_key_env": "K", "colour": 1}),
    ]
    bad = cfg.model_copy(update={"notifications": [*cfg.notifications, *extra]})
    n = len(cfg.notifications)
    problems = dict(channel_problems(bad))
    assert set(problems) == {("notifications", n, "kind"), ("notifications", n + 1, "settings", "colour")}
    assert "unknown notifier kind 'msteams'" in problems[("notifications", n, "kind")]
    assert "known kinds: console, email, file, pagerduty, slack, webhook" in problems[("notifications", n, "kind")]


def test_a_new_notifier_is_one_class_and_a_registry_entry(
    store: Store, open_incident: Callable[..., str], tmp_path: Path
) -> None:
    class Settings(BaseModel):
        model_config = {"extra": "forbid"}
        directory: str

    class DirNotifier:
        """Write each message to its own file: the smallest notifier with settings of its own."""

        kind: ClassVar[str] = "test-dir"
        settings_model: ClassVar[type[BaseModel]] = Settings

        def __init__(self, channel: ChannelConfig) -> None:
            from rcaflows.notify.base import channel_settings

            self.dir = Path(channel_settings(channel, Settings).directory)

        def send(self, message: Message, previous: Previous | None) -> Delivered:
            n = previous.deliveries if previous else 0
            (self.dir / f"{message.incident_key}-{n}.txt").write_text(message.text())
            return Delivered(mode=DeliveryMode.POST if previous is None else DeliveryMode.REPLY, external_id="x")

    register("test-dir")(DirNotifier)
    try:
        with pytest.raises(TypeError, match="already registered"):
            register("test-dir")(type("Other", (DirNotifier,), {}))
        with pytest.raises(TypeError, match="declares kind 'test-dir'"):
            register("another")(DirNotifier)
        ch = ChannelConfig(name="dir", kind="test-dir", settings={"directory": str(tmp_path)})
        key = open_incident()
        (result,) = dispatch(store, key, [ch], "opened", "test", sleep=lambda _: None)
        assert result.ok and result.kind == "test-dir"
        assert key in (tmp_path / f"{key}-0.txt").read_text()
    finally:
        _REGISTRY.pop("test-dir", None)
