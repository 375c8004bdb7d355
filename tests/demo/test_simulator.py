"""Tests of the seeded demo simulator and its scenarios' ground truth."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rcaflows.config import load_config
from rcaflows.data import CHANGE_COLUMNS, METRIC_COLUMNS, PREDICTION_COLUMNS, check_frame
from rcaflows.demo import DEMO_END, SCENARIOS, Part, Scenario, Truth, simulate, simulate_scenario
from rcaflows.demo.simulator import _simulate
from rcaflows.errors import ConfigError
from rcaflows.vocab import IncidentType

FAULTS = [name for name, sc in SCENARIOS.items() if name != "no_fault" and not sc.parts]  # one fault each
MULTI = [name for name, sc in SCENARIOS.items() if sc.parts]
# retrain_bias's root (fpr_gap) lives in labelled predictions, tested in test_retrain_bias_fpr_gap
# row-level model faults: their root metric is a prediction-log statistic, not a metric series
METRIC_FAULTS = [
    name
    for name in FAULTS
    if name
    not in ("retrain_bias", "canary_slice_regression", "arm_hurts_group", "attribution_shift", "poisoned_retrain")
]
DAY = timedelta(days=1)


def robust_z(value: float, reference: pd.Series) -> float:
    """Return the robust z of ``value`` against ``reference`` (median / scaled MAD)."""
    med = float(reference.median())
    mad = 1.4826 * float((reference - med).abs().median())
    return (value - med) / max(mad, 1e-6 * max(abs(med), 1.0))


def previous_day(s: pd.Series, end: datetime = DEMO_END) -> pd.Series:
    """Return the reference day before the detection window: [end - 25h, end - 1h)."""
    return s[(s.index >= end - DAY - timedelta(hours=1)) & (s.index < end - timedelta(hours=1))]


def root_series(name: str) -> pd.Series:
    """Return the per-minute series of a scenario's root-cause metric."""
    world = simulate(name)
    truth = world.truth
    data = world.data
    if truth.root_cause_component.startswith("client:"):
        client = truth.root_cause_component.split(":", 1)[1]
        p = data.predictions
        ts = p.loc[p["client_id"] == client, "timestamp"].dt.floor("min")
        grid = pd.date_range(data.start, data.end, freq="min", inclusive="left")
        return ts.value_counts().reindex(grid, fill_value=0).astype(float)
    if truth.root_cause_metric == "amount":  # a column of the source's batch, not a metric
        raw = data.batches["raw_transactions"]
        return raw.groupby(raw["timestamp"].dt.floor("min"))["amount"].median()
    return data.series(truth.root_cause_component, str(truth.root_cause_metric))


def first_move(s: pd.Series, since: datetime, z: float = 6.0) -> pd.Timestamp | None:
    """Return the first minute from ``since`` whose 3-minute median is beyond ``z`` robust units."""
    ref = previous_day(s)
    med = ref.median()
    mad = 1.4826 * (ref - med).abs().median()
    rolled = s.rolling(3).median()
    moved = rolled[(rolled.index >= since) & ((rolled - med).abs() > z * mad)]
    return None if moved.empty else moved.index[0]


def fpr(frame: pd.DataFrame) -> float:
    """Return the false-positive rate over labelled negatives."""
    neg = frame[frame["label"] == 0]
    return float(neg["prediction"].mean())


def test_same_seed_gives_identical_frames_and_other_seeds_differ() -> None:
    a = simulate("query_flood", seed=11).data
    _simulate.cache_clear()
    b = simulate("query_flood", seed=11).data
    assert a is not b
    pd.testing.assert_frame_equal(a.metrics, b.metrics)
    pd.testing.assert_frame_equal(a.predictions, b.predictions)
    pd.testing.assert_frame_equal(a.changes, b.changes)
    for node in a.batches:
        pd.testing.assert_frame_equal(a.batches[node], b.batches[node])
    c = simulate("query_flood", seed=12).data
    assert not np.array_equal(a.predictions["score"].to_numpy()[:100], c.predictions["score"].to_numpy()[:100])


def test_simulate_is_cached() -> None:
    assert simulate("no_fault") is simulate("no_fault", 7, DEMO_END, timedelta(days=2))


