"""Impact in a system with two models: each model's numbers come from its own prediction rows."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from rcaflows.config import parse_config
from rcaflows.config.models import SystemConfig
from rcaflows.data import MonitoringData
from rcaflows.impact import compute_impact
from rcaflows.vocab import IncidentType

CONFIG = """
system: {name: two}
sources: [{name: log, kind: files, options: {directory: .}}]
components:
  - {name: api, kind: service, team: ml, depends_on: [risk_model, price_model]}
  - {name: risk_model, kind: model, team: ml}
  - {name: price_model, kind: model, team: ml}
lineage:
  nodes:
    - {name: risk_model, kind: model, component: risk_model}
    - {name: price_model, kind: model, component: price_model}
models:
  - {name: risk_model, component: risk_model, lineage_node: risk_model, features: [x], log: {model: served_by}}
  - {name: price_model, component: price_model, lineage_node: price_model, features: [x], log: {model: served_by}}
teams: [{name: ml, channels: [console]}]
routing: {default_team: ml}
notifications: [{name: console, kind: console}]
"""
END = pd.Timestamp("2026-03-02T12:00:00Z")
ONSET = END - pd.Timedelta(hours=1)


@pytest.fixture(scope="module")
def cfg() -> SystemConfig:
    return parse_config(CONFIG)


@pytest.fixture(scope="module")
def data() -> MonitoringData:
    """Return 3 h of both models' rows, 2 risk and 1 price a minute; the price model's positives double at the onset."""
    rng = np.random.default_rng(4)
    minutes = np.repeat(np.arange(180), 3)
    ts = END - pd.Timedelta(hours=3) + pd.to_timedelta(minutes, unit="min")
    served = np.tile(["risk_model", "risk_model", "price_model"], 180)
    after = np.asarray(ts >= ONSET)
    rate = np.where((served == "price_model") & after, 0.4, 0.2)
    preds = pd.DataFrame(
        {
            "timestamp": ts,
            "served_by": served,
            "client_id": rng.choice(["c-1", "c-2", "c-3"], len(ts)),
            "group": np.where(np.arange(len(ts)) % 2 == 0, "A", "B"),
            "x": np.where(rng.random(len(ts)) < 0.02, np.nan, 1.0),
            "prediction": (rng.random(len(ts)) < rate).astype(float),
            "label": np.nan,
        }
    )
    return MonitoringData(
        start=(END - pd.Timedelta(hours=3)).to_pydatetime(), end=END.to_pydatetime(), predictions=preds
    )


def impact(cfg: SystemConfig, data: MonitoringData, components: list[str], itype: IncidentType):  # type: ignore[no-untyped-def]
    cfg = cfg.model_copy(update={"impact": cfg.impact.model_copy(update={"baseline": timedelta(hours=2)})})
    return compute_impact(
        cfg, data, key="INC-1", itype=itype, components=components, start=ONSET.to_pydatetime(), end=END.to_pydatetime()
    )


def test_an_incident_on_one_model_counts_that_models_rows(cfg: SystemConfig, data: MonitoringData) -> None:
    out = impact(cfg, data, ["price_model"], IncidentType.BIAS_FAIRNESS)
    assert out.requests == 60 and out.predictions_since_onset == 60  # one price row a minute, not 180
    assert {g.group for g in out.by_group} == {"price_model:A", "price_model:B"}
    assert sum(g.predictions for g in out.by_group) == 60
    # positives above the price model's own pre-onset rate (0.2 -> 0.4 of 60 rows: about 12)
    assert 4 <= (out.wrong_decisions or 0) <= 22
    assert any(line.startswith("models: price_model") for line in out.method)


def test_an_incident_on_the_shared_api_counts_every_models_rows(cfg: SystemConfig, data: MonitoringData) -> None:
    out = impact(cfg, data, ["api"], IncidentType.PERFORMANCE_AVAILABILITY)
    assert out.requests == 180
    assert out.predictions_since_onset is None  # no model's own component or input is involved
    both = impact(cfg, data, ["risk_model", "price_model"], IncidentType.QUALITY_DEGRADATION)
    assert both.predictions_since_onset == 180
    assert {g.group.split(":")[0] for g in both.by_group} == {"risk_model", "price_model"}
