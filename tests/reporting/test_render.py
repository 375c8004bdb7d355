"""Report rendering: content, escaping, atomic writes, artifacts and template lookup."""

from __future__ import annotations

import base64
import html
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import jinja2
import numpy as np
import pandas as pd
import pytest

import rcaflows
from rcaflows.errors import EmptyWindowError, RcaflowsError
from rcaflows.rca.models import (
    Finding,
    Hypothesis,
    HypothesisStatus,
    PhaseName,
    PhaseResult,
    PhaseStatus,
    RcaResult,
    Symptom,
)
from rcaflows.reporting import (
    IncidentSummary,
    TimelineEntry,
    causes_table,
    environment,
    escape_markdown,
    markdown_summary,
    render_html,
    render_markdown,
    template_dir,
    write_report,
)
from rcaflows.reporting.plots import symptom_plot
from rcaflows.reporting.render import num, pct, ts
from rcaflows.timeutil import human_duration as duration

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DETECTED = T0 + timedelta(hours=2, minutes=15)
HOSTILE = "<script>alert(1)</script>"
LINEAGE_ERROR = "lineage graph unavailable: catalog API returned 503 after 3 retries"
GENERATED = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def _finding(phase: PhaseName, component: str, metric: str, kind: str, score: float, **kw: object) -> Finding:
    return Finding(phase=phase, component=component, metric=metric, kind=kind, score=score, onset=T0, **kw)


def make_result(*, hypotheses: bool = True, metric: str = "null_rate.user_age") -> RcaResult:
    """Return a realistic RCA result: 3 hypotheses, 5 phases, the lineage phase failed."""
    phases = [
        PhaseResult(
            phase=PhaseName.STATISTICAL,
            status=PhaseStatus.OK,
            seconds=1.42,
            summary="3 metrics shifted before the symptom; feature_store null rate first.",
            findings=[
                _finding(
                    PhaseName.STATISTICAL,
                    "feature_store",
                    metric,
                    "metric_shift",
                    0.91,
                    evidence=["null rate of user_age rose from 0.2 % to 31 % at 09:00"],
                ),
                _finding(PhaseName.STATISTICAL, "ranker", "latency_p99", "metric_shift", 0.35),
            ],
        ),
        PhaseResult(
            phase=PhaseName.COMPONENT,
            status=PhaseStatus.OK,
            seconds=0.8,
            summary="ranker deploy v2.14 at 08:50 is close to the onset.",
            findings=[
                _finding(
                    PhaseName.COMPONENT,
                    "ranker",
                    "deploy v2.14",
                    "deploy",
                    0.55,
                    evidence=["ranker v2.14 deployed 10 min before onset"],
                )
            ],
        ),
        PhaseResult(phase=PhaseName.LINEAGE, status=PhaseStatus.FAILED, error=LINEAGE_ERROR, seconds=30.0),
        PhaseResult(
            phase=PhaseName.MODEL_BEHAVIOUR,
            status=PhaseStatus.OK,
            seconds=2.1,
            summary="Prediction drift follows user_age nulls.",
            findings=[
                _finding(
                    PhaseName.MODEL_BEHAVIOUR,
                    "ranker",
                    "psi.user_age",
                    "feature_drift",
                    0.74,
                    evidence=["PSI of user_age 0.41 (threshold 0.2)"],
                ),
                _finding(
                    PhaseName.MODEL_BEHAVIOUR,
                    "ranker",
                    "deploy v2.14",
                    "deploy",
                    0.3,
                    supports=False,
                    evidence=["canary of v2.14 showed no quality drop"],
                ),
            ],
        ),
        PhaseResult(
            phase=PhaseName.ENVIRONMENTAL,
            status=PhaseStatus.SKIPPED,
            error="no infrastructure metrics configured",
        ),
    ]
    hyps = [
        Hypothesis(
            rank=1,
            component="feature_store",
            metric=metric,
            kind="upstream_null_rate",
            score=2.4567,
            confidence=0.83,
            status=HypothesisStatus.SUPPORTED,
            onset=T0,
            phases=[PhaseName.STATISTICAL, PhaseName.MODEL_BEHAVIOUR],
            supporting=["null rate of user_age rose from 0.2 % to 31 % at 09:00", "PSI of user_age 0.41"],
            contradicting=["no schema change recorded"],
            rules=["upstream_precedes_downstream", "null_rate_feeds_drift"],
        ),
        Hypothesis(
            rank=2,
            component="ranker",
            metric="deploy v2.14",
            kind="deploy",
            score=1.1,
            confidence=0.12,
            status=HypothesisStatus.WEAK,
            onset=T0 - timedelta(minutes=10),
            phases=[PhaseName.COMPONENT],
            supporting=["ranker v2.14 deployed 10 min before onset"],
            contradicting=["canary of v2.14 showed no quality drop"],
        ),
        Hypothesis(
            rank=3,
            component="gateway",
            metric="error_rate",
            kind="metric_shift",
            score=0.2,
            confidence=0.05,
            status=HypothesisStatus.REFUTED,
            contradicting=["gateway error rate moved after the symptom"],
        ),
    ]
    return RcaResult(
        symptom=Symptom(
            component="ranker",
            metric="ndcg@10",
            incident_type="quality_degradation",
            detected_at=DETECTED,
            onset=T0 + timedelta(minutes=20),
        ),
        phases=phases,
        hypotheses=hyps if hypotheses else [],
        blast_radius=["ranker", "homepage_feed"],
        next_steps=["Check the user_age ingestion job", "Backfill user_age nulls"],
        window_start=T0 - timedelta(hours=6),
        window_end=DETECTED,
    )


