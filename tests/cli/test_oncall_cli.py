"""``rcaflows oncall``, ``impact`` and ``validate`` on the on-call and communication sections (issue 15)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from rich.console import Console
from typer.testing import CliRunner

from rcaflows import cli
from rcaflows.cli import app
from rcaflows.config import demo_config_path

runner = CliRunner()


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli._common, "console", Console(width=260, soft_wrap=True))
    monkeypatch.setattr(cli._common, "err", Console(width=260, soft_wrap=True, stderr=True))


def _write(tmp_path: Path, edit: Any, name: str = "cfg.yaml") -> Path:
    raw = yaml.safe_load(demo_config_path().read_text())
    edit(raw)
    out = tmp_path / name
    out.write_text(yaml.safe_dump(raw, sort_keys=False))
    return out


def _ml(raw: dict[str, Any]) -> dict[str, Any]:
    return next(s for s in raw["oncall"]["schedules"] if s["team"] == "ml-platform")


def test_oncall_shows_who_and_why_across_a_handoff_and_an_override(tmp_path: Path) -> None:
    def edit(raw: dict[str, Any]) -> None:
        _ml(raw)["overrides"] = [
            {"person": "dara", "start": "2026-03-04T09:00", "end": "2026-03-05T09:00", "reason": "chen is ill"}
        ]

    cfg = _write(tmp_path, edit)

    def who(at: str) -> dict[str, Any]:
        res = runner.invoke(app, ["oncall", "ml-platform", "--at", at, "--format", "json", "-c", str(cfg)])
        assert res.exit_code == 0, res.output
        (answer,) = json.loads(res.output)
        return dict(answer)

    # Monday 2026-03-02 09:00 Berlin (08:00 UTC) hands the week from bob to chen
    before, after = who("2026-03-02T07:59:00Z"), who("2026-03-02T08:00:00Z")
    assert (before["primary"]["person"], after["primary"]["person"]) == ("bob", "chen")
    assert "shift #9" in after["primary"]["why"] and after["manager"]["person"] == "maria"
    over = who("2026-03-04T12:00:00Z")
    assert over["primary"]["person"] == "dara" and over["primary"]["why"] == "override: chen is ill"
    assert who("2026-03-05T08:00:00Z")["primary"]["person"] == "chen"  # the override ended at 09:00 Berlin
    table = runner.invoke(app, ["oncall", "--at", "2026-03-02T19:30:00Z", "-c", str(cfg)])
    assert table.exit_code == 0
    assert "emeka" in table.output and "us-night" in table.output and "19:00-07:00 local" in table.output


def test_oncall_refuses_an_unknown_team(tmp_path: Path) -> None:
    res = runner.invoke(app, ["oncall", "nobody", "-c", str(demo_config_path())])
    assert res.exit_code == 2 and "unknown team 'nobody'" in res.output
    res = runner.invoke(app, ["oncall", "analytics", "-c", str(demo_config_path())])
    assert res.exit_code == 2 and "team 'analytics' has no on-call schedule" in res.output


def test_validate_names_each_scheduling_and_communication_problem(tmp_path: Path) -> None:
    bad_template = tmp_path / "exec.md.j2"
    bad_template.write_text("{{ incident.title }}: {{ impact.revenue_lost }}\n")

    def edit(raw: dict[str, Any]) -> None:
        data_eng = next(s for s in raw["oncall"]["schedules"] if s["team"] == "data-eng")
        data_eng["layers"] = data_eng["layers"][:1]  # only the day layer: nights are a gap
        _ml(raw)["overrides"] = [
            {"person": "dara", "start": "2026-03-04T09:00", "end": "2026-03-05T09:00"},
            {"person": "emeka", "start": "2026-03-04T18:00", "end": "2026-03-06T09:00"},
        ]
        raw["communication"]["regulatory"][0].pop("deadline")
        raw["communication"]["audiences"].append({"name": "board", "kind": "executive", "template": str(bad_template)})

    cfg = _write(tmp_path, edit)
    res = runner.invoke(app, ["validate", str(cfg)])
    assert res.exit_code == 1
    out = res.output
    assert "overrides 0 (dara" in out and "overlap in role primary" in out
    assert "regulatory rule 'gdpr-art33' has no deadline" in out
    assert "audience 'board' has no channel" in out
    # gaps and templates are checked once the config loads
    fixed = _write(
        tmp_path,
        lambda raw: (
            edit(raw),
            _ml(raw)["overrides"].pop(),
            raw["communication"]["regulatory"][0].update(deadline="72h"),
            raw["communication"]["audiences"][-1].update(channels=["exec-file"]),
        ),
        "fixed.yaml",
    )
    res = runner.invoke(app, ["validate", str(fixed)])
    assert res.exit_code == 1, res.output
    assert (
        "team 'data-eng' has nobody on call" in res.output
        and "the fallback ['team:data-eng'] would be paged" in res.output
    )
    assert "communication.audiences[3].template" in res.output and "revenue_lost" in res.output
    assert "2 problem(s)" in res.output


def test_validate_rejects_a_time_zone_that_does_not_exist(tmp_path: Path) -> None:
    cfg = _write(tmp_path, lambda raw: _ml(raw).update(timezone="Europe/Atlantis"))
    res = runner.invoke(app, ["validate", str(cfg)])
    assert res.exit_code == 1
    assert "oncall.schedules[0]" in res.output and "unknown time zone 'Europe/Atlantis'" in res.output


def test_impact_communicate_and_status_page_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rcaflows.demo import DEMO_END, demo_config
    from rcaflows.demo.config import write_demo_config
    from rcaflows.incidents import Store
    from rcaflows.pipeline import detect_and_open

    url = f"sqlite:///{tmp_path / 'i.db'}"
    detect_and_open(Store(url), demo_config("deploy_latency"), DEMO_END)
    cfg = write_demo_config("deploy_latency", tmp_path)
    res = runner.invoke(app, ["impact", "INC-0001", "-c", str(cfg), "--store", url])
    assert res.exit_code == 0, res.output
    assert "requests slower than the SLO" in res.output and "- slow: requests in the minutes in which" in res.output
    js = runner.invoke(app, ["impact", "INC-0001", "-c", str(cfg), "--store", url, "--format", "json"])
    assert json.loads(js.output)["slow_requests"] > 1000
    monkeypatch.chdir(tmp_path)  # the demo's file channels and status page write under ./rcaflows-demo
    sent = runner.invoke(
        app, ["communicate", "INC-0001", "--at", "2026-03-02T12:00:00Z", "-c", str(cfg), "--store", url]
    )
    assert sent.exit_code == 0, sent.output
    assert "leadership -> exec-file: sent (first update)" in sent.output
    assert "customers -> status-file: sent (first update)" in sent.output
    assert "gdpr" not in sent.output  # a latency incident touches no personal data
    executive = (tmp_path / "rcaflows-demo" / "notifications" / "executive.log").read_text()
    assert "requests slower than the SLO" in executive
    again = runner.invoke(
        app, ["communicate", "INC-0001", "--at", "2026-03-02T12:10:00Z", "-c", str(cfg), "--store", url]
    )
    assert "nothing due" in again.output
    page = runner.invoke(app, ["status-page", "--out", str(tmp_path / "page"), "-c", str(cfg), "--store", url])
    assert page.exit_code == 0, page.output
    feed = json.loads((tmp_path / "page" / "status.json").read_text())
    assert feed["incidents"][0]["affected"] == ["Payment scoring API"] and len(feed["incidents"][0]["updates"]) == 1


def test_escalate_command_pages_the_person_on_call(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from tests.cli.cli_helpers import open_incident

    from rcaflows.config import load_config
    from rcaflows.incidents import Store, events, get_incident
    from rcaflows.notify import notifications
    from rcaflows.triage.escalation import plan_escalation

    url = f"sqlite:///{tmp_path / 'i.db'}"

    def edit(raw: dict[str, Any]) -> None:
        raw["store"] = {"url": url}
        standard = next(p for p in raw["escalation"] if p["name"] == "standard")
        standard["levels"][0]["notify"] = ["oncall:ml-platform"]
        for ch in raw["notifications"]:
            if ch["name"] == "ml-file":
                ch["path"] = str(tmp_path / "ml.log")
        for person in raw["oncall"]["people"]:
            person["contacts"] = ["ml-file"]

    path = _write(tmp_path, edit)
    cfg = load_config(path)
    detected = datetime(2026, 3, 2, 7, 50, tzinfo=UTC)  # 08:50 Berlin: bob's week until 09:00, then chen's
    key = open_incident(
        url,
        component="scoring_api",
        team="ml-platform",
        severity="high",
        detected_at=detected,
        then=lambda s, inc: plan_escalation(s, inc, cfg, "standard", teams_involved=["ml-platform"]),
    )
    res = runner.invoke(app, ["escalate", "--at", "2026-03-02T08:05:00Z", "-c", str(path), "--store", url])
    assert res.exit_code == 0, res.output
    assert "oncall:ml-platform" in res.output
    with Store(url).session(readonly=True) as s:
        inc = get_incident(s, key)
        (page,) = [e.payload["oncall"] for e in events(s, inc) if "oncall" in (e.payload or {})]
        sent = {r.channel: r.status.value for r in notifications(s, inc)}
    assert page["person"] == "chen" and "shift #9" in page["why"]  # paged after the 09:00 hand-off
    assert sent == {"ml-file:chen": "sent"}
    assert (tmp_path / "ml.log").read_text().strip()
