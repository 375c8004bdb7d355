"""Tests of the synthesis: merging, ordering by onset, rules, statuses and confidence."""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
import pytest

from rcaflows.config.loader import demo_config_path, load_config
from rcaflows.data import MonitoringData
from rcaflows.rca import (
    Finding,
    HypothesisStatus,
    PhaseName,
    PhaseResult,
    PhaseStatus,
    RcaContext,
    Symptom,
    load_rules,
    run_rca,
    synthesize,
)

END = pd.Timestamp("2026-03-02T12:00:00Z").to_pydatetime()
ONSET = END - timedelta(minutes=45)
CFG = load_config(demo_config_path())


def ctx(
    component: str = "scoring_api",
    metric: str = "latency_p95_ms",
    incident_type: str = "performance_availability",
) -> RcaContext:
    data = MonitoringData(start=END - timedelta(hours=6), end=END)
    return RcaContext.build(
        CFG,
        data,
        Symptom(component=component, metric=metric, incident_type=incident_type, detected_at=END, onset=ONSET),
    )


def f(
    phase: PhaseName,
    component: str,
    kind: str,
    score: float,
    minutes: float | None = -1.0,
    metric: str | None = None,
    supports: bool = True,
    **details: object,
) -> Finding:
    onset: datetime | None = None if minutes is None else ONSET + timedelta(minutes=minutes)
    return Finding(
        phase=phase,
        component=component,
        kind=kind,
        score=score,
        onset=onset,
        metric=metric,
        supports=supports,
        evidence=[f"{component} {kind} ({score})"],
        details=dict(details),
    )


def ok(phase: PhaseName, *findings: Finding) -> PhaseResult:
    return PhaseResult(phase=phase, status=PhaseStatus.OK, findings=list(findings))


S, C, L, M, E = (
    PhaseName.STATISTICAL,
    PhaseName.COMPONENT,
    PhaseName.LINEAGE,
    PhaseName.MODEL_BEHAVIOUR,
    PhaseName.ENVIRONMENTAL,
)


def test_agreeing_phases_with_a_clear_margin_give_high_confidence() -> None:
    res = synthesize(
        ctx(),
        [
            ok(
                S,
                f(S, "feature_db", "metric_shift", 0.9, metric="cpu_util"),
                f(S, "reporting_batch", "metric_shift", 0.5, metric="cpu_util"),
            ),
            ok(C, f(C, "feature_db", "root_candidate", 0.9, metric="cpu_util")),
            ok(E, f(E, "feature_db", "infra_change", 0.7, metric="infra", description="resize")),
        ],
    )
    top = res.top
    assert top is not None and top.component == "feature_db"
    assert top.status == HypothesisStatus.SUPPORTED and top.confidence > 0.75
    assert top.phases == [S, C, E] and top.kind == "infra_change"
    second = res.hypotheses[1]
    assert second.component == "reporting_batch" and second.status == HypothesisStatus.WEAK
    assert second.confidence < 0.1
    assert "reporting_batch is unrelated to scoring_api" in second.contradicting
    assert res.next_steps and "feature_db" in res.next_steps[0]


def test_single_phase_thin_margin_gives_low_confidence() -> None:
    res = synthesize(
        ctx(),
        [
            ok(
                S,
                f(S, "geo_api", "metric_shift", 0.60, metric="error_rate"),
                f(S, "feature_store", "metric_shift", 0.58, metric="error_rate"),
            )
        ],
    )
    assert res.top is not None and res.top.status == HypothesisStatus.WEAK
    assert res.top.confidence < 0.3


def test_a_candidate_that_moved_after_the_symptom_never_outranks_one_that_moved_before() -> None:
    res = synthesize(
        ctx(),
        [
            ok(
                S,
                f(S, "geo_api", "metric_shift", 0.95, minutes=10, metric="latency_p95_ms"),
                f(S, "feature_store", "metric_shift", 0.4, minutes=-2, metric="latency_p95_ms"),
            ),
            ok(C, f(C, "geo_api", "root_candidate", 0.95, minutes=10, metric="latency_p95_ms")),
        ],
    )
    assert [h.component for h in res.hypotheses] == ["feature_store", "geo_api"]
    late = res.hypotheses[1]
    assert late.status == HypothesisStatus.REFUTED and late.confidence <= 0.05
    assert any("after the symptom's onset" in c for c in late.contradicting)