def test_every_configured_metric_is_present_at_one_minute_resolution() -> None:
    cfg = load_config()
    data = simulate("no_fault").data
    m = data.metrics
    expected = {(s.component, s.name) for s in cfg.metrics}
    assert set(zip(m["component"], m["metric"], strict=True)) == expected
    minutes = pd.date_range(DEMO_END - 2 * DAY, DEMO_END, freq="min", inclusive="left")
    for component, metric in expected:
        s = data.series(component, metric)
        assert s.index.equals(minutes), (component, metric)
        assert s.notna().all(), (component, metric)


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_frames_pass_their_contracts(name: str) -> None:
    data = simulate(name).data
    check_frame(data.metrics, METRIC_COLUMNS, "metrics", sorted_by_time=True, numeric=("value",))
    check_frame(
        data.predictions,
        PREDICTION_COLUMNS,
        "predictions",
        sorted_by_time=True,
        numeric=("score", "prediction", "label"),
    )
    check_frame(data.changes, CHANGE_COLUMNS, "changes", sorted_by_time=True)
    for node, frame in data.batches.items():
        check_frame(frame, ("timestamp",), node, sorted_by_time=True)
    for frame in (data.metrics, data.predictions, data.changes, *data.batches.values()):
        ts = frame["timestamp"]
        assert ts.min() >= data.start and ts.max() < data.end
    assert set(data.changes["kind"]) <= {"deploy", "config", "infra", "schema"}


def test_predictions_look_like_normal_traffic() -> None:
    cfg = load_config()
    assert cfg.models
    p = simulate("no_fault").data.predictions
    assert 70_000 < len(p) < 100_000
    assert set(cfg.models[0].features) <= set(p.columns)
    assert p["client_id"].nunique() > 150
    assert 0.25 < (p["group"] == "B").mean() < 0.35
    assert (p["hour"] == p["timestamp"].dt.hour).all()
    per_hour = p.groupby(p["timestamp"].dt.hour).size()
    assert per_hour.max() / per_hour.min() > 2.5  # daily cycle
    labelled = p[p["label"].notna()]
    assert 0.03 <= labelled["label"].mean() <= 0.05
    accuracy = (labelled["prediction"] == labelled["label"]).mean()
    recall = labelled.loc[labelled["label"] == 1, "prediction"].mean()
    assert 0.93 <= accuracy <= 0.97
    assert 0.6 <= recall <= 0.8
    assert ((p["score"] >= 0.5).astype(int) == p["prediction"]).all()


def test_labels_absent_within_label_delay_of_end() -> None:
    cfg = load_config()
    assert cfg.models
    p = simulate("no_fault").data.predictions
    recent = p[p["timestamp"] >= DEMO_END - cfg.models[0].label_delay]
    assert len(recent) > 100
    assert recent["label"].isna().all() and recent["label_at"].isna().all()
    arrived = p[p["label"].notna()]
    assert (arrived["label_at"] < DEMO_END).all()
    assert (arrived["label_at"] >= arrived["timestamp"] + cfg.models[0].label_delay).all()
    old = p[p["timestamp"] < DEMO_END - cfg.models[0].label_delay - timedelta(minutes=5)]
    assert old["label"].notna().all()


@pytest.mark.parametrize("name", FAULTS + MULTI)
def test_faults_match_no_fault_before_injection(name: str) -> None:
    world = simulate(name)
    base = simulate("no_fault").data
    data = world.data
    assert world.truth.onset is not None
    cut = world.truth.onset - timedelta(minutes=15)  # distractors start up to 10 min early
    pd.testing.assert_frame_equal(data.slice(data.start, cut).metrics, base.slice(base.start, cut).metrics)
    pd.testing.assert_frame_equal(data.slice(data.start, cut).predictions, base.slice(base.start, cut).predictions)


@pytest.mark.parametrize("name", METRIC_FAULTS)
def test_root_cause_moves_far_from_baseline(name: str) -> None:
    s = root_series(name)
    current = float(s[s.index >= DEMO_END - timedelta(minutes=30)].median())
    assert abs(robust_z(current, previous_day(s))) > 6


@pytest.mark.parametrize("name", METRIC_FAULTS)
def test_root_cause_moves_no_later_than_downstream(name: str) -> None:
    world = simulate(name)
    truth = world.truth
    assert truth.onset is not None
    since = truth.onset - timedelta(minutes=30)
    root = first_move(root_series(name), since)
    assert root is not None
    assert root - truth.onset <= timedelta(minutes=5)
    wide = world.data.wide_metrics()
    for component, metric in wide.columns:
        if component in truth.distractors or (component, metric) == (
            truth.root_cause_component,
            truth.root_cause_metric,
        ):
            continue
        moved = first_move(wide[(component, metric)], since)
        if moved is not None:
            assert moved >= root, f"{component}.{metric} moved at {moved}, before the root at {root}"


def test_no_fault_has_no_sustained_shift() -> None:
    data = simulate("no_fault").data
    wide = data.wide_metrics()
    for col in wide.columns:
        s = wide[col]
        ref = previous_day(s)
        med = ref.median()
        mad = 1.4826 * (ref - med).abs().median()
        sustained = s.rolling(10).median()
        last = sustained[sustained.index >= DEMO_END - timedelta(hours=24)]
        assert ((last - med).abs() / mad).max() < 4.5, col


