"""The technical thread and the executive updates link to each other, over real receivers on localhost.

A Slack-compatible API (``chat.postMessage``, ``chat.update``, ``chat.getPermalink``), a webhook and an
SMTP server: a channel that gives a permalink (Slack) or a message id (mail: ``mid:``) is linked by it;
one that gives neither (a webhook) is linked by the incident's RCA report under ``rca.reports_base_url``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from email.message import Message as MailMessage
from pathlib import Path

import pytest
from tests.notify.conftest import T0, Mailbox, Receiver

from rcaflows.config.models import AudienceConfig, ChannelConfig, SystemConfig
from rcaflows.demo import demo_config
from rcaflows.incidents import EventKind, Store, acknowledge, events, finish_rca_run, start_rca_run
from rcaflows.notify import communicate, dispatch, notify_incident_changed


def no_sleep(_: float) -> None:
    pass


def _config(receiver: Receiver, mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch, executive: str) -> SystemConfig:
    """Return the demo config with an engineers' Slack, a leadership audience on ``executive``, a webhook."""
    monkeypatch.setenv("TEST_SLACK_TOKEN", "xoxb-test")
    monkeypatch.setenv("TEST_OPS_URL", f"{receiver.url}/events")
    cfg = demo_config("schema_change_nulls")

    def slack(name: str, channel: str) -> ChannelConfig:
        return ChannelConfig(
            name=name, kind="slack", token_env="TEST_SLACK_TOKEN", slack_channel=channel, api_url=f"{receiver.url}/api"
        )

    channels = [
        *cfg.notifications,
        slack("eng-slack", "CENG"),
        slack("exec-slack", "CEXEC"),
        ChannelConfig(name="ops-hook", kind="webhook", url_env="TEST_OPS_URL"),
        ChannelConfig(
            name="exec-mail",
            kind="email",
            smtp_host=mailbox.host,
            smtp_port=mailbox.port,
            smtp_from="rcaflows@example.org",
            to=["cfo@example.org"],
            smtp_tls="none",
        ),
    ]
    comm = cfg.communication.model_copy(
        update={
            "audiences": [AudienceConfig(name="leadership", kind="executive", channels=[executive])],
            "regulatory": [],
            "status_page": cfg.communication.status_page.model_copy(update={"directory": None}),
        }
    )
    rca = cfg.rca.model_copy(update={"reports_base_url": "https://reports.example/rca"})
    return cfg.model_copy(update={"notifications": channels, "communication": comm, "rca": rca})


def _mail_text(mail: MailMessage) -> str:
    raw = mail.get_payload(decode=True)
    assert isinstance(raw, bytes)
    return raw.decode("utf-8")


def _permalink(receiver: Receiver, channel: str) -> str:
    """Return the permalink the receiver gave for the first message posted to ``channel``."""
    ts = next(ts for ts, m in receiver.slack_messages.items() if m["channel"] == channel)
    return f"https://acme.slack.example/archives/{channel}/p{ts.replace('.', '')}"


def test_slack_threads_link_each_other_by_permalink(
    store: Store,
    open_incident: Callable[..., str],
    receiver: Receiver,
    mailbox: Mailbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cfg = _config(receiver, mailbox, monkeypatch, executive="exec-slack")
    key = open_incident("feature_store", details={"channels": ["eng-slack"]})
    dispatch(store, key, ["eng-slack"], "opened", "detection", config=cfg, sleep=no_sleep)
    technical = _permalink(receiver, "CENG")

    (update,) = communicate(store, cfg, key, at=T0 + timedelta(minutes=1), sleep=no_sleep)
    assert update.ok and update.audience == "leadership"
    exec_msg = next(m for m in receiver.slack_messages.values() if m["channel"] == "CEXEC")
    assert f"Technical thread: {technical}" in exec_msg["text"]  # the executive paragraph links the thread
    executive = _permalink(receiver, "CEXEC")
    with store.session(readonly=True) as s:
        links = [e.payload.get("link") for e in events(s, key) if e.kind is EventKind.NOTIFICATION]
    assert sorted(links) == sorted([technical, executive])  # each delivery records the link its channel gave

    with store.session() as s:
        acknowledge(s, key, "alice", at=T0 + timedelta(minutes=2))
    (changed,) = notify_incident_changed(store, key, config=cfg, sleep=no_sleep)
    assert changed.ok and changed.mode.value == "edit"
    eng_msg = next(m for m in receiver.slack_messages.values() if m["channel"] == "CENG")
    assert eng_msg["edits"] == 1 and f"executive update: {executive}" in eng_msg["text"]
    assert f"technical thread: {technical}" not in eng_msg["text"]  # a thread never links to itself

    # the next executive update is edited in place: its link stays the first post's permalink
    (again,) = communicate(store, cfg, key, at=T0 + timedelta(minutes=3), sleep=no_sleep)
    assert again.ok and exec_msg["edits"] == 1 and f"Technical thread: {technical}" in exec_msg["text"]


def test_without_permalinks_mail_ids_and_the_report_url_link_the_sides(
    store: Store,
    open_incident: Callable[..., str],
    receiver: Receiver,
    mailbox: Mailbox,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    cfg = _config(receiver, mailbox, monkeypatch, executive="exec-mail")
    key = open_incident("feature_store", details={"channels": ["ops-hook"]})
    dispatch(store, key, ["ops-hook"], "opened", "detection", config=cfg, sleep=no_sleep)

    # no permalink and no report yet: the executive update names where the thread is
    communicate(store, cfg, key, at=T0 + timedelta(minutes=1), sleep=no_sleep)
    (first,) = mailbox.mails
    assert f"Technical thread: technical thread of {key} on ops-hook" in _mail_text(first)

    with store.session() as s:
        run_id = start_rca_run(s, incident=key, flow_run_id=None, inputs_fingerprint="x", code_version="t").id
    with store.session() as s:
        finish_rca_run(
            s,
            run_id,
            status="completed",
            results={"hypotheses": [{"component": "feature_db", "kind": "schema_change", "confidence": 0.7}]},
            report_html=str(tmp_path / f"{key}-rca-1.html"),
        )
    report = f"https://reports.example/rca/{key}-rca-1.html"
    with store.session() as s:
        acknowledge(s, key, "alice", at=T0 + timedelta(minutes=2))
    communicate(store, cfg, key, at=T0 + timedelta(minutes=2), sleep=no_sleep)  # state changed: a new update
    second = mailbox.mails[-1]
    assert f"Technical thread: {report}" in _mail_text(second)  # the webhook gave no link: the report's URL

    (changed,) = notify_incident_changed(store, key, config=cfg, sleep=no_sleep)
    assert changed.ok
    last = receiver.on("/events")[-1].body
    mid = "mid:" + str(second["Message-ID"]).strip("<>")
    assert {"href": mid, "text": "Latest executive update"} in last["links"]  # the latest mail, by its id
    assert {"href": report, "text": "RCA report"} in last["links"]