def make_incident(**overrides: object) -> IncidentSummary:
    fields: dict[str, object] = {
        "key": "INC-0042",
        "title": "Ranking quality dropped on homepage feed",
        "type": "quality_degradation",
        "subtype": "ndcg_drop",
        "severity": "high",
        "priority": "P2",
        "team": "ranking",
        "state": "investigating",
        "component": "ranker",
        "metric": "ndcg@10",
        "detected_at": DETECTED,
        "system": "recsys-prod",
        "occurrences": 3,
        "timeline": [
            TimelineEntry(at=DETECTED, kind="detected", actor="system", summary="ndcg@10 below 0.61"),
            TimelineEntry(at=DETECTED + timedelta(minutes=4), kind="transition", actor="alice", summary="acknowledged"),
        ],
    }
    fields.update(overrides)
    return IncidentSummary.model_validate(fields)


# -- filters ---------------------------------------------------------------------------------


def test_filters_format_percent_time_number_and_duration() -> None:
    assert pct(0.83) == "83 %"
    assert ts(datetime(2026, 3, 2, 13, 15, tzinfo=ZoneInfo("Europe/Berlin"))) == "2026-03-02 12:15 UTC"
    assert num(1234) == "1.2k"
    assert num(2_500_000) == "2.5M"
    assert num(0.012345) == "0.0123"
    assert num(12.0) == "12"
    assert duration(timedelta(hours=2, minutes=5)) == "2h 05m"


def test_environment_autoescapes_html_templates_only() -> None:
    env = environment()
    assert env.autoescape("rca_report.html.j2") is True
    assert env.autoescape("_macros.html.j2") is True
    assert env.autoescape("rca_report.md.j2") is False
    assert isinstance(env.undefined("x"), jinja2.StrictUndefined)


# -- HTML ------------------------------------------------------------------------------------


def test_html_shows_headline_facts_every_hypothesis_and_failed_phase() -> None:
    out = render_html(make_result(), make_incident(), generated_at=GENERATED)
    answer = out[out.index('class="answer"') : out.index('id="incident-title"')]
    assert "feature_store" in answer
    assert "83 %" in answer
    assert "upstream null rate" in answer
    assert "homepage_feed" in answer  # blast radius
    for h in ("feature_store", "ranker", "gateway"):
        assert f'<span class="component">{h}</span>' in out
    for rank in (1, 2, 3):
        assert f'id="hypothesis-{rank}"' in out
    assert LINEAGE_ERROR in out
    # The failed phase is flagged in the headline, not only in its own card.
    assert '<a href="#phase-lineage">lineage</a> (failed)' in answer
    assert "Phase failed:" in out
    assert "INC-0042" in out and "P2" in out and "2026-03-02 11:15 UTC" in out
    assert "Check the user_age ingestion job" in out
    assert "acknowledged" in out  # timeline
    assert "✓" in out and "✗" in out
    assert "upstream_precedes_downstream" in out
    assert "@media print" in out
    assert "http://" not in out and "https://" not in out  # self-contained