def test_distractor_moves_loudly_before_onset() -> None:
    world = simulate("distractor_cpu")
    assert world.truth.onset is not None
    assert set(world.truth.distractors) == {"reporting_batch", "alerts_dashboard"}
    cpu = world.data.series("reporting_batch", "cpu_util")
    moved = first_move(cpu, world.truth.onset - timedelta(minutes=30))
    assert moved is not None and moved < world.truth.onset
    changes = world.data.changes
    deploy = changes[(changes["component"] == "alerts_dashboard") & (changes["kind"] == "deploy")]
    assert (deploy["timestamp"] == world.truth.onset - timedelta(minutes=5)).any()


def test_schema_change_nulls_degrades_accuracy() -> None:
    world = simulate("schema_change_nulls")
    onset = world.truth.onset
    assert onset is not None
    p = world.data.predictions
    lab = p[p["label"].notna()]
    before, after = lab[lab["timestamp"] < onset], lab[lab["timestamp"] >= onset]
    acc = lambda f: float((f["prediction"] == f["label"]).mean())  # noqa: E731
    assert acc(before) - acc(after) >= 0.05
    assert after["merchant_risk"].isna().mean() > 0.4 and before["merchant_risk"].notna().all()
    merchants = world.data.batches["raw_merchants"]
    late = merchants[merchants["timestamp"] >= onset]
    assert late["risk_score"].isna().mean() > 0.4 and late["risk_rating"].notna().mean() > 0.4
    assert merchants.loc[merchants["timestamp"] < onset, "risk_rating"].isna().all()
    schema = world.data.changes
    assert ((schema["component"] == "merchant_ingest") & (schema["kind"] == "schema")).any()


def test_retrain_bias_fpr_gap() -> None:
    world = simulate("retrain_bias")
    onset = world.truth.onset
    assert onset is not None
    p = world.data.predictions
    lab = p[p["label"].notna()]
    before = lab[(lab["timestamp"] < onset) & (lab["timestamp"] >= onset - DAY)]
    after = lab[lab["timestamp"] >= onset]

    def gap(f: pd.DataFrame) -> float:
        return fpr(f[f["group"] == "B"]) - fpr(f[f["group"] == "A"])

    assert gap(after) >= 0.1
    assert abs(gap(before)) < 0.05
    acc = lambda f: float((f["prediction"] == f["label"]).mean())  # noqa: E731
    assert acc(before) - acc(after) < 0.08


def test_query_flood_client_is_new_and_probes_out_of_range() -> None:
    world = simulate("query_flood")
    onset = world.truth.onset
    assert onset is not None and world.truth.root_cause_component == "client:c-0666"
    p = world.data.predictions
    flood = p[p["client_id"] == "c-0666"]
    assert not flood.empty and (flood["timestamp"] >= onset).all()
    normal = p[p["client_id"] != "c-0666"]
    assert flood["amount"].min() > normal["amount"].quantile(0.999)
    assert (flood["score"] - 0.5).abs().median() < 0.15
    rpm = world.data.series("gateway", "requests_per_min")
    assert rpm[rpm.index >= onset].mean() > 2.5 * rpm[rpm.index >= onset - DAY].iloc[:45].mean()
    assert "c-0666" not in set(simulate("no_fault").data.predictions["client_id"])


def test_drifting_source_shifts_amounts_and_scores() -> None:
    world = simulate("drifting_source")
    onset = world.truth.onset
    assert onset is not None
    store = world.data.batches["feature_store"]
    before = store.loc[store["timestamp"] < onset, "amount"]
    after = store.loc[store["timestamp"] >= onset + timedelta(minutes=2), "amount"]
    assert after.median() > 20 * before.median()
    p = world.data.predictions
    assert p.loc[p["timestamp"] >= onset, "prediction"].mean() > 2 * p.loc[p["timestamp"] < onset, "prediction"].mean()
    assert not world.scenario.changes


