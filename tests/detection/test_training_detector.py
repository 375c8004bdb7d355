"""The training detectors on real files and real great-expectations: poisoned batches flagged, clean ones not."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from training_batches_data import POISONED, START, training_frames, write_batches, write_system

from rcaflows.config import parse_config
from rcaflows.config.models import SystemConfig
from rcaflows.data import MonitoringData, Window
from rcaflows.detection import DETECTORS
from rcaflows.detection.detectors.training_data import training_batches, training_checks
from rcaflows.errors import ConfigError
from rcaflows.model.training import version_batches
from rcaflows.vocab import CheckStatus, IncidentType


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> SystemConfig:
    """Return the risk-scoring system with batches b0..b5 on disk (b4 poisoned)."""
    return write_system(tmp_path_factory.mktemp("training"))


def _window(day: int) -> Window:
    """Return the detection window of the first hour of batch ``day``'s landing day."""
    start = (START + timedelta(days=day)).to_pydatetime()
    return Window(
        reference=MonitoringData(start=start - timedelta(days=1), end=start),
        current=MonitoringData(start=start, end=start + timedelta(hours=1)),
    )


def _run(config: SystemConfig, window: Window) -> list:
    return DETECTORS["training_data"].run(window, config) + DETECTORS["training_poisoning"].run(window, config)


def test_the_poisoned_batch_is_flagged_and_the_clean_ones_are_not(system: SystemConfig) -> None:
    for day in range(6):
        checks = _run(system, _window(day))
        failed = [c for c in checks if c.failed]
        batch = f"b{day}"
        assert {c.details.get("batch") for c in checks} == {batch}
        if batch != POISONED:
            assert not failed, [c.message for c in failed]
            continue
        assert {c.check for c in failed} == {"flipped_duplicates", "source_burst"}
        assert {c.incident_type for c in failed} == {IncidentType.SECURITY_ADVERSARIAL}
        assert {c.detector for c in failed} == {"training_poisoning"}
        assert {c.component for c in failed} == {"training_store"}  # the training node's component
        flips = next(c for c in failed if c.check == "flipped_duplicates")
        assert flips.details["flagged"] == 300 and flips.details["examples"][0].startswith("p")
        assert flips.onset is not None and flips.onset.date() == (START + timedelta(days=4)).date()
        burst = next(c for c in failed if c.check == "source_burst")
        assert burst.details["source"] == "bulk-upload" and burst.details["ratio"] is None  # a new source
        # the expectation suite ran through great-expectations and passed
        suite = [c for c in checks if c.check.startswith("expect_")]
        assert len(suite) == 3 and all(c.status == CheckStatus.OK for c in suite)
        assert all(c.details["expectation"].startswith("expect_column_") for c in suite)


def test_a_batch_failing_its_expectation_suite(tmp_path: Path, system: SystemConfig) -> None:
    frames = training_frames()
    bad = frames["b3"].copy()
    bad.loc[bad.index[:100], "amount"] = -5.0  # 4.9 % negative amounts
    bad.loc[bad.index[:50], "category"] = None
    frames["b3"] = bad
    write_batches(tmp_path / "training", frames)
    config = _with_path(system, f"{tmp_path}/training/*.csv")
    checks = DETECTORS["training_data"].run(_window(3), config)
    failed = {c.check: c for c in checks if c.failed}
    assert set(failed) == {"expect_between", "expect_not_null"}
    between = failed["expect_between"]
    assert between.subtype == "out_of_range" and between.metric == "amount"
    assert "training_set batch b3" in between.message and between.statistic == pytest.approx(100 / len(bad))
    assert between.details["batch"] == "b3"
    # the poisoning detector is unaffected
    assert not [c for c in DETECTORS["training_poisoning"].run(_window(3), config) if c.failed]


def test_missing_columns_are_named(tmp_path: Path, system: SystemConfig) -> None:
    frames = training_frames()
    frames["b3"] = frames["b3"].drop(columns=["category", "label"])
    write_batches(tmp_path / "training", frames)
    config = _with_path(system, f"{tmp_path}/training/*.csv")
    dq = DETECTORS["training_data"].run(_window(3), config)
    schema = [c for c in dq if c.failed]
    assert sorted(c.metric for c in schema) == ["category", "label"]
    assert all("is missing from the batch" in c.message for c in schema)
    labels = [c for c in dq if c.check == "label_signals"]
    assert labels and labels[0].status == CheckStatus.NO_DATA and "label column 'label' is missing" in labels[0].message


