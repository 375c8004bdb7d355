"""The RCA of a system with two models analyses each model on its own rows and names the model."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd

import rcaflows.demo as demo
from rcaflows.config.loader import demo_config_path, load_config
from rcaflows.config.models import SystemConfig
from rcaflows.data import MonitoringData
from rcaflows.rca import RcaContext, Symptom, run_rca
from rcaflows.rca.models import PhaseStatus
from rcaflows.rca.phases.model_behaviour import ModelBehaviourPhase

COLUMN = "served_by"


def _two_models() -> SystemConfig:
    cfg = load_config(demo_config_path())
    (base,) = cfg.models
    log = base.log.model_copy(update={"model": COLUMN})
    first = base.model_copy(update={"log": log})
    second = base.model_copy(update={"name": "fraud_model_eu", "log": log})
    return cfg.model_copy(update={"models": [first, second]})


def _shared_log(faulty: str) -> tuple[MonitoringData, demo.Truth]:
    """Return one prediction log of both models: ``faulty`` served the canary scenario, the other no fault."""
    broken = demo.simulate("canary_slice_regression", seed=7)
    quiet = demo.simulate("no_fault", seed=7)
    window = (demo.DEMO_END - timedelta(hours=6), demo.DEMO_END)
    a, b = broken.data.slice(*window), quiet.data.slice(*window)
    other = "fraud_model_eu" if faulty == "fraud_model" else "fraud_model"
    preds = pd.concat(
        [a.predictions.assign(**{COLUMN: faulty}), b.predictions.assign(**{COLUMN: other})], ignore_index=True
    ).sort_values("timestamp", kind="stable", ignore_index=True)
    return MonitoringData(
        start=a.start, end=a.end, metrics=a.metrics, predictions=preds, changes=a.changes
    ), broken.truth


def test_each_model_is_judged_on_its_own_rows_and_findings_name_their_model() -> None:
    cfg = _two_models()
    for faulty in ("fraud_model", "fraud_model_eu"):
        data, truth = _shared_log(faulty)
        symptom = Symptom(
            component="fraud_model", metric="accuracy", incident_type="quality_degradation", detected_at=demo.DEMO_END
        )
        ctx = RcaContext.build(cfg, data, symptom)
        phase = ModelBehaviourPhase().run(ctx)
        assert phase.status == PhaseStatus.OK
        assert set(phase.details["models"]) == {"fraud_model", "fraud_model_eu"}
        confined = [f for f in phase.findings if f.kind.endswith("_regression")]
        assert confined and {f.details["model"] for f in confined} == {faulty}, [
            (f.kind, f.metric, f.details["model"]) for f in confined
        ]
        top = confined[0]
        assert top.kind == "version_regression"
        assert top.details["slice"] == {"country": "DE", "model_version": "v6-canary"}
        assert f"model {faulty}:" in phase.summary and top.evidence[0].startswith(f"model {faulty}: ")
        result = run_rca(ctx)
        assert result.hypotheses[0].component == truth.root_cause_component


def test_a_model_without_rows_in_the_window_is_skipped_and_named() -> None:
    cfg = _two_models()
    data, _ = _shared_log("fraud_model")
    only_one = data.predictions[data.predictions[COLUMN] == "fraud_model"]
    data = MonitoringData(start=data.start, end=data.end, metrics=data.metrics, predictions=only_one)
    symptom = Symptom(
        component="fraud_model", metric="accuracy", incident_type="quality_degradation", detected_at=demo.DEMO_END
    )
    phase = ModelBehaviourPhase().run(RcaContext.build(cfg, data, symptom))
    assert phase.status == PhaseStatus.OK
    assert "too few predictions (reference 0, current 0)" in phase.details["models"]["fraud_model_eu"]["skipped"]
    assert {f.details["model"] for f in phase.findings} == {"fraud_model"}