def test_html_escapes_hostile_strings() -> None:
    result = make_result(metric=HOSTILE)
    incident = make_incident(title=HOSTILE, team='"><img src=x onerror=alert(1)>')
    result.hypotheses[0].supporting.append(HOSTILE)
    out = render_html(result, incident, generated_at=GENERATED)
    assert "<script>" not in out
    assert "<img src=x" not in out
    assert html.escape(HOSTILE) in out


def test_html_without_hypotheses_says_no_root_cause_and_why() -> None:
    out = render_html(make_result(hypotheses=False), make_incident(), generated_at=GENERATED)
    assert "No root cause could be ranked" in out
    assert "none of it singled out a candidate" in out
    assert "Most likely root cause" not in out


def test_html_reason_when_every_phase_failed() -> None:
    result = make_result(hypotheses=False)
    for p in result.phases:
        p.status, p.findings, p.error = PhaseStatus.FAILED, [], "boom"
    out = render_html(result, make_incident(), generated_at=GENERATED)
    assert "every RCA phase failed or was skipped" in out


def test_html_renders_ad_hoc_incident_without_triage_fields() -> None:
    result = make_result()
    incident = IncidentSummary.ad_hoc(result.symptom, system="recsys-prod")
    out = render_html(result, incident, generated_at=GENERATED)
    assert incident.key == "ad-hoc"
    assert "Ad-hoc RCA of ranker / ndcg@10" in out


def test_incident_summary_reads_placeholders_as_unset_but_rejects_bad_values() -> None:
    incident = make_incident(severity="-", priority="", state="-", team="-", subtype="")
    assert (incident.severity, incident.priority, incident.state, incident.team) == (None, None, None, None)
    assert "<dt>Severity</dt><dd>—</dd>" in render_html(make_result(), incident, generated_at=GENERATED)
    with pytest.raises(ValueError, match="severity"):
        make_incident(severity="catastrophic")


# -- Markdown --------------------------------------------------------------------------------


def test_markdown_has_tables_and_escapes_pipes_and_html() -> None:
    result = make_result(metric="a|b")
    result.hypotheses[1].supporting.append(HOSTILE)
    md = render_markdown(result, make_incident(title="x | y"), generated_at=GENERATED)
    assert "| # | Component | Metric | Kind | Score | Confidence | Status | Phases |" in md
    assert "| 1 | feature_store | a\\|b | upstream null rate | 2.46 | 83 % | supported |" in md
    assert "x \\| y" in md
    assert "<script>" not in md
    assert "&lt;script&gt;" in md
    assert "**failed**" in md and LINEAGE_ERROR in md
    # Every table row has the column count of its header: no cell broke out.
    for block in re.findall(r"(?:^\|.*\|\n)+", md, flags=re.M):
        rows = block.strip().splitlines()
        widths = {len(re.split(r"(?<!\\)\|", row)) for row in rows}
        assert len(widths) == 1, rows


def test_markdown_without_hypotheses() -> None:
    md = render_markdown(make_result(hypotheses=False), make_incident(), generated_at=GENERATED)
    assert "## No root cause could be ranked" in md
    assert "| # | Component" not in md


def test_escape_markdown_handles_backslash_before_pipe() -> None:
    assert escape_markdown("a\\|b") == "a\\\\\\|b"
    assert escape_markdown("line1\nline2") == "line1 line2"


# -- write_report ----------------------------------------------------------------------------


def test_write_report_writes_both_files_and_no_temp_files(tmp_path: Path) -> None:
    out_dir = tmp_path / "reports" / "INC-0042"
    paths = write_report(make_result(), make_incident(), out_dir, "INC-0042-rca-1", generated_at=GENERATED)
    assert paths.html == out_dir / "INC-0042-rca-1.html"
    assert paths.markdown == out_dir / "INC-0042-rca-1.md"
    assert paths.html.read_text(encoding="utf-8") == render_html(make_result(), make_incident(), generated_at=GENERATED)
    assert "## Ranked hypotheses" in paths.markdown.read_text(encoding="utf-8")
    assert sorted(p.name for p in out_dir.iterdir()) == ["INC-0042-rca-1.html", "INC-0042-rca-1.md"]


def test_write_report_replaces_in_place_and_keeps_old_file_on_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = write_report(make_result(), make_incident(), tmp_path, "r", generated_at=GENERATED)
    old = paths.html.read_text(encoding="utf-8")

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write_report(make_result(hypotheses=False), make_incident(), tmp_path, "r")
    assert paths.html.read_text(encoding="utf-8") == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html", "r.md"]


