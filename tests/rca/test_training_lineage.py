"""A poisoned training batch, end to end on the real SQLite store and real great-expectations.

Detection judges each training batch as it lands (the poisoned one opens a security incident, the
clean ones open nothing); two days later the model version trained on the poisoned batch goes
live and its accuracy drops; the RCA of that stored incident links the version to its batch and
ranks the batch first, with the checks it failed as evidence. A control maps the same version to
a clean batch: the batch is then no candidate and the deploy leads.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pytest
from tests.detection.training_batches_data import DEPLOY, POISONED, START, write_system

from rcaflows import pipeline
from rcaflows.config.models import SystemConfig
from rcaflows.incidents import Incident, Store
from rcaflows.rca.context import RcaContext
from rcaflows.rca.models import RcaResult, Symptom
from rcaflows.rca.phases.lineage import LineagePhase
from rcaflows.rca.service import plan_for_incident


def _at(ts: pd.Timestamp) -> datetime:
    return ts.to_pydatetime()


@pytest.fixture(scope="module")
def scenario(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[SystemConfig, Store, dict[str, list[Any]], str]]:
    """Run detection at each batch's landing hour and after the deploy; return config, store, incidents, quality key."""
    root = tmp_path_factory.mktemp("poisoned")
    config = write_system(root)
    store = Store(config.store.url)
    store.create_all()
    opened: dict[str, list[Incident]] = {}
    for day in (3, 4, 5):  # b3 (clean), b4 (poisoned), b5 (clean) land in the first hour of their day
        run = pipeline.detect_and_open(store, config, _at(START + pd.Timedelta(days=day, hours=1)))
        opened[f"b{day}"] = list(run.outcome.incidents)
    run = pipeline.detect_and_open(store, config, _at(DEPLOY + pd.Timedelta(minutes=90)))
    quality = [i for i in run.outcome.incidents if str(i.type) == "quality_degradation"]
    assert len(quality) == 1, [(i.type, i.component, i.title) for i in run.outcome.incidents]
    yield config, store, opened, quality[0].key
    store.dispose()


def _rca(config: SystemConfig, store: Store, key: str) -> RcaResult:
    plan = plan_for_incident(store, config, key)
    data = pipeline.load_window(config, plan.start, plan.end)
    return pipeline.investigate(pipeline.investigation(config, plan, data))


def test_detection_flags_the_poisoned_batch_only(scenario: tuple) -> None:
    _, store, opened, _ = scenario
    assert opened["b3"] == [] and opened["b5"] == []
    (inc,) = opened[POISONED]
    assert str(inc.type) == "security_adversarial" and inc.component == "training_store"
    with store.session(readonly=True) as s:
        stored = s.get(Incident, inc.incident_id)
        assert stored is not None
        checks = {c["check"]: c for c in stored.details["checks"]}
    assert {"flipped_duplicates", "source_burst"} <= set(checks)
    assert checks["flipped_duplicates"]["details"]["batch"] == POISONED
    assert checks["flipped_duplicates"]["details"]["flagged"] == 300


def test_rca_ranks_the_batch_the_deployed_version_was_trained_on_first(scenario: tuple) -> None:
    config, store, _, key = scenario
    result = _rca(config, store, key)
    top = result.hypotheses[0]
    assert (top.component, top.metric, top.kind) == ("training_store", POISONED, "training_batch"), [
        (h.component, h.metric, h.kind, h.score) for h in result.hypotheses
    ]
    assert "bad_training_batch_explains_model_quality" in top.rules
    model = next(h for h in result.hypotheses if h.component == "risk_model")  # the deploy that carried it
    assert "bad_training_batch_exonerates_the_model" in model.rules and model.score < top.score
    text = " ".join(top.supporting)
    assert "model version v5" in text and f"batch {POISONED}" in text
    assert "flipped_duplicates" in text and "source_burst" in text
    lineage = next(p for p in result.phases if str(p.phase) == "lineage")
    finding = next(f for f in lineage.findings if f.kind == "training_batch")
    assert finding.details["version"] == "v5" and finding.details["version_share"] > 0.9
    assert {c["check"] for c in finding.details["failed_checks"]} == {"flipped_duplicates", "source_burst"}
    assert result.next_steps[0].startswith(f"Quarantine training batch {POISONED}")


def test_a_version_trained_on_a_clean_batch_names_no_batch(scenario: tuple) -> None:
    config, store, _, key = scenario
    model = config.models[0]
    assert model is not None and model.training is not None
    versions = {**model.training.versions, "v5": ["b3"]}
    clean = config.model_copy(
        update={
            "models": [model.model_copy(update={"training": model.training.model_copy(update={"versions": versions})})]
        }
    )
    result = _rca(clean, store, key)
    assert all(h.kind != "training_batch" for h in result.hypotheses)
    assert result.hypotheses[0].component == "risk_model"
    lineage = next(p for p in result.phases if str(p.phase) == "lineage")
    assert "version v5: training batch b3 passed every check" in lineage.details["training"]


@pytest.mark.parametrize(
    ("change", "note"),
    [
        ({"versions": {"v5": ["b42"]}}, "version v5: training batch(es) ['b42'] not found among the batches read"),
        ({"versions": {"v4": ["b3"]}}, "version v5: no training batch declared (model.training.versions)"),
        ({"log_version": None}, "model.log.version is not declared: served versions cannot be linked"),
    ],
)
def test_a_link_that_cannot_be_followed_is_named(scenario: tuple, change: dict[str, Any], note: str) -> None:
    config, store, _, key = scenario
    model = config.models[0]
    assert model is not None and model.training is not None
    if "log_version" in change:
        model = model.model_copy(update={"log": model.log.model_copy(update={"version": None})})
    else:
        model = model.model_copy(update={"training": model.training.model_copy(update=change)})
    result = _rca(config.model_copy(update={"models": [model]}), store, key)
    assert all(h.kind != "training_batch" for h in result.hypotheses)
    lineage = next(p for p in result.phases if str(p.phase) == "lineage")
    assert any(n.startswith(note) for n in lineage.details["training"]), lineage.details["training"]


def test_a_version_that_served_before_the_onset_is_a_weaker_candidate(scenario: tuple) -> None:
    """Both versions serve throughout: the poisoned batch of v5 is named, at half weight and with the reason."""
    config, _, _, _ = scenario
    end = DEPLOY + pd.Timedelta(minutes=90)
    data = pipeline.load_window(config, _at(end - pd.Timedelta(hours=6)), _at(end))
    preds = data.predictions.copy()
    preds["model_version"] = np.where(np.random.default_rng(1).random(len(preds)) < 0.5, "v4", "v5")
    symptom = Symptom(
        component="risk_model",
        metric="accuracy",
        incident_type="quality_degradation",
        detected_at=_at(end),
        onset=_at(DEPLOY),
    )
    ctx = RcaContext.build(config, replace(data, predictions=preds), symptom)
    result = LineagePhase().run(ctx)
    (finding,) = [f for f in result.findings if f.kind.startswith("training_batch")]
    assert finding.kind == "training_batch_prior" and finding.metric == POISONED
    assert 0.4 <= finding.score <= 0.5  # a failing check's score, halved
    assert finding.contradicting and "served before the onset too" in finding.contradicting[0]
    assert "version v4: training batch b3 passed every check" in result.details["training"]