def test_dependency_timeout_nulls_geo_distance() -> None:
    world = simulate("dependency_timeout")
    onset = world.truth.onset
    assert onset is not None
    p = world.data.predictions
    assert 0.2 < p.loc[p["timestamp"] >= onset, "geo_distance_km"].isna().mean() < 0.4
    assert p.loc[p["timestamp"] < onset, "geo_distance_km"].notna().all()
    err = world.data.series("scoring_api", "error_rate")
    assert 5 <= err[err.index >= onset + timedelta(minutes=5)].median() <= 10


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_truth_round_trips_through_json(name: str, tmp_path: Path) -> None:
    truth = simulate(name).truth
    path = truth.write(tmp_path / f"{name}.json")
    assert Truth.read(path) == truth
    assert truth.scenario == name
    if name == "no_fault":
        assert truth.incident_types == [] and truth.root_cause_component == "" and truth.onset is None
        assert truth.faults == []
    elif name in MULTI:
        assert len(truth.faults) >= 2 and truth.onset == min(f.onset for f in truth.faults)
        assert truth.incident_types == list(dict.fromkeys(t for f in truth.faults for t in f.incident_types))
    else:
        assert truth.onset == DEMO_END - timedelta(minutes=45)
        assert all(isinstance(t, IncidentType) for t in truth.incident_types) and truth.incident_types
        (fault,) = truth.faults
        assert (fault.root_cause_component, fault.onset, fault.incident_types) == (
            truth.root_cause_component,
            truth.onset,
            truth.incident_types,
        )


def test_scenario_names_and_order() -> None:
    assert list(SCENARIOS) == [
        "schema_change_nulls",
        "deploy_latency",
        "drifting_source",
        "retrain_bias",
        "canary_slice_regression",
        "arm_hurts_group",
        "attribution_shift",
        "poisoned_retrain",
        "query_flood",
        "dependency_timeout",
        "distractor_cpu",
        "drift_and_deploy",
        "no_fault",
    ]


def test_two_fault_world_injects_each_fault_at_its_own_onset() -> None:
    world = simulate("drift_and_deploy")
    drift, deploy = world.truth.faults
    assert (drift.root_cause_component, deploy.root_cause_component) == ("txn_ingest", "scoring_api")
    assert (drift.onset, deploy.onset) == (DEMO_END - timedelta(minutes=50), DEMO_END - timedelta(minutes=25))
    raw = world.data.batches["raw_transactions"]
    amounts = raw.groupby(raw["timestamp"].dt.floor("min"))["amount"].median()
    latency = world.data.series("scoring_api", "latency_p95_ms")
    for fault, series in ((drift, amounts), (deploy, latency)):
        moved = first_move(series, fault.onset - timedelta(minutes=30))
        assert moved is not None and timedelta(0) <= moved - fault.onset <= timedelta(minutes=5), fault
    changes = world.data.changes
    late = changes[changes["timestamp"] >= drift.onset - timedelta(minutes=10)]
    assert list(zip(late["component"], late["kind"], late["timestamp"], strict=True)) == [
        ("scoring_api", "deploy", deploy.onset)
    ]


def test_a_scenario_built_on_the_fly_injects_its_parts_days_apart() -> None:
    soak = Scenario(
        name="soak",
        description="two faults two days apart",
        onset_before_end=None,
        parts=(
            Part(scenario="deploy_latency", onset_before_end=timedelta(days=2, hours=3)),
            Part(scenario="dependency_timeout", onset_before_end=timedelta(hours=5)),
        ),
    )
    world = simulate_scenario(soak, history=timedelta(days=3))
    deploy, timeout = world.truth.faults
    assert (deploy.onset, timeout.onset) == (DEMO_END - timedelta(days=2, hours=3), DEMO_END - timedelta(hours=5))
    latency = world.data.series("scoring_api", "latency_p95_ms")
    hour = timedelta(hours=1)
    before = latency[deploy.onset - 2 * hour : deploy.onset - timedelta(minutes=1)].median()
    assert latency[deploy.onset - 4 * hour : deploy.onset - 2 * hour].median() < 1.2 * before  # flat before
    assert latency[deploy.onset + timedelta(minutes=15) : deploy.onset + hour].median() > 1.5 * before
    # the deploy fault persists: two days later the latency is still far above its level before
    assert latency[timeout.onset - hour : timeout.onset].median() > 1.5 * before


def test_a_part_naming_an_unknown_scenario_is_a_config_error() -> None:
    part = Part(scenario="meteor", onset_before_end=timedelta(hours=1))
    bad = Scenario(name="x", description="x", onset_before_end=None, parts=(part,))
    with pytest.raises(ConfigError, match="meteor"):
        simulate_scenario(bad)


def test_unknown_scenario_raises_config_error_listing_names() -> None:
    with pytest.raises(ConfigError) as err:
        simulate("meteor_strike")
    assert "meteor_strike" in str(err.value) and "deploy_latency" in str(err.value)


def test_naive_end_is_rejected() -> None:
    with pytest.raises(ConfigError):
        simulate("no_fault", end=datetime(2026, 3, 2, 12))


def test_other_end_and_history() -> None:
    end = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
    world = simulate("deploy_latency", end=end, history=timedelta(hours=6))
    data = world.data
    assert data.end == end and data.start == end - timedelta(hours=6)
    assert world.truth.onset == end - timedelta(minutes=45)
    assert len(data.series("gateway", "latency_p95_ms")) == 360
