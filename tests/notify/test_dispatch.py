"""Delivery against real receivers: one message per incident per channel, updated, retried, recorded."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import ValidationError
from tests.notify.conftest import Mailbox, Receiver, set_severity

from rcaflows.config.models import ChannelConfig
from rcaflows.incidents import Action, EventKind, Store, events, get_incident, transition
from rcaflows.incidents.models import NotificationRecord, NotificationStatus
from rcaflows.notify import DeliveryMode, EventAction, dispatch, notifications, notify_incident_changed, registered


def no_sleep(_: float) -> None:
    pass


def channels_for(
    receiver: Receiver, mailbox: Mailbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, ChannelConfig]:
    """Return one configured channel of every kind, all pointing at the local receivers."""
    monkeypatch.setenv("TEST_SLACK_TOKEN", "xoxb-test")
    monkeypatch.setenv("TEST_WEBHOOK_URL", f"{receiver.url}/events")
    monkeypatch.setenv("TEST_PD_KEY", "R0UT1NGKEY0123456789abcdef012345")
    return {
        "pagerduty": ChannelConfig(
            name="pagerduty",
            kind="pagerduty",
            settings={"routing_key_env": "TEST_PD_KEY", "events_url": f"{receiver.url}/v2/enqueue"},
        ),
        "console": ChannelConfig(name="console", kind="console"),
        "file": ChannelConfig(name="file", kind="file", path=str(tmp_path / "notes.jsonl")),
        "slack": ChannelConfig(
            name="slack", kind="slack", token_env="TEST_SLACK_TOKEN", slack_channel="C42", api_url=f"{receiver.url}/api"
        ),
        "webhook": ChannelConfig(name="webhook", kind="webhook", url_env="TEST_WEBHOOK_URL"),
        "email": ChannelConfig(
            name="email",
            kind="email",
            smtp_host=mailbox.host,
            smtp_port=mailbox.port,
            smtp_from="rcaflows@example.org",
            to=["oncall@example.org"],
            smtp_tls="none",  # the local test server speaks plain SMTP (no credentials are sent)
        ),
    }


@pytest.mark.parametrize("kind", sorted(registered()))
def test_contract_first_post_then_update_then_skip(
    kind: str,
    store: Store,
    open_incident: Callable[..., str],
    receiver: Receiver,
    mailbox: Mailbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    every = channels_for(receiver, mailbox, tmp_path, monkeypatch)
    assert set(every) == set(registered()), "give every registered notifier a channel in channels_for"
    ch = every[kind]
    key = open_incident()
    first = dispatch(store, key, [ch], "opened", "test", sleep=no_sleep)
    assert [r.ok for r in first] == [True] and first[0].action is EventAction.TRIGGER
    again = dispatch(store, key, [ch], "opened again", "test", sleep=no_sleep)
    assert again[0].mode is DeliveryMode.SKIPPED  # nothing changed: not re-posted
    set_severity(store, key, "critical")
    update = notify_incident_changed(store, key, reason="severity raised")
    assert update[0].ok and update[0].action is EventAction.UPDATE and update[0].mode is not DeliveryMode.POST
    with store.session(readonly=True) as s:
        (rec,) = notifications(s, key)
        assert rec.channel == kind and rec.deliveries == 2 and rec.status is NotificationStatus.SENT
        assert rec.last_message["severity"] == "critical"
        kinds = [e.kind for e in events(s, key)]
    assert kinds.count(EventKind.NOTIFICATION) == 2  # the skip is not an event
    forced = dispatch(store, key, [ch], "escalation level 1", "escalation", sleep=no_sleep, force=True)
    assert forced[0].ok and forced[0].mode is not DeliveryMode.SKIPPED  # an escalation always goes out


def test_slack_api_edits_the_one_message(
    store: Store,
    open_incident: Callable[..., str],
    receiver: Receiver,
    mailbox: Mailbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ch = channels_for(receiver, mailbox, tmp_path, monkeypatch)["slack"]
    a, b = open_incident("feature-store"), open_incident("scoring-api")
    for key in (a, b):
        dispatch(store, key, [ch], "opened", "test", sleep=no_sleep)
    with store.session() as s:
        transition(s, a, Action.ACKNOWLEDGE, "user:alice")
    notify_incident_changed(store, a)
    with store.session() as s:
        transition(s, a, Action.RESOLVE, "user:alice", reason="fixed")
    res = notify_incident_changed(store, a)
    assert res[0].action is EventAction.RESOLVE and res[0].mode is DeliveryMode.EDIT
    assert len(receiver.on("/api/chat.postMessage")) == 2  # one message per incident
    assert len(receiver.on("/api/chat.update")) == 2
    by_text = {m["text"].splitlines()[0]: m for m in receiver.slack_messages.values()}
    msg_a = next(m for t, m in by_text.items() if a in t)
    assert msg_a["edits"] == 2 and "state: resolved" in msg_a["text"]
    msg_b = next(m for t, m in by_text.items() if b in t)
    assert msg_b["edits"] == 0 and "state: triaged" in msg_b["text"]


@pytest.mark.parametrize("path", ["/hooks/plain", "/hooks/with-ts"])
def test_slack_webhook_posts_compact_update_in_thread(
    path: str, store: Store, open_incident: Callable[..., str], receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_HOOK", receiver.url + path)
    ch = ChannelConfig(name="chat", kind="slack", url_env="TEST_HOOK")
    key = open_incident()
    dispatch(store, key, [ch], "opened", "test", sleep=no_sleep)
    set_severity(store, key, "critical")
    (res,) = notify_incident_changed(store, key, reason="severity raised")
    assert res.mode is DeliveryMode.REPLY
    first, update = receiver.on(path)
    assert key in first.body["text"] and first.body["metadata"]["event_payload"]["incident"] == key
    assert update.body["text"].startswith(f"{key} update:") and "critical" in update.body["text"]
    if path == "/hooks/with-ts":
        assert update.body["thread_ts"] == res.external_id and res.external_id
    else:
        assert "thread_ts" not in update.body


def test_generic_webhook_keeps_one_dedup_key(
    store: Store,
    open_incident: Callable[..., str],
    receiver: Receiver,
    mailbox: Mailbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ch = channels_for(receiver, mailbox, tmp_path, monkeypatch)["webhook"]
    key = open_incident()
    dispatch(store, key, [ch], "opened", "test", sleep=no_sleep)
    with store.session() as s:
        transition(s, key, Action.ACKNOWLEDGE, "user:bob")
    notify_incident_changed(store, key)
    with store.session() as s:
        transition(s, key, Action.RESOLVE, "user:bob")
    notify_incident_changed(store, key)
    bodies = [r.body for r in receiver.on("/events")]
    assert [b["event_action"] for b in bodies] == ["trigger", "update", "resolve"]
    assert len({b["dedup_key"] for b in bodies}) == 1 and key in bodies[0]["dedup_key"]
    assert bodies[0]["payload"]["severity"] == "error" and bodies[2]["payload"]["custom_details"]["state"] == "resolved"


def test_email_replies_thread_onto_the_first_mail(
    store: Store,
    open_incident: Callable[..., str],
    receiver: Receiver,
    mailbox: Mailbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ch = channels_for(receiver, mailbox, tmp_path, monkeypatch)["email"]
    key = open_incident()
    dispatch(store, key, [ch], "opened", "test", sleep=no_sleep)
    for action in (Action.ACKNOWLEDGE, Action.RESOLVE):
        with store.session() as s:
            transition(s, key, action, "user:carol")
        notify_incident_changed(store, key)
    first, *replies = mailbox.mails
    assert len(replies) == 2 and key in first["Subject"] and first["In-Reply-To"] is None
    for reply in replies:
        assert reply["Subject"] == f"Re: {first['Subject']}"
        assert reply["In-Reply-To"] == first["Message-ID"] and reply["References"] == first["Message-ID"]
        assert reply["Message-ID"] != first["Message-ID"]
    assert "state: resolved" in replies[-1].get_payload()


def test_transient_failures_are_retried_with_backoff_then_succeed(
    store: Store,
    open_incident: Callable[..., str],
    receiver: Receiver,
    mailbox: Mailbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TEST_FLAKY", f"{receiver.url}/flaky")
    receiver.failures["/flaky"] = 2
    mailbox.fail_next = 1
    hook = ChannelConfig(name="flaky", kind="webhook", url_env="TEST_FLAKY", retries=3, backoff=0.5)
    mail = ChannelConfig(
        name="mail",
        kind="email",
        smtp_host=mailbox.host,
        smtp_port=mailbox.port,
        smtp_from="r@example.org",
        to=["x@example.org"],
        smtp_tls="none",
        retries=1,
        backoff=0.1,
    )
    delays: list[float] = []
    key = open_incident()
    res = dispatch(store, key, [hook, mail], "opened", "test", sleep=delays.append)
    assert [(r.ok, r.attempts) for r in res] == [(True, 3), (True, 2)]
    assert delays == [0.5, 1.0, 0.1]  # exponential per channel, bounded by retries
    assert len(receiver.on("/flaky")) == 3 and len(mailbox.mails) == 1
    with store.session(readonly=True) as s:
        recs = {r.channel: r for r in notifications(s, key)}
    assert (
        recs["flaky"].attempts == 3
        and recs["flaky"].status is NotificationStatus.SENT
        and recs["flaky"].last_error is None
    )


def test_permanent_failure_is_recorded_and_does_not_block_the_transition(
    store: Store, open_incident: Callable[..., str], receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_GONE", f"{receiver.url}/gone")
    ch = ChannelConfig(name="gone", kind="webhook", url_env="TEST_GONE", retries=3)
    key = open_incident()
    with store.session() as s:
        transition(s, key, Action.ACKNOWLEDGE, "user:dave")
    (res,) = dispatch(store, key, [ch], "acknowledged", "test", sleep=no_sleep)
    assert not res.ok and res.attempts == 1 and "HTTP 404" in (res.error or "")  # a 4xx is not retried
    assert "/gone" not in (res.error or "")  # the URL's path (the secret part) is not leaked
    with store.session() as s:
        assert get_incident(s, key).state.value == "acknowledged"
        (rec,) = notifications(s, key)
        assert rec.status is NotificationStatus.FAILED and "404" in (rec.last_error or "")
        ev = [e for e in events(s, key) if e.kind is EventKind.NOTIFICATION][-1]
        assert ev.payload["ok"] is False and ev.payload["channel"] == "gone"
        transition(s, key, Action.RESOLVE, "user:dave")  # the failure blocks nothing
    # a later update on a channel that never got the first message is still a first message
    monkeypatch.setenv("TEST_GONE", f"{receiver.url}/events")
    (res,) = notify_incident_changed(store, key)
    assert res.ok and res.mode is DeliveryMode.EVENT and receiver.on("/events")[0].body["event_action"] == "resolve"


def test_unreachable_webhook_is_retried_boundedly_and_recorded(
    store: Store, open_incident: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.notify.conftest import free_port

    monkeypatch.setenv("TEST_DOWN", f"http://127.0.0.1:{free_port()}/hook")
    ch = ChannelConfig(name="down", kind="webhook", url_env="TEST_DOWN", retries=2, timeout=2)
    key = open_incident()
    (res,) = dispatch(store, key, [ch], "opened", "test", sleep=no_sleep)
    assert not res.ok and res.attempts == 3 and "cannot reach" in (res.error or "")
    with store.session(readonly=True) as s:
        (rec,) = notifications(s, key)
        assert rec.status is NotificationStatus.FAILED and rec.deliveries == 0 and rec.attempts == 3


def test_missing_secret_and_unknown_channel_are_recorded_not_raised(
    store: Store, open_incident: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    ch = ChannelConfig(name="nosecret", kind="webhook", url_env="NOT_SET_ANYWHERE")
    key = open_incident()
    res = dispatch(store, key, [ch, "nowhere"], "opened", "test", sleep=no_sleep)
    assert [r.ok for r in res] == [False, False]
    assert "NOT_SET_ANYWHERE" in (res[0].error or "") and res[0].attempts == 1
    assert "unknown notification channel 'nowhere'" in (res[1].error or "")
    with store.session(readonly=True) as s:
        evs = [e.payload["channel"] for e in events(s, key) if e.kind is EventKind.NOTIFICATION]
        n = s.scalar(sa.select(sa.func.count()).select_from(NotificationRecord))
    assert evs == ["nosecret", "nowhere"] and n == 1


@pytest.mark.parametrize(
    ("fields", "needs"),
    [
        ({"kind": "webhook"}, "url_env"),
        ({"kind": "slack"}, "token_env"),
        ({"kind": "file"}, "path"),
        ({"kind": "email", "smtp_host": "localhost"}, "smtp_from, to"),
        ({"kind": "webhook", "url": "https://hooks.example/secret"}, "url"),  # literal secrets are refused
    ],
)
def test_channel_config_is_validated(fields: dict[str, Any], needs: str) -> None:
    with pytest.raises(ValidationError, match=needs):
        ChannelConfig(name="c", **fields)


@pytest.mark.parametrize("path", ["/echo/T000/B000/XXXXsecretXXXX", "/echo/fail500/tok?key=XXXXsecretXXXX"])
def test_receiver_errors_echoing_the_secret_are_stored_redacted(
    path: str, store: Store, open_incident: Callable[..., str], receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_ECHO", f"{receiver.url}{path}")
    ch = ChannelConfig(name="echo", kind="webhook", url_env="TEST_ECHO", retries=1)
    key = open_incident()
    (res,) = dispatch(store, key, [ch], "opened", "test", sleep=no_sleep)
    assert not res.ok and "unknown hook ***" in (res.error or "")
    with store.session(readonly=True) as s:
        (rec,) = notifications(s, key)
        stored = [rec.last_error or "", *(str(e.payload) for e in events(s, key))]
    assert not any("XXXXsecretXXXX" in x for x in stored)
    assert "unknown hook ***" in (rec.last_error or "")


def test_slack_token_echoed_by_the_api_is_stored_redacted(
    store: Store, open_incident: Callable[..., str], receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_SLACK_TOKEN", "xoxb-XXXXsecretXXXX")
    ch = ChannelConfig(
        name="slack", kind="slack", token_env="TEST_SLACK_TOKEN", slack_channel="C1", api_url=f"{receiver.url}/echo"
    )
    key = open_incident()
    (res,) = dispatch(store, key, [ch], "opened", "test", sleep=no_sleep)
    assert not res.ok and "XXXXsecretXXXX" not in (res.error or "") and "auth ***" in (res.error or "")
