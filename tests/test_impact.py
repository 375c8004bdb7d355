"""Impact in numbers on the demo: the counts match what the simulator injected (its ground truth).

Each scenario's incidents are opened by the real detection into a SQLite store; the truth is read
from the simulated world itself (rows after the true onset, rows the injection nulled, decisions
that differ from the fault-free world that shares the same background).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rcaflows.config.models import SystemConfig
from rcaflows.demo import DEMO_END, demo_config, simulate
from rcaflows.impact import ImpactNumbers, affected_predictions, impact_of
from rcaflows.incidents import Incident, Store, list_incidents
from rcaflows.pipeline import detect_and_open


@dataclass
class Run:
    cfg: SystemConfig
    store: Store
    incidents: list[Incident]
    numbers: dict[str, ImpactNumbers]


_RUNS: dict[str, Run] = {}


def run(scenario: str, tmp: Path) -> Run:
    """Detect on the demo scenario once (cached per test session) and compute each incident's impact."""
    if scenario not in _RUNS:
        cfg = demo_config(scenario)
        store = Store(f"sqlite:///{tmp / f'{scenario}.db'}")
        detect_and_open(store, cfg, DEMO_END)
        with store.session(readonly=True) as s:
            incs = list_incidents(s)
            for i in incs:
                s.expunge(i)
        _RUNS[scenario] = Run(cfg, store, incs, {i.key: impact_of(cfg, i) for i in incs})
    return _RUNS[scenario]


@pytest.fixture(scope="module")
def tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("impact")


def _since_onset(scenario: str, onset_of: str | None = None) -> pd.DataFrame:
    """Return the scenario's predictions from the true onset (of ``onset_of``'s fault) to the end."""
    onset = simulate(onset_of or scenario).truth.onset
    assert onset is not None
    p = simulate(scenario).data.predictions
    return p[(p["timestamp"] >= onset) & (p["timestamp"] < DEMO_END)]


def _only(r: Run) -> ImpactNumbers:
    assert len(r.incidents) == 1, [i.title for i in r.incidents]
    return r.numbers[r.incidents[0].key]


def test_latency_incident_on_the_api_counts_every_slowed_request(tmp: Path) -> None:
    r = run("deploy_latency", tmp)
    n = _only(r)
    truth = _since_onset("deploy_latency")  # v2.14.0 slows every request from the onset on (x2.5 p95)
    assert n.requests == pytest.approx(len(truth), rel=0.02)
    assert n.slow_requests == pytest.approx(len(truth), rel=0.03)
    assert n.failed_requests is not None and n.failed_requests <= 0.01 * len(truth)  # latency only, no errors
    assert n.clients_affected == truth["client_id"].nunique()
    # the post-mortem figure is no longer "0, model outside the blast radius"
    volume, note = affected_predictions(n)
    assert volume == min((n.slow_requests or 0) + (n.failed_requests or 0), n.requests) and volume > 1000
    assert "slow" in note
    ic = r.cfg.impact
    assert n.total_cost == pytest.approx(
        (n.failed_requests or 0) * ic.cost_per_failed_request + (n.slow_requests or 0) * ic.cost_per_slow_request,
        abs=0.02,
    )
    assert any(m.startswith("slow:") for m in n.method)


def test_bias_incident_counts_predictions_by_group_and_the_flipped_decisions(tmp: Path) -> None:
    n = _only(run("retrain_bias", tmp))
    truth = _since_onset("retrain_bias")
    groups = {g.group: g for g in n.by_group}
    assert set(groups) == {"A", "B"}
    # the detected onset may lie a minute after the true one: at most ~2 minutes of traffic apart
    assert groups["B"].predictions == pytest.approx(int((truth["group"] == "B").sum()), rel=0.05)
    assert groups["A"].excess_positives <= 5  # group A is untouched by the retrain
    # truth: decisions that differ from the fault-free world with the same transactions
    clean = _since_onset("no_fault", onset_of="retrain_bias")
    flipped = int(((truth["prediction"].to_numpy() == 1) & (clean["prediction"].to_numpy() == 0)).sum())
    assert n.wrong_decisions == pytest.approx(flipped, rel=0.15)
    assert groups["B"].positive_rate is not None and groups["B"].baseline_positive_rate is not None
    assert groups["B"].positive_rate > 2 * groups["B"].baseline_positive_rate


@pytest.mark.parametrize(
    ("scenario", "column"), [("schema_change_nulls", "merchant_risk"), ("dependency_timeout", "geo_distance_km")]
)
def test_degraded_predictions_are_the_rows_the_fault_left_without_a_feature(
    tmp: Path, scenario: str, column: str
) -> None:
    n = _only(run(scenario, tmp))
    truth = _since_onset(scenario)
    assert n.degraded_predictions == pytest.approx(int(truth[column].isna().sum()), rel=0.02)
    assert n.degraded_predictions and n.degraded_predictions > 300


