"""The detector contract over every registered detector, and each detector's own behaviour."""

from __future__ import annotations

import re
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from detection_data import CURRENT, END, split, with_frames

from rcaflows.config.models import SystemConfig
from rcaflows.data import MonitoringData, Window
from rcaflows.detection import DETECTORS, CheckResult, Detector, detectors_of, register
from rcaflows.vocab import CheckStatus, IncidentType


def _fails(checks: list[CheckResult], subtype: str | None = None) -> list[CheckResult]:
    return [c for c in checks if c.failed and (subtype is None or c.subtype == subtype)]


def _by_type(data: MonitoringData, config: SystemConfig, itype: IncidentType) -> list[CheckResult]:
    det = next(iter(detectors_of(itype).values()))  # the type's first-registered detector (training ones come later)
    return det.run(split(data), config)


# ----------------------------------------------------------------------------- contract


def test_registry_is_keyed_by_name_and_covers_every_incident_type() -> None:
    assert {str(d.incident_type) for d in DETECTORS.values()} == {str(t) for t in IncidentType}
    for key, det in DETECTORS.items():
        assert isinstance(det, Detector)
        assert det.name == key


def test_register_rejects_what_is_not_a_detector() -> None:
    with pytest.raises(TypeError, match="Detector protocol"):
        register(object())


@pytest.mark.parametrize("key", sorted(DETECTORS))
def test_contract_on_normal_data(key: str, config: SystemConfig, normal_data: MonitoringData) -> None:
    det = DETECTORS[key]
    checks = det.run(split(normal_data), config)
    assert checks, f"{key} returned no checks on a full window"
    assert all(isinstance(c, CheckResult) for c in checks)
    assert {c.incident_type for c in checks} == {det.incident_type}
    assert {c.detector for c in checks} == {det.name}
    assert not _fails(checks), [c.message for c in _fails(checks)]
    assert all(c.window_end == END for c in checks)
    for c in checks:  # evidence is JSON-serializable
        c.model_dump_json()


@pytest.mark.parametrize("key", sorted(DETECTORS))
def test_contract_on_an_empty_window(key: str, config: SystemConfig) -> None:
    empty = MonitoringData(start=END - timedelta(days=1, hours=1), end=END)
    checks = DETECTORS[key].run(Window.split(empty, CURRENT), config)
    assert all(c.incident_type == DETECTORS[key].incident_type for c in checks)
    assert not _fails(checks)
    assert any(c.status == CheckStatus.NO_DATA for c in checks)


# ----------------------------------------------------------------------------- quality


def test_quality_fails_on_an_accuracy_drop_with_onset(config: SystemConfig, data: MonitoringData) -> None:
    p = data.predictions
    rng = np.random.default_rng(0)
    hit = (p["timestamp"] >= END - timedelta(minutes=40)) & (rng.random(len(p)) < 0.15)
    p.loc[hit, "prediction"] = 1 - p.loc[hit, "prediction"]
    checks = _by_type(data, config, IncidentType.QUALITY_DEGRADATION)
    (acc,) = _fails(checks, "accuracy_drop")
    assert acc.component == "fraud_model" and acc.p_value < 1e-6
    assert acc.baseline - acc.statistic > 0.05
    assert abs((acc.onset - (END - timedelta(minutes=40))).total_seconds()) < 8 * 60


def test_quality_is_late_when_labels_stop_arriving(config: SystemConfig, data: MonitoringData) -> None:
    p = data.predictions
    stop = p["timestamp"] >= CURRENT - timedelta(minutes=20)
    p.loc[stop, ["label", "label_at"]] = [np.nan, pd.NaT]
    checks = _by_type(data, config, IncidentType.QUALITY_DEGRADATION)
    assert [c.status for c in checks if not c.details.get("estimated")] == [CheckStatus.LATE]
    # rows waiting for labels get a CBPE estimate; the scores did not move, so it stays OK
    (est,) = [c for c in checks if c.details.get("estimated")]
    assert est.subtype == "accuracy_drop_estimated" and est.status == CheckStatus.OK


def test_quality_is_no_data_below_min_labels(config: SystemConfig, data: MonitoringData) -> None:
    p = data.predictions
    cur = p.index[p["timestamp"] >= CURRENT]
    p.loc[cur[150:], ["label", "label_at"]] = [np.nan, pd.NaT]
    p.loc[cur[150:], "timestamp"] = END - timedelta(minutes=5)  # recent rows, labels not due yet
    checks = _by_type(data, config, IncidentType.QUALITY_DEGRADATION)
    assert [c.status for c in checks if not c.details.get("estimated")] == [CheckStatus.NO_DATA]


