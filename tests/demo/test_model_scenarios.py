"""The model-level demo scenarios of issue 16: an experiment arm that hurts one group, an attribution shift,
and a poisoned training batch that the next retrain picks up.

Each runs detection and RCA through the engine on the simulated world and is scored by the demo's
own truth checker (:func:`rcaflows.demo.evaluate.evaluate`), which asks the top hypothesis to name
the injected arm or feature, not only the model's component.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from rcaflows.config import load_config
from rcaflows.config.loader import demo_config_path
from rcaflows.config.models import SystemConfig
from rcaflows.data import Window
from rcaflows.demo import DEMO_END, simulate
from rcaflows.demo.evaluate import evaluate
from rcaflows.demo.scenarios import training_batch_at
from rcaflows.detection import group_checks, run_detection
from rcaflows.rca import RcaContext, Symptom, run_rca
from rcaflows.rca.models import PhaseName, RcaResult

NEW = ["arm_hurts_group", "attribution_shift"]
SHAP = [
    "shap_amount",
    "shap_country_risk",
    "shap_merchant_risk",
    "shap_merchant_age_days",
    "shap_txn_count_24h",
    "shap_account_age_days",
    "shap_geo_distance_km",
]


@pytest.fixture(scope="module")
def cfg() -> SystemConfig:
    return load_config(demo_config_path())


def _engine(name: str, seed: int, cfg: SystemConfig) -> tuple[dict[str, Any], list[RcaResult]]:
    """Run detection and one RCA per candidate; return them in the shape of the detection flow's result."""
    world = simulate(name, seed=seed)
    data = world.data.slice(DEMO_END - timedelta(days=1, hours=1), DEMO_END)
    report = run_detection(cfg, Window.split(data, DEMO_END - timedelta(hours=1)))
    assert report.errors == []
    incidents, investigations, results = [], [], []
    for i, cand in enumerate(group_checks(report.checks, cfg), start=1):
        key = f"INC-{i}"
        symptom = Symptom(
            component=cand.component,
            metric=cand.metric,
            incident_type=cand.incident_type,
            detected_at=DEMO_END,
            onset=cand.onset,
        )
        res = run_rca(RcaContext.build(cfg, world.data.slice(DEMO_END - timedelta(hours=6), DEMO_END), symptom))
        results.append(res)
        incidents.append(
            {
                "key": key,
                "type": str(cand.incident_type),
                "types": [str(t) for t in cand.types] or [str(cand.incident_type)],
                "components": list(cand.components),
                "severity": "high",
                "created": True,
            }
        )
        top = res.top
        investigations.append(
            {
                "incident": key,
                "top": top.component if top else None,
                "top_metric": top.metric if top else None,
                "hypotheses": [h.component for h in res.hypotheses[: cfg.rca.top_k]],
                "confidence": top.confidence if top else None,
                "report": None,
            }
        )
    return {"incidents": incidents, "investigations": investigations, "suppressed": []}, results


@pytest.mark.slow
@pytest.mark.parametrize("seed", [7, 1])
@pytest.mark.parametrize("name", NEW)
def test_new_model_scenario_is_one_incident_with_its_cause_named_first(name: str, seed: int, cfg: SystemConfig) -> None:
    truth = simulate(name, seed=seed).truth
    result, (rca, *others) = _engine(name, seed, cfg)
    assert others == []  # one incident for the one fault
    out = evaluate(truth, result)
    assert out.detected and out.one_per_fault and out.top1, out.model_dump()
    (fault,) = out.faults
    assert fault.top_metric is not None
    assert all(t in fault.top_metric for t in truth.faults[0].root_cause_terms)
    # the model-behaviour phase carries the naming finding: the arm x group slice, or the feature
    (phase,) = [p for p in rca.phases if p.phase == PhaseName.MODEL_BEHAVIOUR]
    top = max(phase.findings, key=lambda f: f.score if f.kind in ("arm_regression", "attribution_drift") else -1)
    if name == "arm_hurts_group":
        assert top.kind == "arm_regression"
        assert top.details["slice"] == {"group": "B", "experiment_arm": "treatment"}
        assert top.metric == truth.root_cause_metric
        assert any(e.startswith("experiment_arm comparison") for e in top.evidence)
    else:
        assert top.kind == "attribution_drift" and top.metric == truth.root_cause_metric == "merchant_risk"
        assert top.details["share_current"] - top.details["share_reference"] >= 0.1


@pytest.mark.slow
def test_attribution_shift_fails_no_quality_metric_only_the_attribution_check(cfg: SystemConfig) -> None:
    data = simulate("attribution_shift").data.slice(DEMO_END - timedelta(days=1, hours=1), DEMO_END)
    report = run_detection(cfg, Window.split(data, DEMO_END - timedelta(hours=1)))
    failed = {(c.detector, c.metric) for c in report.failed}
    assert failed == {("attribution_drift", "merchant_risk")}
    quality = [c for c in report.checks if c.detector == "quality" and c.check == "two_proportion"]
    assert quality and all(str(c.status) == "ok" for c in quality)
    # the detector dates the shift at the injection (truth onset), not at the window's start
    (check,) = [c for c in report.failed]
    onset = simulate("attribution_shift").truth.onset
    assert check.onset is not None and abs(check.onset - onset) <= timedelta(minutes=10)


