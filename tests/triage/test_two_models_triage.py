"""Triage of a system with two models: the tier of the model(s) an incident reaches, the worst one."""

from __future__ import annotations

import pytest

from rcaflows.config import parse_config
from rcaflows.config.models import SystemConfig
from rcaflows.triage import triage
from rcaflows.triage.policy import impact_factors, incident_tier
from rcaflows.vocab import IncidentType as T

CONFIG = """
system: {name: two}
sources: [{name: log, kind: files, options: {directory: .}}]
components:
  - {name: gateway, kind: service, team: ml, depends_on: [checkout_api, search_api]}
  - {name: checkout_api, kind: service, team: ml, depends_on: [fraud_model]}
  - {name: search_api, kind: service, team: ml, depends_on: [ranker]}
  - {name: fraud_model, kind: model, team: ml, depends_on: [features]}
  - {name: ranker, kind: model, team: ml}
  - {name: features, kind: datastore, team: ml}
  - {name: clicks, kind: pipeline, team: ml}
lineage:
  nodes:
    - {name: clicks, kind: source, component: clicks}
    - {name: fraud_model, kind: model, component: fraud_model}
    - {name: ranker, kind: model, component: ranker}
  edges: [[clicks, ranker]]
models:
  - {name: fraud_model, component: fraud_model, lineage_node: fraud_model, tier: 1, source: log, features: [x]}
  - {name: ranker, component: ranker, lineage_node: ranker, task: ranking, tier: 3, source: log, features: [x]}
teams: [{name: ml, channels: [console]}]
routing: {default_team: ml}
notifications: [{name: console, kind: console}]
"""


@pytest.fixture(scope="module")
def cfg() -> SystemConfig:
    return parse_config(CONFIG)


@pytest.mark.parametrize(
    ("components", "tier", "models"),
    [
        (["ranker"], 3, ["ranker"]),
        (["clicks"], 3, ["ranker"]),  # feeds the ranker through the lineage only
        (["fraud_model"], 1, ["fraud_model"]),
        (["features"], 1, ["fraud_model"]),  # the fraud model depends on it
        (["gateway"], 1, ["fraud_model"]),  # reaches neither model: the worst tier of every model
        (["ranker", "fraud_model"], 1, ["fraud_model"]),
        (["client:c-9"], 1, ["fraud_model"]),  # a client may call either model
    ],
)
def test_the_tier_is_the_worst_of_the_models_reached(
    cfg: SystemConfig, components: list[str], tier: int, models: list[str]
) -> None:
    assert incident_tier(components, cfg) == (tier, models)


def test_the_same_fault_is_more_urgent_on_the_tier_1_model(cfg: SystemConfig) -> None:
    on_ranker = triage(T.QUALITY_DEGRADATION, "ndcg_worse", "ranker", 0.9, ["ranker"], cfg)
    on_fraud = triage(T.QUALITY_DEGRADATION, "accuracy_drop", "fraud_model", 0.9, ["fraud_model"], cfg)
    assert on_fraud.urgency > on_ranker.urgency
    assert any("tier 3 of ranker" in r for r in on_ranker.reasons)
    assert any("tier 1 of fraud_model" in r for r in on_fraud.reasons)
    # business factor from each model's own tier (business_by_tier), both models are hit
    assert impact_factors(T.QUALITY_DEGRADATION, ["fraud_model"], cfg).business == cfg.severity.business_by_tier[0]
    assert impact_factors(T.QUALITY_DEGRADATION, ["ranker"], cfg).business == cfg.severity.business_by_tier[2]


def test_without_a_model_the_tier_is_2(cfg: SystemConfig) -> None:
    none = cfg.model_copy(update={"models": []})
    assert incident_tier(["ranker"], none) == (2, [])