# ----------------------------------------------------------------------------- fairness


def test_fairness_fails_on_a_new_fpr_gap(config: SystemConfig, data: MonitoringData) -> None:
    p = data.predictions
    rng = np.random.default_rng(1)
    bias = (p["timestamp"] >= CURRENT) & (p["group"] == "B") & (p["label"] == 0) & (rng.random(len(p)) < 0.25)
    p.loc[bias, "prediction"] = 1
    checks = _by_type(data, config, IncidentType.BIAS_FAIRNESS)
    fpr = next(c for c in checks if c.subtype == "fpr_gap")
    assert fpr.failed and fpr.component == "fraud_model"
    assert fpr.details["ci_low"] > config.detectors.bias_fairness.max_gap
    assert fpr.details["groups"] == ["B", "A"]
    # the positive-rate gap it causes ranks below it
    pos = next(c for c in checks if c.subtype == "positive_rate_gap")
    assert not pos.failed or pos.score < fpr.score


def test_fairness_ignores_a_gap_that_was_already_there(config: SystemConfig, data: MonitoringData) -> None:
    p = data.predictions
    rng = np.random.default_rng(2)
    bias = (p["group"] == "B") & (p["label"] == 0) & (rng.random(len(p)) < 0.25)  # reference too
    p.loc[bias, "prediction"] = 1
    checks = _by_type(data, config, IncidentType.BIAS_FAIRNESS)
    fpr = next(c for c in checks if c.subtype == "fpr_gap")
    assert fpr.status == CheckStatus.WARN
    assert fpr.baseline > 0.15


def test_fairness_small_groups_are_no_data(config: SystemConfig, data: MonitoringData) -> None:
    p = data.predictions
    p.loc[p["timestamp"] >= CURRENT, "group"] = "A"
    p.loc[p.index[p["timestamp"] >= CURRENT][:20], "group"] = "B"
    checks = _by_type(data, config, IncidentType.BIAS_FAIRNESS)
    assert {c.status for c in checks} == {CheckStatus.NO_DATA}


# ----------------------------------------------------------------------------- performance


def _scale(
    data: MonitoringData,
    component: str,
    metric: str,
    factor: float = 1.0,
    level: float | None = None,
    minutes: int = 30,
) -> None:
    m = data.metrics
    sel = (m["component"] == component) & (m["metric"] == metric) & (m["timestamp"] >= END - timedelta(minutes=minutes))
    m.loc[sel, "value"] = level if level is not None else m.loc[sel, "value"] * factor


def test_performance_latency_regression(config: SystemConfig, data: MonitoringData) -> None:
    _scale(data, "scoring_api", "latency_p95_ms", 2.5)
    _scale(data, "geo_api", "latency_p95_ms", 2.5)  # a dependency: integration's business
    checks = _by_type(data, config, IncidentType.PERFORMANCE_AVAILABILITY)
    (lat,) = _fails(checks)
    assert (lat.component, lat.subtype, lat.metric) == ("scoring_api", "latency", "latency_p95_ms")
    assert re.search(r"\+1[45]\d %\)$", lat.message) and "robust z" in lat.message
    assert abs((lat.onset - (END - timedelta(minutes=30))).total_seconds()) <= 120
    assert not any(c.component == "geo_api" for c in checks)


def test_performance_slo_burn(config: SystemConfig, data: MonitoringData) -> None:
    _scale(data, "gateway", "error_rate", level=3.0, minutes=60)  # 3 % errors = 30x the 0.1 % budget
    checks = _by_type(data, config, IncidentType.PERFORMANCE_AVAILABILITY)
    burn = next(c for c in checks if c.subtype == "slo_burn" and c.component == "gateway")
    assert burn.failed and burn.details["burn_1h"] == pytest.approx(30, rel=0.05)


# ----------------------------------------------------------------------------- data quality