def test_experiment_arm_is_a_stable_half_split_independent_of_the_request_columns() -> None:
    base = simulate("no_fault").data.predictions
    arm = simulate("arm_hurts_group").data.predictions
    assert set(base["experiment_arm"]) == {"control", "treatment"}
    treated = base["experiment_arm"] == "treatment"
    assert 0.49 < treated.mean() < 0.51
    assert abs(treated[base["group"] == "B"].mean() - treated[base["group"] == "A"].mean()) < 0.02
    # the hash of the request, not a draw: the same requests fall in the same arm in every scenario
    assert (arm["experiment_arm"].to_numpy() == base["experiment_arm"].to_numpy()).all()
    # and another seed splits its own requests differently
    other = simulate("no_fault", seed=3).data.predictions
    assert 0.49 < (other["experiment_arm"] == "treatment").mean() < 0.51


def _fpr(frame: pd.DataFrame) -> float:
    neg = frame[frame["label"] == 0]
    return float(neg["prediction"].mean())


def test_arm_hurts_only_the_treatment_arm_of_group_b() -> None:
    world = simulate("arm_hurts_group")
    p = world.data.predictions
    assert world.truth.onset is not None
    after = p[(p["timestamp"] >= world.truth.onset) & p["label"].notna()]
    cells = {
        (a, g): _fpr(after[(after["experiment_arm"] == a) & (after["group"] == g)])
        for a in ("control", "treatment")
        for g in "AB"
    }
    assert cells[("treatment", "B")] > 0.15
    assert max(v for k, v in cells.items() if k != ("treatment", "B")) < 0.06


def test_attributions_are_the_linear_models_shap_values() -> None:
    """logit(score) - sum(attributions) is the same constant for every row, before and after the weight push."""
    for name in ("no_fault", "attribution_shift"):
        p = simulate(name).data.predictions
        organic = p[(p["client_id"] != "c-0666") & p["score"].between(0.01, 0.99)]
        s = organic["score"].to_numpy(float)
        rest = np.log(s / (1 - s)) - organic[SHAP].to_numpy(float).sum(axis=1)
        assert len(rest) > 1000
        assert np.ptp(rest) < 0.01, name  # rounding only (scores to 6, attributions to 4 decimals)


def test_attribution_shift_moves_merchant_risk_share_but_no_input_and_no_accuracy() -> None:
    world = simulate("attribution_shift")
    p = world.data.predictions
    base = simulate("no_fault").data.predictions
    onset = world.truth.onset
    assert onset is not None
    before, after = p[p["timestamp"] < onset], p[p["timestamp"] >= onset]
    share = lambda f: f[SHAP].abs().mean() / f[SHAP].abs().mean().sum()  # noqa: E731
    assert share(after)["shap_merchant_risk"] - share(before)["shap_merchant_risk"] > 0.12
    # the features are the background's, row for row: only the model's use of them changed
    features = ["amount", "merchant_risk", "country_risk", "geo_distance_km"]
    pd.testing.assert_frame_equal(p[features], base[features])
    assert stats.ks_2samp(before["merchant_risk"], after["merchant_risk"]).pvalue > 1e-3
    lab_b, lab_a = before[before["label"].notna()], after[after["label"].notna()]
    acc = lambda f: float((f["prediction"] == f["label"]).mean())  # noqa: E731
    assert abs(acc(lab_a) - acc(lab_b)) < 0.02


# -- poisoned_retrain: a poisoned training batch reaches production through the next retrain ------------------


@pytest.mark.slow
@pytest.mark.parametrize("seed", [7, 1])
def test_poisoned_retrain_is_one_quality_incident_whose_rca_names_the_batch(seed: int, cfg: SystemConfig) -> None:
    truth = simulate("poisoned_retrain", seed=seed).truth
    (fault,) = truth.faults
    batch = fault.root_cause_metric
    assert batch is not None and fault.root_cause_terms == [batch]
    result, (rca, *others) = _engine("poisoned_retrain", seed, cfg)
    assert others == []  # the batch landed before this window: only the model's quality incident opens
    (incident,) = result["incidents"]
    assert incident["components"] == ["fraud_model"] and incident["type"] == "quality_degradation"
    out = evaluate(truth, result)
    assert out.detected and out.one_per_fault and out.top1, out.model_dump()
    top = rca.hypotheses[0]
    assert (top.component, top.metric, top.kind) == ("training_store", batch, "training_batch")
    assert "bad_training_batch_explains_model_quality" in top.rules
    # the retrain's deploy is how the batch reached production: the model ranks below it, exonerated
    model = next(h for h in rca.hypotheses if h.component == "fraud_model")
    assert "bad_training_batch_exonerates_the_model" in model.rules and model.score < top.score
    (lineage,) = [p for p in rca.phases if p.phase == PhaseName.LINEAGE]
    finding = next(f for f in lineage.findings if f.kind == "training_batch")
    assert finding.details["version"] == "v6" and finding.details["version_share"] > 0.9
    assert finding.details["version_share_before"] == 0.0
    failed = {c["check"] for c in finding.details["failed_checks"]}
    assert {"flipped_duplicates", "source_burst", "conflicting_labels"} <= failed
    assert rca.next_steps[0].startswith(f"Quarantine training batch {batch}")


