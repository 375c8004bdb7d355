"""Messages per audience over real receivers: executive mail, status webhook, regulatory draft, status page.

The incident is opened by the real detection on the demo's schema-change scenario (a data-quality
incident on the feature store, which holds personal data); mail goes to a local SMTP server, the
status updates to a local HTTP receiver, the status page is opened in headless Chromium.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from tests.notify.conftest import Mailbox, Receiver, set_severity

from rcaflows.config.models import (
    AudienceConfig,
    ChannelConfig,
    RegulatoryRule,
    SystemConfig,
)
from rcaflows.demo import DEMO_END, demo_config
from rcaflows.impact import impact_of
from rcaflows.incidents import Store, acknowledge, events, get_incident, list_incidents, resolve
from rcaflows.incidents.lifecycle_events import Bus, IncidentTransitioned, side_effects
from rcaflows.notify.audiences import (
    communicate,
    communicate_due,
    on_lifecycle,
    render_status_page,
    template_problems,
)
from rcaflows.pipeline import detect_and_open
from rcaflows.vocab import IncidentState

CHROMIUM = os.environ.get("RCAFLOWS_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("RCAFLOWS_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts"))
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]


def no_sleep(_: float) -> None:
    pass


def _config(
    scenario: str, receiver: Receiver, mailbox: Mailbox, tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> SystemConfig:
    """Return the demo config with its audiences sent to the local receivers."""
    monkeypatch.setenv("TEST_STATUS_URL", f"{receiver.url}/events")
    cfg = demo_config(scenario)

    def mail(name: str, to: str) -> ChannelConfig:
        return ChannelConfig(
            name=name,
            kind="email",
            smtp_host=mailbox.host,
            smtp_port=mailbox.port,
            smtp_from="rcaflows@example.org",
            to=[to],
            smtp_tls="none",
        )

    channels = [
        *cfg.notifications,
        mail("exec-mail", "cfo@example.org"),
        mail("dpo-mail", "dpo@example.org"),
        ChannelConfig(name="status-hook", kind="webhook", url_env="TEST_STATUS_URL"),
    ]
    comm = cfg.communication.model_copy(
        update={
            "audiences": [
                AudienceConfig(name="leadership", kind="executive", channels=["exec-mail"], cadence=timedelta(hours=1)),
                AudienceConfig(
                    name="customers", kind="status", channels=["status-hook"], cadence=timedelta(minutes=30)
                ),
            ],
            "regulatory": [r.model_copy(update={"channels": ["dpo-mail"]}) for r in cfg.communication.regulatory],
            "status_page": cfg.communication.status_page.model_copy(update={"directory": str(tmp / "status")}),
        }
    )
    return cfg.model_copy(update={"notifications": channels, "communication": comm})


def _mails(box: Mailbox, to: str) -> list:  # type: ignore[type-arg]
    return [m for m in box.mails if m["To"] == to]


def _text(mail: object) -> str:
    """Return a mail's decoded body with plain newlines."""
    raw = mail.get_payload(decode=True)  # type: ignore[attr-defined]
    return str(raw.decode("utf-8")).replace("\r\n", "\n")