def test_an_unreadable_batch_file_is_named(tmp_path: Path, system: SystemConfig) -> None:
    write_batches(tmp_path / "training", training_frames())
    (tmp_path / "training" / "b9.parquet").write_bytes(b"not parquet")
    config = _with_path(system, f"{tmp_path}/training/*")
    (check,) = DETECTORS["training_poisoning"].run(_window(4), config)
    assert check.status == CheckStatus.NO_DATA and "b9.parquet" in check.message
    assert check.details["reason"] == "unreadable"


def test_batches_delivered_by_a_source_for_the_training_node(system: SystemConfig) -> None:
    frames = training_frames()
    rows = pd.concat([f.assign(batch_id=k) for k, f in frames.items()], ignore_index=True)
    rows = rows.sort_values("timestamp", kind="stable").reset_index(drop=True)
    training = system.models[0].training.model_copy(update={"path": None, "batch_column": "batch_id"})  # type: ignore[union-attr]
    config = system.model_copy(update={"models": [system.models[0].model_copy(update={"training": training})]})  # type: ignore[union-attr]
    w = _window(4)
    ts = rows["timestamp"]
    window = Window(
        reference=MonitoringData(
            start=START.to_pydatetime(), end=w.current.start, batches={"training_set": rows[ts < w.current.start]}
        ),
        current=MonitoringData(
            start=w.current.start, end=w.current.end, batches={"training_set": rows[ts >= w.current.start]}
        ),
    )
    assert [b.id for b in training_batches(config.models[0], window)] == list(frames)  # type: ignore[arg-type]
    failed = [c for c in _run(config, window) if c.failed]
    assert {c.check for c in failed} == {"flipped_duplicates", "source_burst"}
    assert {c.details["batch"] for c in failed} == {POISONED}


def test_versions_link_to_batches_by_mapping_and_column(system: SystemConfig) -> None:
    model = system.models[0]
    assert model is not None and model.training is not None
    batches = training_batches(model)
    assert version_batches(model, batches)["v5"] == [POISONED]
    frames = training_frames()
    for k, f in frames.items():
        f["trained_into"] = {"b2": "v3", "b3": "v4"}.get(k)
    training = model.training.model_copy(update={"versions": {"v4": ["b2"]}, "version_column": "trained_into"})
    with_column = model.model_copy(update={"training": training})
    from rcaflows.model.training import TrainingBatch

    mem = [
        TrainingBatch(id=k, rows=f, landed_at=pd.Timestamp(f["timestamp"].max()), where="memory")
        for k, f in frames.items()
    ]
    assert version_batches(with_column, mem) == {"v4": ["b2", "b3"], "v3": ["b2"]}


def test_checks_of_any_batch_on_demand(system: SystemConfig) -> None:
    """The lineage phase judges the batch of a served version whatever the window: later batches play no part."""
    model = system.models[0]
    assert model is not None
    batches = training_batches(model)
    now = datetime(2026, 12, 1)
    checks = training_checks(system, system.models[0], batches, [POISONED, "b1"], now - timedelta(hours=1), now)
    failed = {(c.details["batch"], c.check) for c in checks if c.failed}
    assert failed == {(POISONED, "flipped_duplicates"), (POISONED, "source_burst")}


def test_config_errors_name_the_field() -> None:
    bad = """
system: {name: s}
sources: [{name: f, kind: files, options: {directory: x}}]
components: [{name: m, kind: model}]
model:
  name: m
  component: m
  lineage_node: m
  features: [a]
  training: {node: t}
lineage: {nodes: [{name: m, kind: model}]}
teams: [{name: t}]
routing: {default_team: t}
"""
    with pytest.raises(ConfigError) as err:
        parse_config(bad, "system.yaml")
    assert any("model.training" in p and "'path'" in p and "batch_column" in p for p in err.value.problems)


def _with_path(config: SystemConfig, path: str) -> SystemConfig:
    model = config.models[0]
    assert model is not None and model.training is not None
    training = model.training.model_copy(update={"path": path})
    return config.model_copy(update={"models": [model.model_copy(update={"training": training})]})


def test_an_earlier_batch_without_labels_leaves_the_history_not_the_judgement(
    tmp_path: Path, system: SystemConfig
) -> None:
    frames = training_frames()
    frames["b1"] = frames["b1"].drop(columns=["label"])
    write_batches(tmp_path / "training", frames)
    config = _with_path(system, f"{tmp_path}/training/*.csv")
    failed = [c for c in _run(config, _window(4)) if c.failed]
    assert {c.check for c in failed} == {"flipped_duplicates", "source_burst"}
    assert all(c.details["batches_without_label"] == ["b1"] for c in failed)