@pytest.mark.slow
def test_the_poisoned_batch_fails_its_checks_in_the_window_it_lands(cfg: SystemConfig) -> None:
    """The hourly run after the export flags the batch itself (the demo runs at the hour after the deploy only)."""
    truth = simulate("poisoned_retrain").truth
    assert truth.onset is not None
    landed = training_batch_at(truth.onset - timedelta(minutes=30))
    at = landed.replace(minute=0) + timedelta(hours=1)
    failed: dict[str, set[tuple[str, str]]] = {}
    for name in ("poisoned_retrain", "no_fault"):
        data = simulate(name).data.slice(at - timedelta(days=1, hours=1), at)
        report = run_detection(cfg, Window.split(data, at - timedelta(hours=1)))
        assert report.errors == []
        failed[name] = {(c.detector, c.check) for c in report.failed}
        judged = [c for c in report.checks if c.detector in ("training_data", "training_poisoning")]
        assert judged and all(c.details.get("batch") == truth.root_cause_metric for c in judged)
        if name == "poisoned_retrain":
            (cand,) = group_checks(report.checks, cfg)
            assert cand.components == ["training_store"]
            assert {"data_quality", "security_adversarial"} <= {str(t) for t in cand.types}
    assert failed["poisoned_retrain"] == {
        ("training_data", "conflicting_labels"),
        ("training_poisoning", "flipped_duplicates"),
        ("training_poisoning", "source_burst"),
    }
    assert failed["no_fault"] == set()  # the same batch without the copies passes every check


def test_poisoned_batch_holds_flipped_copies_of_recent_young_accounts() -> None:
    world = simulate("poisoned_retrain")
    base = simulate("no_fault").data
    train = world.data.batches["training_set"]
    batch = world.truth.root_cause_metric
    onset = world.truth.onset
    assert batch is not None and onset is not None
    copies = train[train["source"] == "bulk-upload"]
    assert set(copies["batch_id"]) == {batch}
    mine = train[train["batch_id"] == batch]
    assert 0.11 < len(copies) / len(mine) < 0.13
    assert (copies["label"] == 1).all() and (copies["account_age_days"] < 365).all()
    # each copy repeats an earlier legitimate record's input exactly
    inputs = [
        c for c in train.columns if c not in ("timestamp", "batch_id", "row_id", "source", "trained_into", "label")
    ]
    originals = train[train["source"] != "bulk-upload"]
    joined = copies.merge(originals, on=inputs, suffixes=("", "_orig"))
    assert len(joined) == len(copies) and (joined["label_orig"] == 0).all()
    # the retrain fed that batch only into v6, which serves every row from onset; before it all is as without the fault
    assert set(train.loc[train["trained_into"].notna(), "batch_id"]) == {batch}
    assert set(train["trained_into"].dropna()) == {"v6"}
    p = world.data.predictions
    assert set(p.loc[p["timestamp"] >= onset, "model_version"]) == {"v6"}
    assert set(p.loc[p["timestamp"] < onset, "model_version"]) == {"v5"}
    clean = base.batches["training_set"]
    pd.testing.assert_frame_equal(
        train[train["source"] != "bulk-upload"].drop(columns="trained_into").reset_index(drop=True),
        clean.drop(columns="trained_into").reset_index(drop=True),
    )
    # v6 over-flags young accounts: precision falls, the inputs do not move
    before = p[(p["timestamp"] < onset) & (p["timestamp"] >= onset - timedelta(hours=6)) & p["label"].notna()]
    after = p[(p["timestamp"] >= onset) & p["label"].notna()]
    precision = lambda f: float(f.loc[f["prediction"] == 1, "label"].mean())  # noqa: E731
    assert precision(before) - precision(after) > 0.1
    pd.testing.assert_frame_equal(p[["amount", "account_age_days"]], base.predictions[["amount", "account_age_days"]])


def test_no_fault_training_batches_are_clean_and_land_every_two_hours() -> None:
    train = simulate("no_fault").data.batches["training_set"]
    landed = train.groupby("batch_id")["timestamp"].agg(["min", "max"])
    assert (landed["min"] == landed["max"]).all()  # one export time per batch
    gaps = landed["min"].sort_values().diff().dropna()
    assert (gaps == pd.Timedelta(hours=2)).all() and (landed["min"].dt.minute == 30).all()
    assert train["trained_into"].isna().all() and "bulk-upload" not in set(train["source"])
    assert not train["row_id"].duplicated().any()
    # row ids are the transactions' own ids (as in raw_transactions)
    raw = simulate("no_fault").data.batches["raw_transactions"]
    assert train["row_id"].isin(raw["txn_id"]).mean() > 0.99