def test_dependency_timeout_failures_follow_the_injected_error_rate(tmp: Path) -> None:
    n = _only(run("dependency_timeout", tmp))
    w = simulate("dependency_timeout")
    m = w.data.metrics
    gw = m[(m["component"] == "gateway") & (m["metric"] == "error_rate")].set_index("timestamp")["value"]
    assert w.truth.onset is not None
    normal = float(gw[gw.index < w.truth.onset].tail(360).median())
    # truth: the gateway's error rate is moved to 6.5 % from 2 minutes after onset (scenario effect)
    truth = _since_onset("dependency_timeout")
    hit = truth[truth["timestamp"] >= w.truth.onset + pd.Timedelta(minutes=3)]
    expected = len(hit) * (6.5 - normal) / 100
    assert n.failed_requests == pytest.approx(expected, rel=0.2)
    assert n.downtime_minutes >= 35  # 6.5 % errors passes the 5 % downtime rate for most of the 45 minutes


def test_a_component_off_the_request_path_affects_no_request(tmp: Path) -> None:
    r = run("distractor_cpu", tmp)
    off = [i for i in r.incidents if i.component == "reporting_batch"]
    assert off, [i.component for i in r.incidents]
    n = r.numbers[off[0].key]
    assert n.requests == 0 and n.total_cost == 0
    assert "not on the request path" in n.method[0] or "no involved component" in n.method[0]


def test_executive_update_states_the_numbers(tmp: Path, tmp_path: Path) -> None:
    from rcaflows.notify.audiences import IncidentFacts, render_audience

    for scenario in ("deploy_latency", "retrain_bias", "schema_change_nulls"):
        r = run(scenario, tmp)
        aud = next(a for a in r.cfg.communication.audiences if a.kind == "executive")
        for inc in r.incidents:
            n = r.numbers[inc.key]
            _, body = render_audience(r.cfg, aud, IncidentFacts.of(inc), n, DEMO_END, DEMO_END)
            assert n.headline() in body
            assert "\n" not in body.strip()  # one paragraph
            for value in (n.slow_requests, n.degraded_predictions, n.wrong_decisions):
                if value:
                    assert f"{value:,}" in body
            assert f"{n.total_cost:,.2f} EUR" in body
            assert "Next update by 2026-03-02 12:00 UTC" in body
            assert "Decision or resources needed:" in body
            tech = next(a for a in r.cfg.communication.audiences if a.kind == "technical")
            _, text = render_audience(r.cfg, tech, IncidentFacts.of(inc), n, DEMO_END, None)
            assert text.startswith(f"[{inc.severity.value.upper()}/{inc.priority.value}] {inc.key}")
            assert all(m in text for m in n.method)  # the technical message shows how each number was computed


def test_unreadable_sources_give_notes_not_numbers(tmp: Path) -> None:
    r = run("deploy_latency", tmp)
    bad = r.cfg.model_copy(
        update={"sources": [r.cfg.sources[0].model_copy(update={"kind": "files", "options": {"path": "/nonexistent"}})]}
    )
    n = impact_of(bad, r.incidents[0])
    assert n.requests is None and n.notes
    assert np.isfinite(n.duration.total_seconds())


def test_query_flood_counts_the_attackers_requests_apart(tmp: Path) -> None:
    n = _only(run("query_flood", tmp))
    truth = _since_onset("query_flood")
    assert n.attacker_requests == int((truth["client_id"] == "c-0666").sum())
    assert n.requests == len(truth) and n.requests > n.attacker_requests
    assert "abusive client" in n.headline()


def test_rca_report_and_postmortem_show_the_numbers(tmp: Path) -> None:
    from tests.reporting.test_render import make_incident, make_result

    from rcaflows.postmortem import build_postmortem
    from rcaflows.postmortem.render import render_markdown as render_postmortem_markdown
    from rcaflows.reporting import render_html, render_markdown

    r = run("deploy_latency", tmp)
    n = _only(r)
    incident = make_incident().model_copy(update={"impact": n})
    html = render_html(make_result(), incident)
    assert n.headline() in html and 'id="impact-headline"' in html
    md = render_markdown(make_result(), incident)
    assert "Impact in numbers:" in md and f"{n.slow_requests:,}" in md
    with r.store.session() as s:
        pm = build_postmortem(s, r.incidents[0].key, config=r.cfg)
    assert pm.impact.numbers is not None and pm.impact.numbers.slow_requests == n.slow_requests
    assert pm.impact.affected_predictions == affected_predictions(n)[0]
    assert "In numbers:" in render_postmortem_markdown(pm)
