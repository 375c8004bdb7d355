from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cli_helpers import open_incident
from rich.console import Console
from typer.testing import CliRunner

from rcaflows import cli
from rcaflows.cli import app
from rcaflows.config import load_config
from rcaflows.incidents import Store, events, get_incident
from rcaflows.triage.escalation import plan_escalation

runner = CliRunner()


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli._common, "console", Console(width=250, soft_wrap=True))
    monkeypatch.setattr(cli._common, "err", Console(width=250, soft_wrap=True, stderr=True))


@pytest.fixture
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)  # post-mortem drafts go to the config's relative reports_dir
    return f"sqlite:///{tmp_path / 'i.db'}"


def _open(url: str, fp: str, component: str = "gateway", at: datetime | None = None) -> str:
    """Open a critical incident with a planned standard escalation; return its key."""
    return open_incident(
        url,
        component=component,
        severity="critical",
        priority="P1",
        fingerprint=fp,
        detected_at=at,
        then=lambda s, inc: plan_escalation(s, inc, load_config(), "standard", teams_involved=["sre"]),
    )


def _run(*args: str) -> tuple[int, str]:
    res = runner.invoke(app, list(args))
    return res.exit_code, res.output


def test_lifecycle_commands_change_the_store_and_explain_errors(url: str) -> None:
    key = _open(url, "a")
    other = _open(url, "b")
    ok = [
        ("incidents", "ack", key, "-m", "looking", "--expires", "30m", "--as", "user:alice"),
        ("incidents", "assign", key, "alice", "--team", "ml-platform", "--as", "user:alice"),
        ("incidents", "note", key, "rolled back the gateway", "--as", "user:alice"),
        ("incidents", "severity", key, "high", "--reason", "only one region", "--priority", "P2"),
        ("incidents", "mitigate", key, "-m", "rollback"),
        ("incidents", "resolve", key, "--reason", "fixed", "-m", "done"),
        ("incidents", "reopen", key, "-m", "back"),
        ("incidents", "snooze", key, "--for", "2h", "--reason", "deploy window"),
        ("incidents", "merge", other, "--into", key, "-m", "same outage"),
    ]
    for args in ok:
        code, out = _run(*args, "--store", url)
        assert code == 0, (args, out)
    assert f"{key} triaged [high/P2 → ml-platform]" in out
    # Resolving drafted the post-mortem after the commit.
    assert (Path("rcaflows-demo/reports") / f"{key}-postmortem.md").exists()
    with Store.from_url(url).session(readonly=True) as s:
        inc, dup = get_incident(s, key), get_incident(s, other)
        actions = [e.payload.get("action") for e in events(s, inc) if e.payload.get("action")]
        assert dup.state.value == "resolved" and dup.details["merged_into"] == key
    assert actions[1:] == [
        "acknowledge",
        "assign",
        "note",
        "set_severity",
        "mitigate",
        "resolve",
        "reopen",
        "snooze",
        "merge",
    ]
    code, out = _run("incidents", "escalations", key, "--store", url)
    assert code == 0 and "policy standard" in out and "cancelled" in out and "pending" in out
    bad = [
        (("incidents", "ack", "INC-0999"), "no incident 'INC-0999'"),
        (("incidents", "mitigate", other), f"cannot mitigate {other}: it is resolved"),
        (("incidents", "resolve", key, "--reason", "bored"), "unknown resolution reason 'bored'"),
        (("incidents", "assign", key, "bob", "--team", "nobody"), "--team: unknown team 'nobody'"),
        (("incidents", "ack", key, "--expires", "soon"), "--expires: expected a duration"),
        (("incidents", "snooze", key, "--reason", "x"), "give exactly one of a duration or an expiry"),
    ]
    for args, msg in bad:
        code, out = _run(*args, "--store", url)
        assert code == 2 and msg in out, (args, out)


def test_route_explain_and_dry_run(url: str) -> None:
    key = _open(url, "r", component="scoring_api")
    code, out = _run("route", "--explain", key, "--store", url)
    assert code == 0
    assert "fairness-to-models" in out and "type performance_availability not in" in out
    assert "component 'scoring_api' not in ['gateway']" in out
    assert "→ team ml-platform via the default (no rule matched)" in out
    assert f"note: {key} was routed to sre" in out  # it was opened with another team than today's route
    code, out = _run(
        "route",
        "--type",
        "performance_availability",
        "--component",
        "gateway",
        "--severity",
        "critical",
        "--format",
        "json",
    )
    data = json.loads(out)
    assert code == 0 and data["route"] == "gateway-to-sre" and data["team"] == "sre"
    assert [r["matched"] for r in data["rules"]] == [False, False, False, False, True]
    assert [s["kind"] for s in data["escalation_steps"]][:2] == ["immediate", "level"]
    code, out = _run("route", "--type", "data_quality", "--component", "etl", "--severity", "low")
    assert code == 0 and "not evaluated: an earlier rule matched" in out
    for args, msg in [
        (
            ("route", "--type", "nonsense", "--component", "etl", "--severity", "low"),
            "--type: 'nonsense' is not one of",
        ),
        (("route", "--type", "data_quality", "--component", "nope", "--severity", "low"), "unknown component 'nope'"),
        (("route", "--type", "data_quality"), "--component, --severity"),
        (("route", "--explain", "INC-0404", "--store", url), "no incident 'INC-0404'"),
    ]:
        code, out = _run(*args)
        assert code == 2 and msg in out, (args, out)


def test_metrics_formats_and_escalate_command(url: str) -> None:
    key = _open(url, "m", at=datetime(2026, 3, 1, 12, tzinfo=UTC))
    code, out = _run("escalate", "--at", "2026-03-01T12:20:00Z", "--no-deliver", "--store", url)
    assert code == 0 and key in out and "immediate" in out
    _run("incidents", "ack", key, "--store", url)
    until = ["--until", "2026-03-02T00:00:00Z", "--since", "30d", "--store", url]
    code, out = _run("metrics", *until, "--format", "json")
    data = json.loads(out)
    assert code == 0 and data["incidents"] == 1 and data["acknowledged"] == 1 and data["escalations"] == 2
    code, out = _run("metrics", *until, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and {"metric": "incidents_by_team", "group": "sre", "value": "1"} in rows
    code, out = _run("metrics", *until)
    assert code == 0 and "MTTA" in out and "escalations" in out and "2 on 1 incidents" in out
    code, out = _run("metrics", "--since", "a while", "--store", url)
    assert code == 2 and "--since: expected a duration" in out