def test_rules_fire_and_are_listed() -> None:
    res = synthesize(
        ctx(),
        [
            ok(
                E,
                f(E, "scoring_api", "deploy", 0.8, minutes=-3, metric="deploy", description="scoring-api v2"),
            ),
            ok(S, f(S, "scoring_api", "metric_shift", 0.8, metric="latency_p95_ms")),
        ],
    )
    top = res.top
    assert top is not None and top.rules == ["deploy_explains_latency_or_errors"]
    assert top.kind == "deploy" and res.next_steps[0].startswith("Roll back scoring-api v2 on scoring_api")


def test_fairness_rule_needs_no_feature_drift() -> None:
    c = ctx("fraud_model", "fpr_gap", "bias_fairness")
    seg = f(M, "fraud_model", "segment_shift", 0.8, metric="fpr[group=B]")
    assert "model_change_explains_fairness_gap" in synthesize(c, [ok(M, seg)]).hypotheses[0].rules
    drift = f(M, "txn_ingest", "feature_drift", 0.8, metric="amount")
    res = synthesize(c, [ok(M, seg, drift)])
    model = next(h for h in res.hypotheses if h.component == "fraud_model")
    assert "model_change_explains_fairness_gap" not in model.rules


def test_contradicting_findings_and_failed_phases() -> None:
    res = synthesize(
        ctx(),
        [
            ok(
                C,
                f(C, "gateway", "victim", 0.2, metric="latency_p95_ms"),
                f(C, "feature_db", "root_candidate", 0.7, metric="cpu_util"),
            ),
            ok(E, f(E, "alerts_dashboard", "change_after_onset", 0.3, minutes=5, supports=False)),
            PhaseResult(phase=L, status=PhaseStatus.FAILED, error="KeyError: 'x'"),
        ],
    )
    by = {h.component: h for h in res.hypotheses}
    assert res.top is not None and res.top.component == "feature_db"
    assert by["gateway"].status == HypothesisStatus.REFUTED
    assert by["alerts_dashboard"].status == HypothesisStatus.REFUTED
    assert any("lineage" in s and "KeyError" in s for s in res.next_steps)
    assert len(res.phases) == 3


def test_no_findings_give_no_hypotheses() -> None:
    res = synthesize(ctx(), [])
    assert res.hypotheses == [] and res.top is None
    assert res.window_end == END


def test_run_rca_on_an_empty_window_completes() -> None:
    res = run_rca(ctx())
    assert {p.phase for p in res.phases} == set(PhaseName)
    assert all(p.status != PhaseStatus.FAILED for p in res.phases), [p.error for p in res.phases]


def test_rules_file_is_well_formed() -> None:
    rules = load_rules()
    known = {
        "incident_types",
        "symptom_metric_any",
        "relation_any",
        "component_kinds",
        "kinds_any",
        "kinds_all_groups",
        "kinds_none",
        "metric_kinds_any",
        "global_kinds_any",
        "global_kinds_none",
    }
    assert set(rules["phase_weights"]) == {p.value for p in PhaseName}
    for rule in rules["rules"]:
        assert rule["name"] and rule["description"] and isinstance(rule["bonus"], int | float)
        assert set(rule["when"]) <= known, rule["name"]
    assert "default" in rules["next_steps"]
    assert rules["agreement"][-1] + rules["rule_agreement_bonus"] <= 1


@pytest.mark.parametrize("temperature", [0.35])
def test_confidences_are_probabilities(temperature: float) -> None:
    res = synthesize(ctx(), [ok(S, *[f(S, f"c{i}", "metric_shift", 0.1 * i, metric="m") for i in range(1, 8)])])
    assert load_rules()["temperature"] == temperature
    assert sum(h.confidence for h in res.hypotheses) <= 1 + 1e-9
    assert [h.rank for h in res.hypotheses] == list(range(1, len(res.hypotheses) + 1))