def test_data_quality_null_expectation_and_pipeline_metric(config: SystemConfig, data: MonitoringData) -> None:
    fs = data.batches["feature_store"]
    rng = np.random.default_rng(3)
    fs.loc[(fs["timestamp"] >= END - timedelta(minutes=30)) & (rng.random(len(fs)) < 0.6), "merchant_risk"] = np.nan
    _scale(data, "merchant_ingest", "null_rate", level=60.0)
    checks = _by_type(data, config, IncidentType.DATA_QUALITY)
    gx = [c for c in _fails(checks) if c.check == "expect_not_null"]
    assert [(c.component, c.metric, c.subtype) for c in gx] == [("feature_store", "merchant_risk", "null_rate")]
    assert abs((gx[0].onset - (END - timedelta(minutes=30))).total_seconds()) <= 180
    assert any(c.check == "robust_shift" and c.component == "merchant_ingest" for c in _fails(checks))


def test_data_quality_schema_change_and_missing_batch(config: SystemConfig, data: MonitoringData) -> None:
    rm = data.batches["raw_merchants"]
    new = rm["timestamp"] >= END - timedelta(minutes=20)
    rm["risk_rating"] = np.where(new, rm["risk_score"], np.nan)
    rm.loc[new, "risk_score"] = np.nan
    batches = {k: v for k, v in data.batches.items() if k != "raw_transactions"}
    checks = _by_type(with_frames(data, batches=batches), config, IncidentType.DATA_QUALITY)
    (schema,) = [c for c in _fails(checks) if c.subtype == "schema"]
    assert schema.component == "merchant_ingest"
    assert abs((schema.onset - (END - timedelta(minutes=20))).total_seconds()) < 60
    assert any(c.status == CheckStatus.NO_DATA and c.component == "txn_ingest" for c in checks)


def test_a_new_column_without_values_in_the_window_is_no_schema_change(
    config: SystemConfig, data: MonitoringData
) -> None:
    # batches of files with two schemas read together: rows of the older files hold nulls in the
    # newer column; until the newer files arrive (after this window) the batches have no such column
    rm = data.batches["raw_merchants"]
    rm["risk_rating"] = np.nan
    checks = _by_type(data, config, IncidentType.DATA_QUALITY)
    assert not [c for c in _fails(checks) if c.subtype == "schema"]
    rm.loc[rm["timestamp"] >= END - timedelta(minutes=5), "risk_rating"] = 0.5  # the new files land
    checks = _by_type(data, config, IncidentType.DATA_QUALITY)
    assert [c.component for c in _fails(checks) if c.subtype == "schema"] == ["merchant_ingest"]


def test_a_null_share_that_appears_mid_window_is_dated_when_it_appeared(
    config: SystemConfig, data: MonitoringData
) -> None:
    fs = data.batches["feature_store"]
    rng = np.random.default_rng(5)
    fs.loc[(fs["timestamp"] >= END - timedelta(minutes=20)) & (rng.random(len(fs)) < 0.3), "geo_distance_km"] = np.nan
    checks = _by_type(data, config, IncidentType.DATA_QUALITY)
    (nulls,) = [c for c in _fails(checks) if c.check == "drift" and c.metric == "geo_distance_km"]
    assert nulls.subtype == "null_rate"
    assert abs((nulls.onset - (END - timedelta(minutes=20))).total_seconds()) <= 180


def test_data_quality_drift_maps_column_to_its_source(config: SystemConfig, data: MonitoringData) -> None:
    fs = data.batches["feature_store"]
    rng = np.random.default_rng(4)
    cents = (fs["timestamp"] >= CURRENT) & (rng.random(len(fs)) < 0.6)
    fs.loc[cents, "amount"] *= 100
    checks = _by_type(data, config, IncidentType.DATA_QUALITY)
    drift = [c for c in _fails(checks) if c.check == "drift"]
    assert [c.metric for c in drift] == ["amount"]
    assert drift[0].component == "feature_store"
    assert drift[0].details["source_component"] == "txn_ingest"


# ----------------------------------------------------------------------------- security


def test_security_query_flood_ood_and_confidence(config: SystemConfig, data: MonitoringData) -> None:
    p = data.predictions
    rng = np.random.default_rng(5)
    n = 1500
    ts = pd.to_datetime(rng.uniform((END - timedelta(minutes=30)).timestamp(), END.timestamp(), n), unit="s", utc=True)
    flood = p.sample(n, random_state=1).assign(timestamp=ts, client_id="c-666", score=0.5, prediction=0)
    flood["amount"] = 1e7
    p = pd.concat([p, flood]).sort_values("timestamp", ignore_index=True)
    checks = _by_type(with_frames(data, predictions=p), config, IncidentType.SECURITY_ADVERSARIAL)
    fails = {c.subtype: c for c in _fails(checks)}
    assert fails["client_flood"].component == "client:c-666"
    assert "new client" in fails["client_flood"].message
    assert fails["ood_inputs"].details["top_features"][0] == "amount"
    assert "confidence_shift" in fails
    for c in fails.values():
        assert abs((c.onset - (END - timedelta(minutes=30))).total_seconds()) < 5 * 60


