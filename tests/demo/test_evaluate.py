"""The demo's truth checker counts incidents per fault: one each, none shared, none extra."""

from __future__ import annotations

from typing import Any

from rcaflows.demo import DEMO_END, simulate
from rcaflows.demo.evaluate import evaluate


def _inc(key: str, itype: str, components: list[str], types: list[str] | None = None) -> dict[str, Any]:
    return {
        "key": key,
        "type": itype,
        "types": types or [itype],
        "components": components,
        "severity": "high",
        "created": True,
    }


def _inv(key: str, *ranked: str) -> dict[str, Any]:
    return {"incident": key, "top": ranked[0], "hypotheses": list(ranked), "confidence": 0.9, "report": {"html": "r"}}


def _result(incidents: list[dict[str, Any]], investigations: list[dict[str, Any]]) -> dict[str, Any]:
    return {"incidents": incidents, "investigations": investigations, "suppressed": []}


TWO = simulate("drift_and_deploy").truth  # txn_ingest's drift, then scoring_api's deploy


def test_two_faults_with_an_incident_each_pass_and_are_scored_each() -> None:
    result = _result(
        [
            _inc("INC-1", "data_quality", ["feature_store", "fraud_model"], ["data_quality", "quality_degradation"]),
            _inc("INC-2", "performance_availability", ["scoring_api", "gateway"]),
        ],
        [_inv("INC-1", "txn_ingest", "feature_store"), _inv("INC-2", "scoring_api", "txn_ingest")],
    )
    out = evaluate(TWO, result)
    assert out.one_per_fault and out.detected and out.top1
    assert [(f.root_cause, f.incidents, f.truth_rank) for f in out.faults] == [
        ("txn_ingest", ["INC-1"], 1),
        ("scoring_api", ["INC-2"], 1),
    ]
    assert out.faults[0].found_types == ["data_quality", "quality_degradation"]


def test_one_incident_for_two_faults_fails() -> None:
    merged = _inc("INC-1", "data_quality", ["feature_store", "fraud_model", "scoring_api", "gateway"])
    out = evaluate(TWO, _result([merged], [_inv("INC-1", "txn_ingest", "scoring_api")]))
    assert out.shared_incidents == ["INC-1"] and not out.one_per_fault
    assert out.faults[1].truth_rank == 2 and not out.top1


def test_an_extra_incident_fails_and_a_wrong_top_cause_is_ranked_honestly() -> None:
    truth = simulate("deploy_latency").truth
    result = _result(
        [_inc("INC-1", "performance_availability", ["scoring_api", "gateway"]), _inc("INC-2", "x", ["geo_api"])],
        [_inv("INC-1", "feature_db", "scoring_api"), _inv("INC-2", "geo_api")],
    )
    out = evaluate(truth, result)
    assert out.extra_incidents == ["INC-2"] and not out.one_per_fault
    assert out.faults[0].incidents == ["INC-1"] and out.truth_rank == 2 and not out.top1


def test_two_incidents_for_one_fault_fail() -> None:
    truth = simulate("dependency_timeout").truth
    result = _result(
        [
            _inc("INC-1", "integration_dependency", ["geo_api"]),
            _inc("INC-2", "performance_availability", ["scoring_api", "gateway"]),
        ],
        [_inv("INC-1", "geo_api"), _inv("INC-2", "geo_api", "scoring_api")],  # its RCA points at geo_api too
    )
    out = evaluate(truth, result)
    assert out.faults[0].incidents == ["INC-1", "INC-2"] and not out.one_per_fault


def test_incidents_on_declared_distractors_are_listed_apart() -> None:
    truth = simulate("distractor_cpu").truth
    result = _result(
        [
            _inc("INC-1", "performance_availability", ["reporting_batch"]),
            _inc("INC-2", "performance_availability", ["feature_db", "feature_store"]),
        ],
        [_inv("INC-1", "reporting_batch"), _inv("INC-2", "feature_db")],
    )
    out = evaluate(truth, result)
    assert out.distractor_incidents == ["INC-1"] and out.extra_incidents == [] and out.one_per_fault


def test_no_fault_must_stay_quiet() -> None:
    truth = simulate("no_fault", end=DEMO_END).truth
    assert evaluate(truth, _result([], [])).one_per_fault
    out = evaluate(truth, _result([_inc("INC-1", "performance_availability", ["gateway"])], []))
    assert not out.quiet and not out.one_per_fault and out.extra_incidents == ["INC-1"]


def test_a_model_level_cause_counts_as_first_only_when_the_top_hypothesis_names_it() -> None:
    truth = simulate("arm_hurts_group").truth
    assert truth.faults[0].root_cause_terms == ["experiment_arm=treatment", "group=B"]
    incident = _inc("INC-1", "bias_fairness", ["fraud_model"])

    def scored(metric: str) -> Any:
        inv = {**_inv("INC-1", "fraud_model", "etl"), "top_metric": metric}
        return evaluate(truth, _result([incident], [inv]))

    named = scored("error_rate[group=B,experiment_arm=treatment]")
    assert named.top1 and named.faults[0].truth_rank == 1
    # the right component blamed for the group's gap, but not for the arm: the injected cause is not first
    vague = scored("fpr_gap")
    assert vague.one_per_fault and vague.detected and not vague.top1
    assert vague.faults[0].truth_rank is None and vague.faults[0].top_metric == "fpr_gap"