def test_each_audience_gets_its_message_on_state_change_and_cadence(
    store: Store, receiver: Receiver, mailbox: Mailbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = _config("schema_change_nulls", receiver, mailbox, tmp_path, monkeypatch)
    detect_and_open(store, cfg, DEMO_END)
    with store.session(readonly=True) as s:
        (inc,) = list_incidents(s)
        key, detected, inc_id = inc.key, inc.detected_at, inc.id
        numbers = impact_of(cfg, inc)

    first = communicate(store, cfg, key, at=DEMO_END, sleep=no_sleep)
    assert sorted((u.audience, u.ok) for u in first) == [
        ("customers", True),
        ("gdpr-art33", True),
        ("leadership", True),
    ]

    # executive: one paragraph with the impact in numbers, by mail
    (exec_mail,) = _mails(mailbox, "cfo@example.org")
    body = _text(exec_mail)
    assert (
        numbers.degraded_predictions
        and f"{numbers.degraded_predictions:,} predictions made with missing inputs" in body
    )
    assert f"{numbers.total_cost:,.2f} EUR" in body and "Next update by 2026-03-02 13:00 UTC" in body
    assert "Decision or resources needed: Approve a rollback" in body

    # regulatory: a draft for review with the deadline 72 h after detection
    (draft,) = _mails(mailbox, "dpo@example.org")
    due = detected + timedelta(hours=72)
    assert f"due {due:%Y-%m-%d %H:%M} UTC" in draft["Subject"]
    text = _text(draft)
    assert text.startswith("DRAFT FOR REVIEW") and "GDPR Art. 33" in text
    assert f"Deadline: {due:%Y-%m-%d %H:%M} UTC (3d 00h after detection" in text
    assert f"Predictions made with missing inputs: {numbers.degraded_predictions:,}" in text

    # status: plain language over the webhook, no internal component names
    (hook,) = receiver.on("/events")
    status_text = hook.body["payload"]["custom_details"]["body"]
    assert status_text.startswith("We are investigating a problem that may cause automated decisions")
    assert "merchant_ingest" not in status_text and "feature_store" not in status_text
    assert "Workaround:" in status_text and "We expect to resolve it by 2026-03-02 16:00 UTC" in status_text

    # nothing changed and no cadence is due: nothing is sent
    assert communicate(store, cfg, key, at=DEMO_END + timedelta(minutes=10), sleep=no_sleep) == []

    # a state change reaches every audience; the draft is not sent twice
    with store.session() as s:
        acknowledge(s, key, "alice", at=DEMO_END + timedelta(minutes=15))
    # ... sent by the lifecycle subscriber on the committed transition (the wiring's bus contract)
    bus = Bus()
    bus.subscribe(IncidentTransitioned, on_lifecycle, name="communication", outbound=True)
    with side_effects(cfg) as scope:
        bus.publish(
            IncidentTransitioned(
                incident_id=inc_id,
                key=key,
                actor="alice",
                at=DEMO_END + timedelta(minutes=15),
                action="acknowledge",
                from_state=IncidentState.TRIAGED,
                to_state=IncidentState.ACKNOWLEDGED,
            ),
            store,
        )
    (second,) = scope.results("communication")
    assert sorted(u.audience for u in second) == ["customers", "leadership"]
    assert all("-> acknowledged" in u.why for u in second)
    mails = _mails(mailbox, "cfo@example.org")
    assert len(mails) == 2 and mails[1]["In-Reply-To"] == mails[0]["Message-ID"]  # one thread per audience

    # the cadence: the status audience (30 min) is due again, the executive one (1 h) is not
    third = communicate_due(store, cfg, at=DEMO_END + timedelta(minutes=46), sleep=no_sleep)
    assert [(u.audience, u.why) for u in third] == [("customers", "cadence 0:30:00 due")]

    # resolution: a final update, then silence
    with store.session() as s:
        resolve(s, key, "alice", comment="rolled back merchant feed v3", at=DEMO_END + timedelta(minutes=50))
    final = communicate(store, cfg, key, at=DEMO_END + timedelta(minutes=50), sleep=no_sleep)
    assert sorted(u.audience for u in final) == ["customers", "leadership"]
    assert receiver.on("/events")[-1].body["event_action"] == "resolve"
    assert receiver.on("/events")[-1].body["payload"]["custom_details"]["body"].startswith("Resolved:")
    assert communicate(store, cfg, key, at=DEMO_END + timedelta(hours=3), sleep=no_sleep) == []
    with store.session(readonly=True) as s:
        log = [e.payload for e in events(s, get_incident(s, key)) if e.actor == "communication"]
    assert len(log) == 3 + 2 + 1 + 2 and all(p["ok"] for p in log)

    feed = json.loads((tmp_path / "status" / "status.json").read_text())
    assert feed["status"] == "operational" and feed["incidents"][0]["status"] == "resolved"
    assert len(feed["incidents"][0]["updates"]) == 4


def test_no_regulatory_draft_for_a_latency_incident(
    store: Store, receiver: Receiver, mailbox: Mailbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = _config("deploy_latency", receiver, mailbox, tmp_path, monkeypatch)
    detect_and_open(store, cfg, DEMO_END)
    ups = communicate(store, cfg, "INC-0001", at=DEMO_END, sleep=no_sleep)
    assert sorted(u.audience for u in ups) == ["customers", "leadership"]
    assert _mails(mailbox, "dpo@example.org") == []
    text = receiver.on("/events")[0].body["payload"]["custom_details"]["body"]
    assert "Payment scoring API" in text and "scoring_api" not in text  # public names only
    # a severity change is news for every audience, even before the cadence is due
    set_severity(store, "INC-0001", "high")
    again = communicate(store, cfg, "INC-0001", at=DEMO_END + timedelta(minutes=5), sleep=no_sleep)
    assert sorted((u.audience, u.why) for u in again) == [
        ("customers", "severity critical -> high"),
        ("leadership", "severity critical -> high"),
    ]


def test_a_rule_without_deadline_still_drafts_and_says_so(
    store: Store, receiver: Receiver, mailbox: Mailbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = _config("schema_change_nulls", receiver, mailbox, tmp_path, monkeypatch)
    rule = RegulatoryRule(name="no-deadline", obligation="tell someone", channels=["dpo-mail"])
    cfg = cfg.model_copy(update={"communication": cfg.communication.model_copy(update={"regulatory": [rule]})})
    detect_and_open(store, cfg, DEMO_END)
    (u,) = [u for u in communicate(store, cfg, "INC-0001", at=DEMO_END, sleep=no_sleep) if u.audience == "no-deadline"]
    assert u.deadline is None
    assert "NOT SET: the rule names no deadline" in _text(_mails(mailbox, "dpo@example.org")[0])


def test_template_naming_a_missing_field_is_reported(tmp_path: Path) -> None:
    bad = tmp_path / "exec_bad.md.j2"
    bad.write_text("{{ incident.title }} cost {{ impact.total_cost }} owner {{ incident.commander }}\n")
    cfg = demo_config("no_fault")
    auds = [
        *cfg.communication.audiences,
        AudienceConfig(name="board", kind="executive", template=str(bad), channels=["exec-file"]),
    ]
    cfg = cfg.model_copy(update={"communication": cfg.communication.model_copy(update={"audiences": auds})})
    problems = template_problems(cfg)
    assert len(problems) == 1
    path, why = problems[0]
    assert path == f"communication.audiences[{len(auds) - 1}].template" and "commander" in why


@pytest.mark.skipif(
    shutil.which(CHROMIUM) is None and not os.environ.get("RCAFLOWS_REQUIRE_SERVICES"),
    reason=f"{CHROMIUM} not installed",
)
def test_status_page_renders_in_headless_chromium(
    store: Store, receiver: Receiver, mailbox: Mailbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import playwright.sync_api as sync_api

    cfg = _config("deploy_latency", receiver, mailbox, tmp_path, monkeypatch)
    detect_and_open(store, cfg, DEMO_END)
    communicate(store, cfg, "INC-0001", at=DEMO_END, sleep=no_sleep)
    page_path, feed_path = render_status_page(store, cfg, tmp_path / "page", at=DEMO_END + timedelta(minutes=5))
    html = page_path.read_text()
    assert "scoring_api" not in html and "gateway" not in html  # internal names never reach users
    errors: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, args=FLAGS
        )
        try:
            page = browser.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(page_path.as_uri(), wait_until="load")
            banner = page.inner_text("#overall")
            articles = page.eval_on_selector_all("article.incident", "els => els.map(e => e.innerText)")
            title = page.title()
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "status-page.png"), full_page=True)
        finally:
            browser.close()
    assert errors == []
    assert (ARTIFACTS / "status-page.png").stat().st_size > 10_000
    assert banner == "Some services are degraded"
    assert title == "Payment risk scoring status"
    assert len(articles) == 1 and "Payment scoring API: investigating" in articles[0]
    assert "slower responses or errors" in articles[0]
    feed = json.loads(feed_path.read_text())
    assert feed["status"] == "degraded" and feed["incidents"][0]["affected"] == ["Payment scoring API"]