def test_confidence_rising_back_above_the_reference_is_no_attack(config: SystemConfig, data: MonitoringData) -> None:
    # the same hour yesterday held an attack's near-boundary scores; today's normal confidence is higher
    p = data.predictions.copy()
    now = p["timestamp"] >= END - timedelta(hours=1)
    score = p.loc[now, "score"].to_numpy()
    conf = np.abs(score - 0.5) * 2
    # every current prediction half-way further from the boundary than it was
    p.loc[now, "score"] = 0.5 + np.sign(score - 0.5) * (conf + (1 - conf) / 2) / 2
    checks = _by_type(with_frames(data, predictions=p), config, IncidentType.SECURITY_ADVERSARIAL)
    (conf,) = [c for c in checks if c.subtype == "confidence_shift"]
    assert conf.status == CheckStatus.OK
    # the same move towards the boundary is a failure
    p.loc[now, "score"] = np.where(p.loc[now, "score"] >= 0.5, 0.55, 0.45)
    checks = _by_type(with_frames(data, predictions=p), config, IncidentType.SECURITY_ADVERSARIAL)
    assert [c.subtype for c in _fails(checks) if c.subtype == "confidence_shift"] == ["confidence_shift"]


def test_security_traffic_surge_reports_a_rise(config: SystemConfig, data: MonitoringData) -> None:
    _scale(data, "gateway", "requests_per_min", 3.0)
    checks = _by_type(data, config, IncidentType.SECURITY_ADVERSARIAL)
    (surge,) = _fails(checks)
    assert (surge.subtype, surge.component) == ("traffic_surge", "gateway")


# ----------------------------------------------------------------------------- integration


def test_integration_dependency_timeouts_and_late_pipeline(config: SystemConfig, data: MonitoringData) -> None:
    _scale(data, "geo_api", "timeout_rate", level=30.0)
    _scale(data, "etl", "freshness_s", 6.0)
    _scale(data, "scoring_api", "latency_p95_ms", 3.0)  # a service: performance's business
    checks = DETECTORS["integration"].run(split(data), config)  # availability raises this type too
    assert [(c.component, c.metric) for c in _fails(checks)] == [("geo_api", "timeout_rate")]
    late = [c for c in checks if c.status == CheckStatus.LATE]
    assert [(c.component, c.subtype) for c in late] == [("etl", "freshness")]
    assert not any(c.component == "scoring_api" for c in checks)


def test_no_data_says_if_input_is_missing_or_too_small(config: SystemConfig, data: MonitoringData) -> None:
    batches = {k: v for k, v in data.batches.items() if k != "raw_transactions"}
    checks = _by_type(with_frames(data, batches=batches), config, IncidentType.DATA_QUALITY)
    (missing,) = [c for c in checks if c.status == CheckStatus.NO_DATA]
    assert missing.details["reason"] == "missing"
    tpr = next(c for c in _by_type(data, config, IncidentType.BIAS_FAIRNESS) if c.subtype == "tpr_gap")
    assert tpr.status == CheckStatus.NO_DATA and tpr.details["reason"] == "insufficient"


# ----------------------------------------------------------------------------- onsets


def test_rate_onset_dates_a_rate_step_by_the_scorers_alarm_and_needs_one() -> None:
    from rcaflows.detection.base import rate_onset

    rng = np.random.default_rng(6)
    ts = pd.date_range(END - timedelta(hours=25), END, freq="3s", inclusive="left", tz="UTC")
    step = END - timedelta(minutes=37)
    x = (rng.random(len(ts)) < np.where(ts >= step, 0.30, 0.05)).astype(float)  # 5 % -> 30 % bad rows
    ref, cur = ts < CURRENT, ts >= CURRENT
    onset = rate_onset(ts[ref], x[ref], ts[cur], x[cur])
    assert onset is not None and abs((onset - step).total_seconds()) <= 120
    short = ref & (ts >= CURRENT - timedelta(minutes=30))  # too little history for the scorer to alarm
    assert rate_onset(ts[short], x[short], ts[cur], x[cur]) is None
