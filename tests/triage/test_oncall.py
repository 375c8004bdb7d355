"""On-call schedules: rotations across a hand-off (and a DST change), overrides, calendars, gaps, paging people.

Escalation pages the person on call through real receivers: a localhost HTTP pager webhook and a
localhost SMTP server (the fixtures of ``tests/notify``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.notify.conftest import Mailbox, Receiver, mailbox, receiver  # noqa: F401  (fixtures)

from rcaflows.config.models import (
    ChannelConfig,
    EscalationLevel,
    EscalationPolicy,
    OnCallConfig,
    OverrideConfig,
    PersonConfig,
    RotationLayer,
    ScheduleConfig,
    SystemConfig,
    TeamConfig,
)
from rcaflows.incidents import Store, events, get_incident
from rcaflows.notify import notifications
from rcaflows.triage.escalation import escalate_due
from rcaflows.triage.oncall import gaps, page_dispatch, who_is_on_call

# Monday 2026-03-30 09:00 in Berlin is 07:00 UTC: the first hand-off after the switch to summer time.
HANDOFF = datetime(2026, 3, 30, 7, 0, tzinfo=UTC)


def people_config(cfg: SystemConfig, box: Mailbox, tmp: Path) -> SystemConfig:
    """Return ``cfg`` with people, a pager webhook, a mail channel, schedules and a paging policy."""
    mail = ChannelConfig(
        name="mail",
        kind="email",
        smtp_host=box.host,
        smtp_port=box.port,
        smtp_from="rcaflows@example.org",
        to=["nobody@example.org"],
        smtp_tls="none",
    )
    channels = [
        *cfg.notifications,
        mail,
        ChannelConfig(name="pager", kind="webhook", url_env="TEST_PAGER_URL"),
        ChannelConfig(name="ops-file", kind="file", path=str(tmp / "ops.log")),
    ]
    people = [
        PersonConfig(name=n, contacts=["pager", "mail"], email=f"{n}@example.org", manager="maria")
        for n in ("alice", "bob", "chen", "olga")
    ] + [PersonConfig(name="maria", contacts=["mail"], email="maria@example.org")]
    start = datetime(2026, 1, 5, 9, 0)  # a Monday, wall-clock Berlin
    oncall = OnCallConfig(
        people=people,
        schedules=[
            ScheduleConfig(
                team="ml-platform",
                timezone="Europe/Berlin",
                layers=[
                    RotationLayer(name="weekly", members=["alice", "bob", "chen"], start=start),
                    RotationLayer(name="backup", role="secondary", members=["bob", "chen", "alice"], start=start),
                ],
                overrides=[
                    OverrideConfig(
                        person="olga",
                        start=datetime(2026, 3, 10, 9, 0),
                        end=datetime(2026, 3, 11, 9, 0),
                        reason="bob at a conference",
                    )
                ],
            ),
            ScheduleConfig(
                team="data-eng",
                timezone="Europe/Berlin",
                layers=[
                    RotationLayer(
                        name="office", members=["alice"], rotation="daily", start=start, restrict=("09:00", "17:00")
                    )
                ],
                fallback=["ops-file"],
            ),
        ],
    )
    policy = EscalationPolicy(
        name="people",
        page_at_once=None,
        levels=[
            EscalationLevel(after=timedelta(minutes=5), notify=["oncall:ml-platform"]),
            EscalationLevel(after=timedelta(minutes=15), notify=["oncall:ml-platform:secondary"]),
            EscalationLevel(after=timedelta(minutes=30), notify=["oncall:ml-platform:manager"]),
        ],
    )
    gap_policy = EscalationPolicy(
        name="night",
        page_at_once=None,
        levels=[EscalationLevel(after=timedelta(minutes=5), notify=["oncall:data-eng"])],
    )
    teams = [t if t.name != "ml-platform" else t.model_copy(update={"escalation_policy": "people"}) for t in cfg.teams]
    return cfg.model_copy(
        update={
            "notifications": channels,
            "oncall": oncall,
            "escalation": [*cfg.escalation, policy, gap_policy],
            "teams": [TeamConfig.model_validate(t.model_dump()) for t in teams],
        }
    )


@pytest.fixture
def pcfg(cfg: SystemConfig, mailbox: Mailbox, tmp_path: Path) -> SystemConfig:  # noqa: F811
    return people_config(cfg, mailbox, tmp_path)


def test_weekly_rotation_hands_off_at_local_time_across_dst(pcfg: SystemConfig) -> None:
    before = who_is_on_call(pcfg, "ml-platform", HANDOFF - timedelta(minutes=1))
    after = who_is_on_call(pcfg, "ml-platform", HANDOFF)
    assert before is not None and after is not None
    assert before.primary is not None and after.primary is not None
    # 12 weeks since 2026-01-05: shift #12 is chen's (3rd of 3), shift #13 alice's
    assert (before.primary.person, after.primary.person) == ("chen", "alice")
    assert "shift #13" in after.primary.why and "Europe/Berlin" in after.primary.why
    assert after.primary.since == HANDOFF and after.primary.until == HANDOFF + timedelta(weeks=1)
    assert before.secondary is not None and after.secondary is not None
    assert (before.secondary.person, after.secondary.person) == ("alice", "bob")
    # a week before, in winter time, the hand-off was at 08:00 UTC (09:00 CET)
    winter = datetime(2026, 3, 23, 8, 0, tzinfo=UTC)
    assert who_is_on_call(pcfg, "ml-platform", winter - timedelta(seconds=1)).primary.person == "bob"  # type: ignore[union-attr]
    assert who_is_on_call(pcfg, "ml-platform", winter).primary.person == "chen"  # type: ignore[union-attr]
    assert after.manager is not None and after.manager.person == "maria" and "manager of alice" in after.manager.why


def test_override_wins_over_the_rotation_and_says_why(pcfg: SystemConfig) -> None:
    at = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    answer = who_is_on_call(pcfg, "ml-platform", at)
    assert answer is not None and answer.primary is not None
    assert answer.primary.person == "olga" and answer.primary.why == "override: bob at a conference"
    later = who_is_on_call(pcfg, "ml-platform", datetime(2026, 3, 11, 8, 0, tzinfo=UTC))  # 09:00 Berlin: over
    assert later is not None and later.primary is not None and later.primary.person != "olga"


def test_calendar_events_are_overrides_with_recurrence(pcfg: SystemConfig, tmp_path: Path) -> None:
    ics = tmp_path / "oncall.ics"
    ics.write_text(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n"
        "BEGIN:VEVENT\r\nUID:sat-1\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:olga\r\n"
        "DTSTART;TZID=Europe/Berlin:20260307T100000\r\nDTEND;TZID=Europe/Berlin:20260307T180000\r\n"
        "RRULE:FREQ=WEEKLY;BYDAY=SA\r\nEND:VEVENT\r\n"
        "BEGIN:VEVENT\r\nUID:sec-1\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:maria\r\nCATEGORIES:secondary\r\n"
        "DTSTART:20260314T090000Z\r\nDTEND:20260314T100000Z\r\nEND:VEVENT\r\n"
        "END:VCALENDAR\r\n"
    )
    sched = pcfg.oncall.schedules[0].model_copy(update={"ical": "oncall.ics"})
    cfg = pcfg.model_copy(
        update={"oncall": pcfg.oncall.model_copy(update={"schedules": [sched, *pcfg.oncall.schedules[1:]]})}
    )
    saturday = datetime(2026, 3, 14, 9, 30, tzinfo=UTC)  # 10:30 Berlin, the 2nd occurrence of the weekly event
    answer = who_is_on_call(cfg, "ml-platform", saturday, base_dir=tmp_path)
    assert answer is not None and answer.primary is not None and answer.secondary is not None
    assert answer.primary.person == "olga" and "calendar oncall.ics" in answer.primary.why
    assert answer.secondary.person == "maria"
    sunday = who_is_on_call(cfg, "ml-platform", saturday + timedelta(days=1), base_dir=tmp_path)
    assert sunday is not None and sunday.primary is not None and sunday.primary.person != "olga"


def test_gaps_are_found_exactly(pcfg: SystemConfig) -> None:
    sched = pcfg.oncall.schedules[1]
    start = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
    found = gaps(pcfg, sched, start, start + timedelta(days=2))
    # office hours 09:00-17:00 Berlin (08:00-16:00 UTC in winter): nights are gaps
    assert found == [
        (start, datetime(2026, 3, 2, 8, 0, tzinfo=UTC)),
        (datetime(2026, 3, 2, 16, 0, tzinfo=UTC), datetime(2026, 3, 3, 8, 0, tzinfo=UTC)),
        (datetime(2026, 3, 3, 16, 0, tzinfo=UTC), start + timedelta(days=2)),
    ]
    assert gaps(pcfg, pcfg.oncall.schedules[0], start, start + timedelta(days=30)) == []


def test_escalation_pages_primary_secondary_manager_across_a_handoff(
    store: Store,
    pcfg: SystemConfig,
    open_planned: Callable[..., int],
    receiver: Receiver,  # noqa: F811
    mailbox: Mailbox,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TEST_PAGER_URL", f"{receiver.url}/events")
    detected = HANDOFF - timedelta(minutes=10)
    inc_id = open_planned(policy="people", detected_at=detected, config=pcfg)
    steps = []
    for minutes in (5, 15, 30):
        at = detected + timedelta(minutes=minutes)
        steps += escalate_due(store, pcfg, at=at, dispatch=page_dispatch(at))
    assert [s.level for s in steps] == [1, 2, 3]
    # level 1 before the hand-off: chen (primary); level 2 after it: bob (the new secondary); level 3: maria
    assert [m["To"] for m in mailbox.mails] == ["chen@example.org", "bob@example.org", "maria@example.org"]
    assert len(receiver.on("/events")) == 2  # chen's and bob's pagers; maria is reached by mail only
    with store.session(readonly=True) as s:
        inc = get_incident(s, inc_id)
        pages = [e.payload["oncall"] for e in events(s, inc) if "oncall" in (e.payload or {})]
        sent = {r.channel: r.status.value for r in notifications(s, inc)}
    assert [(p["role"], p["person"]) for p in pages] == [
        ("primary", "chen"),
        ("secondary", "bob"),
        ("manager", "maria"),
    ]
    assert "shift #12" in pages[0]["why"] and "shift #13" in pages[1]["why"]
    assert sent == {
        "mail:chen": "sent",
        "pager:chen": "sent",
        "mail:bob": "sent",
        "pager:bob": "sent",
        "mail:maria": "sent",
    }


def test_a_gap_pages_the_fallback_and_records_it(
    store: Store, pcfg: SystemConfig, open_planned: Callable[..., int], tmp_path: Path
) -> None:
    night = datetime(2026, 3, 2, 20, 0, tzinfo=UTC)  # 21:00 Berlin: outside data-eng's office hours
    inc_id = open_planned(policy="night", detected_at=night, config=pcfg)
    at = night + timedelta(minutes=5)
    (step,) = escalate_due(store, pcfg, at=at, dispatch=page_dispatch(at))
    assert step.channels == ["oncall:data-eng"]
    with store.session(readonly=True) as s:
        inc = get_incident(s, inc_id)
        (page,) = [e.payload["oncall"] for e in events(s, inc) if "oncall" in (e.payload or {})]
        sent = {r.channel: r.status.value for r in notifications(s, inc)}
    assert page["gap"] is True and page["person"] is None and page["fallback"] == ["ops-file"]
    assert "nobody holds primary of data-eng" in page["why"]
    assert sent == {"ops-file": "sent"}
    assert (tmp_path / "ops.log").read_text().strip()  # never silence
