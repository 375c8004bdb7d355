from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import fsspec
import pytest

from rcaflows.board import board_markdown, board_rows
from rcaflows.config import SystemConfig, load_config
from rcaflows.incidents import (
    EventKind,
    NewIncident,
    Store,
    acknowledge,
    finish_rca_run,
    open_or_touch,
    record_event,
    start_rca_run,
)
from rcaflows.incidents import triage as triage_incident
from rcaflows.reporting import ReportPaths
from rcaflows.reporting.storage import REPORT_BASE_URL_ENV, report_link, store_report

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # week 9 of the weekly ml-platform rotation alice, bob, chen: chen


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(REPORT_BASE_URL_ENV, raising=False)
    s = Store(f"sqlite:///{tmp_path / 'incidents.db'}")
    yield s
    s.dispose()


@pytest.fixture
def cfg() -> SystemConfig:
    return load_config()  # the bundled demo system (tests/conftest.py sets RCAFLOWS_CONFIG)


def _open(store: Store, fp: str, priority: str, team: str, detected: datetime) -> str:
    with store.session() as s:
        inc, _ = open_or_touch(
            s,
            NewIncident(
                system="fraud-scoring",
                type="performance_availability",
                subtype="latency",
                component="scoring_api",
                title=f"latency {fp}",
                severity="high",
                priority=priority,
                team=team,
                fingerprint=fp,
                detected_at=detected,
            ),
        )
        triage_incident(s, inc, "high", priority, team, "detection")
        return inc.key


def test_board_lists_open_incidents_by_priority_with_every_field(store: Store, cfg: SystemConfig) -> None:
    p3 = _open(store, "a", "P3", "ml-platform", T0 - timedelta(hours=3))
    p1 = _open(store, "b", "P1", "analytics", T0 - timedelta(minutes=20))  # analytics has no on-call schedule
    p2 = _open(store, "c", "P2", "ml-platform", T0 - timedelta(days=1, hours=2))
    with store.session() as s:
        acknowledge(s, p2, "user:bob", at=T0 - timedelta(days=1))
        record_event(
            s,
            p3,
            EventKind.NOTIFICATION,
            "communication",
            {
                "audience": "engineers",
                "state": "triaged",
                "next_update_at": (T0 + timedelta(minutes=15)).isoformat(),
                "impact": "1,234 failed requests over 180 min.",
            },
        )
        run = start_rca_run(s, incident=p3, flow_run_id=None, inputs_fingerprint="f", code_version="t")
        finish_rca_run(
            s, run.id, status="completed", results={}, report_html="/r/INC-1-run1.html", report_md="/r/INC-1-run1.md"
        )
        run_id = run.id

    rows = board_rows(store, cfg, T0)
    assert [r["Incident"].split(":")[0] for r in rows] == [p1, p2, p3]
    assert [r["Priority"] for r in rows] == ["P1", "P2", "P3"]
    by = {r["Incident"].split(":")[0]: r for r in rows}
    assert by[p1]["On call"] == "no on-call schedule for team analytics"
    assert by[p3]["On call"] == "chen"
    assert by[p2]["Owner"] == "user:bob (acknowledged)" and by[p2]["State"] == "acknowledged"
    assert by[p3]["Owner"] == "team ml-platform"
    assert by[p3]["Age"] == "3h 00m" and by[p1]["Age"] == "20m" and by[p2]["Age"] == "1d 02h"
    assert by[p3]["Impact"] == "1,234 failed requests over 180 min."
    assert by[p1]["Impact"] == "not yet computed"
    assert by[p3]["Next update"] == "2026-03-02 10:15 UTC"
    assert by[p1]["Next update"] == "first update pending"
    assert by[p3]["Latest RCA"].startswith(f"[run {run_id} report](file:///r/INC-1-run1.html)")
    assert by[p1]["Latest RCA"] == "no RCA yet"
    assert board_rows(store, cfg, T0 + timedelta(hours=1))[2]["Next update"].endswith("(overdue)")

    md = board_markdown(store, cfg, T0)
    assert "3 open (P1: 1, P2: 1, P3: 1)" in md
    assert md.index(p1) < md.index(p2) < md.index(p3)
    assert "| Priority | Incident | State | Owner | On call | Age | Impact | Next update | Latest RCA |" in md


def test_board_leaves_out_resolved_incidents_and_says_when_none_are_open(store: Store, cfg: SystemConfig) -> None:
    key = _open(store, "a", "P2", "ml-platform", T0 - timedelta(hours=1))
    from rcaflows.incidents import Action, transition

    with store.session() as s:
        from rcaflows.incidents import get_incident

        transition(s, get_incident(s, key), Action.RESOLVE, "user:alice")
    md = board_markdown(store, cfg, T0)
    assert key not in md and "No open incidents." in md


def test_report_link_uses_the_configured_base_url(cfg: SystemConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(REPORT_BASE_URL_ENV, raising=False)
    assert report_link("/tmp/r/INC-0001-run2.html", cfg) == "file:///tmp/r/INC-0001-run2.html"
    assert report_link("s3://b/rca/INC-0001-run2.html", cfg) == "s3://b/rca/INC-0001-run2.html"
    based = cfg.model_copy(update={"rca": cfg.rca.model_copy(update={"reports_base_url": "https://r.example/rca/"})})
    assert report_link("memory:///rca/INC-0001-run2.html", based) == "https://r.example/rca/INC-0001-run2.html"
    monkeypatch.setenv(REPORT_BASE_URL_ENV, "https://env.example")
    assert report_link("/x/a.md", based) == "https://env.example/a.md"


def _writer(out: Path) -> ReportPaths:
    out.mkdir(parents=True, exist_ok=True)
    (out / "INC-0007-run1.html").write_text("<html>report</html>")
    (out / "INC-0007-run1.md").write_text("# report")
    return ReportPaths(html=out / "INC-0007-run1.html", markdown=out / "INC-0007-run1.md")


def test_reports_go_to_an_fsspec_url() -> None:
    html, md = store_report("memory://board-test/rca", _writer)
    assert html == "memory:///board-test/rca/INC-0007-run1.html"
    with fsspec.open(html, "rt") as f:
        assert f.read() == "<html>report</html>"
    with fsspec.open(md, "rt") as f:
        assert f.read() == "# report"


def test_reports_go_to_a_local_directory(tmp_path: Path) -> None:
    html, _ = store_report(str(tmp_path / "reports"), _writer)
    assert Path(html).read_text() == "<html>report</html>"


def test_messages_link_the_report_under_the_base_url(store: Store, cfg: SystemConfig) -> None:
    from rcaflows.incidents import get_incident
    from rcaflows.notify.service import build_message

    key = _open(store, "a", "P2", "ml-platform", T0)
    based = cfg.model_copy(update={"rca": cfg.rca.model_copy(update={"reports_base_url": "https://r.example/rca"})})
    with store.session() as s:
        run = start_rca_run(s, incident=key, flow_run_id=None, inputs_fingerprint="f", code_version="t")
        finish_rca_run(s, run.id, status="completed", results={}, report_html="/r/INC-9-run4.html")
    with store.session(readonly=True) as s:
        inc = get_incident(s, key)
        assert build_message(s, inc, config=based).report == "https://r.example/rca/INC-9-run4.html"
        assert build_message(s, inc).report == "file:///r/INC-9-run4.html"
    assert "https://r.example/rca/INC-9-run4.html" in board_markdown(store, based, T0)
