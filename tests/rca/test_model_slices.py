"""The model-behaviour phase names the version x slice that carries a canary's regression (stored truth)."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

import rcaflows.demo as demo
from rcaflows.config.loader import demo_config_path, load_config
from rcaflows.rca import RcaContext, Symptom, run_rca
from rcaflows.rca.models import PhaseName
from rcaflows.rca.phases.model_behaviour import ModelBehaviourPhase


def _rca(name: str, seed: int, metric: str = "accuracy", itype: str = "quality_degradation"):  # type: ignore[no-untyped-def]
    world = demo.simulate(name, seed=seed)
    data = world.data.slice(demo.DEMO_END - timedelta(hours=6), demo.DEMO_END)
    symptom = Symptom(component="fraud_model", metric=metric, incident_type=itype, detected_at=demo.DEMO_END)
    return run_rca(RcaContext.build(load_config(demo_config_path()), data, symptom)), world.truth


@pytest.mark.parametrize("seed", [7, 1, 2])
def test_canary_slice_is_ranked_first_by_the_model_phase(seed: int) -> None:
    result, truth = _rca("canary_slice_regression", seed)
    (phase,) = [p for p in result.phases if p.phase == PhaseName.MODEL_BEHAVIOUR]
    top = max(phase.findings, key=lambda f: f.score)
    assert top.kind == "version_regression"
    assert f"{top.component}:{top.metric}" == f"{truth.root_cause_component}:{truth.root_cause_metric}"
    assert top.details["slice"] == {"country": "DE", "model_version": "v6-canary"}
    assert top.details["loss"] > 0.5 and top.details["rest_loss"] < 0.1
    # the version comparison is in the evidence: canary vs stable v5 overall
    cmp = top.details["comparison"]
    assert cmp["baseline"] == "v5" and {r["value"] for r in cmp["values"]} == {"v5", "v6-canary"}
    assert any(e.startswith("model_version comparison") and "v6-canary" in e for e in top.evidence)
    assert result.hypotheses[0].component == truth.root_cause_component
    assert phase.details["slices"]["tried"] > 30


def test_bias_scenario_names_the_group_and_input_faults_name_no_slice() -> None:
    result, _ = _rca("retrain_bias", 7, "fpr_gap", "bias_fairness")
    (phase,) = [p for p in result.phases if p.phase == PhaseName.MODEL_BEHAVIOUR]
    slices = [f for f in phase.findings if f.kind.endswith("_regression")]
    assert all("group=B" in f.metric for f in slices)
    result, _ = _rca("schema_change_nulls", 7)
    (phase,) = [p for p in result.phases if p.phase == PhaseName.MODEL_BEHAVIOUR]
    # every row is hit by the null feature: the drop is not confined to a slice
    assert not [f for f in phase.findings if f.kind.endswith("_regression")]
    assert "version column 'model_version' holds one value (v5); nothing to compare" in phase.details["log_notes"]


def test_logged_attributions_and_input_ids_are_judged_by_the_phase() -> None:
    world = demo.simulate("no_fault", seed=7)
    data = world.data.slice(demo.DEMO_END - timedelta(hours=6), demo.DEMO_END)
    p = data.predictions.copy()
    onset = demo.DEMO_END - timedelta(minutes=45)
    after = (p["timestamp"] >= onset).to_numpy()
    rng = np.random.default_rng(0)
    # logged attributions: merchant_risk's weight triples from the onset, its values do not move
    p["shap_amount"] = rng.normal(0, 1.0, len(p))
    p["shap_merchant_risk"] = rng.normal(0, 0.5, len(p)) * np.where(after, 3.0, 1.0)
    # input hashes: every second row repeats the previous input; after the onset 30 % of repeats disagree
    p["input_hash"] = [f"h{i // 2}" for i in range(len(p))]
    pred = p["prediction"].to_numpy().copy()
    pred[1::2] = pred[0 : len(pred) - 1 : 2][: len(pred[1::2])]  # a repeated input: the same prediction
    flip = after & (np.arange(len(p)) % 2 == 1) & (rng.random(len(p)) < 0.3)
    p["prediction"] = np.where(flip, 1 - pred, pred)
    cfg = load_config(demo_config_path())
    log = cfg.models[0].log.model_copy(
        update={"id": "input_hash", "attributions": {"amount": "shap_amount", "merchant_risk": "shap_merchant_risk"}}
    )
    cfg = cfg.model_copy(update={"models": [cfg.models[0].model_copy(update={"log": log})]})
    symptom = Symptom(
        component="fraud_model",
        metric="accuracy",
        incident_type="quality_degradation",
        detected_at=demo.DEMO_END,
        onset=onset,
    )
    ctx = RcaContext.build(cfg, type(data)(start=data.start, end=data.end, predictions=p), symptom)
    res = ModelBehaviourPhase().run(ctx)
    kinds = {f.kind: f for f in res.findings}
    assert kinds["attribution_drift"].metric == "merchant_risk"
    assert "attribution_shift" not in kinds  # the correlation proxy gives way to logged attributions
    inc = kinds["inconsistent_predictions"]
    assert 0.2 < inc.details["rate"] < 0.4 and inc.details["reference_rate"] == 0.0