def test_write_report_refuses_path_like_stem(tmp_path: Path) -> None:
    with pytest.raises(RcaflowsError, match="not a plain file name"):
        write_report(make_result(), make_incident(), tmp_path, "../escape")


# -- artifacts -------------------------------------------------------------------------------


def test_causes_table_rows_follow_hypothesis_order() -> None:
    result = make_result()
    rows = causes_table(result)
    assert [r["rank"] for r in rows] == [1, 2, 3]
    assert [r["component"] for r in rows] == [h.component for h in result.hypotheses]
    assert rows[0] == {
        "rank": 1,
        "component": "feature_store",
        "metric": "null_rate.user_age",
        "kind": "upstream_null_rate",
        "score": 2.457,
        "confidence": "83 %",
        "status": "supported",
        "phases": "statistical, model_behaviour",
        "top_evidence": "null rate of user_age rose from 0.2 % to 31 % at 09:00",
    }
    assert rows[2]["top_evidence"] == "—"
    assert causes_table(make_result(hypotheses=False)) == []


def test_markdown_summary_has_headline_causes_failed_phase_and_next_steps() -> None:
    md = markdown_summary(make_result(), make_incident())
    assert "**Most likely root cause:** feature_store / null_rate.user_age" in md
    assert "83 % confidence" in md
    assert "| 3 | gateway / error_rate |" in md
    assert "lineage" in md and "Warning" in md
    assert "1. Check the user_age ingestion job" in md
    empty = markdown_summary(make_result(hypotheses=False), make_incident())
    assert "No root cause could be ranked" in empty


# -- templates -------------------------------------------------------------------------------


def test_template_dir_finds_repo_templates_in_editable_install() -> None:
    found = template_dir()
    assert (found / "rca_report.html.j2").is_file()
    assert (found / "rca_report.md.j2").is_file()


def _fake_package(root: Path) -> Path:
    pkg = root / "src" / "rcaflows"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    return pkg


def test_template_dir_prefers_packaged_templates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = _fake_package(tmp_path)
    (pkg / "_templates").mkdir()
    (tmp_path / "templates").mkdir()
    monkeypatch.setattr(rcaflows, "__file__", str(pkg / "__init__.py"))
    assert template_dir() == (pkg / "_templates").resolve()


def test_template_dir_falls_back_to_repo_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = _fake_package(tmp_path)
    (tmp_path / "templates").mkdir()
    monkeypatch.setattr(rcaflows, "__file__", str(pkg / "__init__.py"))
    assert template_dir() == (tmp_path / "templates").resolve()


def test_template_dir_missing_names_both_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = _fake_package(tmp_path)
    monkeypatch.setattr(rcaflows, "__file__", str(pkg / "__init__.py"))
    with pytest.raises(RcaflowsError) as err:
        template_dir()
    assert str(pkg.resolve() / "_templates") in str(err.value)
    assert str(tmp_path.resolve() / "templates") in str(err.value)


# -- plots -----------------------------------------------------------------------------------


def _series() -> pd.Series:
    index = pd.date_range(T0 - timedelta(hours=3), DETECTED, freq="5min", tz="UTC")
    values = np.random.default_rng(7).normal(0.7, 0.01, len(index))
    values[index >= T0] -= 0.1
    return pd.Series(values, index=index, name="ndcg@10")


def test_symptom_plot_embeds_as_data_uri_with_alt_text() -> None:
    uri = symptom_plot(_series(), onset=T0, detected_at=DETECTED)
    assert uri.startswith("data:image/png;base64,")
    assert base64.b64decode(uri.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    caption = "ndcg@10 over the window, onset and detection marked"
    out = render_html(make_result(), make_incident(), plots={caption: uri}, generated_at=GENERATED)
    assert f'<img src="{uri}" alt="{caption}">' in out
    assert "<img" not in render_html(make_result(), make_incident(), generated_at=GENERATED)


def test_plots_must_be_inline_images() -> None:
    with pytest.raises(RcaflowsError, match="data URI"):
        render_html(make_result(), make_incident(), plots={"x": "https://evil.example/x.png"})


def test_symptom_plot_refuses_empty_series() -> None:
    with pytest.raises(EmptyWindowError):
        symptom_plot(pd.Series([], dtype=float, name="ndcg@10"), onset=None, detected_at=None)
