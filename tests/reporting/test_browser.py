"""Open a real HTML report (real RCA, plots, hostile names) in headless Chromium through Playwright.

Needs Debian's ``chromium`` (``/usr/bin/chromium``) and the ``playwright`` Python package (no
``playwright install``: the Debian browser is used). The screenshot goes to ``test-artifacts/``.
"""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from rcaflows.demo import DEMO_END, simulate
from rcaflows.rca import PHASES, RcaContext, synthesize
from rcaflows.rca.models import Finding, Hypothesis, HypothesisStatus, PhaseName, PhaseResult, PhaseStatus
from rcaflows.rca.service import plan_for_metric
from rcaflows.reporting import IncidentSummary, TimelineEntry, write_report
from rcaflows.reporting.plots import report_plots

CHROMIUM = os.environ.get("RCAFLOWS_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("RCAFLOWS_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts"))
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
HOSTILE = '<script>window.__pwned = 1; console.error("injected")</script>'

# CI sets RCAFLOWS_REQUIRE_SERVICES=1: there a missing browser fails the test instead of skipping it.
pytestmark = pytest.mark.skipif(
    shutil.which(CHROMIUM) is None and not os.environ.get("RCAFLOWS_REQUIRE_SERVICES"),
    reason=f"{CHROMIUM} not installed (apt-get install -y chromium)",
)


def _report(tmp_path: Path) -> Path:
    """Write the report of a real RCA over the deploy_latency demo, with hostile names injected."""
    from rcaflows.demo import demo_config

    cfg = demo_config("deploy_latency")
    plan = plan_for_metric(cfg, "gateway", "latency_p95_ms", DEMO_END)
    ctx = RcaContext.build(cfg, simulate("deploy_latency").data.slice(plan.start, plan.end), plan.symptom)
    result = synthesize(ctx, [p.run(ctx) for p in PHASES.values()])
    hostile_phase = PhaseResult(
        phase=PhaseName.ENVIRONMENTAL,
        status=PhaseStatus.FAILED,
        error=f"source {HOSTILE} timed out",
        findings=[
            Finding(
                phase=PhaseName.ENVIRONMENTAL,
                component=f"svc{HOSTILE}",
                metric=f'm"><img src=x onerror="window.__pwned=2">{HOSTILE}',
                kind="deploy",
                score=0.4,
                evidence=[f"evidence {HOSTILE}"],
            )
        ],
    )
    hostile_hyp = Hypothesis(
        rank=len(result.hypotheses) + 1,
        component=f"svc{HOSTILE}",
        metric=f"lat{HOSTILE}",
        kind="deploy",
        score=0.1,
        confidence=0.01,
        status=HypothesisStatus.WEAK,
        supporting=[HOSTILE],
    )
    result = result.model_copy(
        update={
            "phases": [*result.phases, hostile_phase],
            "hypotheses": [*result.hypotheses, hostile_hyp],
            "next_steps": [*result.next_steps, f"check {HOSTILE}"],
        }
    )
    plots = report_plots(ctx, result)
    incident = IncidentSummary.ad_hoc(result.symptom, f"demo{HOSTILE}", title=f"latency {HOSTILE}")
    incident = incident.model_copy(
        update={
            "timeline": [
                TimelineEntry(at=datetime(2026, 3, 2, 12, tzinfo=UTC), kind="note", actor=HOSTILE, summary=HOSTILE)
            ]
        }
    )
    return write_report(result, incident, tmp_path, "browser-report", plots).html


def test_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    import playwright.sync_api as sync_api  # a dev dependency: missing means a broken install

    html = _report(tmp_path)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "rca-report.png"
    console_errors: list[str] = []
    page_errors: list[str] = []
    with sync_api.sync_playwright() as pw:
        # a new empty profile dir per run (Playwright passes it as --user-data-dir)
        browser = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=FLAGS,
            viewport={"width": 1366, "height": 900},
        )
        try:
            page = browser.new_page()
            page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: page_errors.append(str(e)))
            page.goto(html.as_uri(), wait_until="load")
            images = page.eval_on_selector_all(
                "figure img",
                "els => els.map(e => ({alt: e.alt, w: e.naturalWidth, done: e.complete,"
                " box: e.getBoundingClientRect().width * e.getBoundingClientRect().height}))",
            )
            pwned = page.evaluate("window.__pwned === undefined ? null : window.__pwned")
            scripts = page.eval_on_selector_all("script", "els => els.length")
            headline = page.inner_text("#answer-title")
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    print(f"\nscreenshot: {shot}")
    assert console_errors == [] and page_errors == []
    assert pwned is None and scripts == 0
    assert len(images) >= 3, images
    assert all(i["done"] and i["w"] > 0 and i["box"] > 0 and len(i["alt"]) > 20 for i in images), images
    assert headline == "Most likely root cause"
    assert shot.stat().st_size > 20_000
