"""Several models in one system: each is judged on its own rows, with its own settings, under its own name.

Real frames through the real detectors: a binary classifier and a regression model sharing one
prediction log told apart by a ``log.model`` column; the bundled two-model example (a regression
and a multiclass model, each delivered by its own ``files`` source); a model whose source
delivers nothing; two models declaring one component.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.examples import EXAMPLES, example_generator

from rcaflows.config import load_config, parse_config
from rcaflows.config.models import SystemConfig
from rcaflows.data import MonitoringData, Window
from rcaflows.detection.detectors.availability import availability_checks
from rcaflows.detection.detectors.fairness import FairnessDetector
from rcaflows.detection.detectors.quality import QualityDetector
from rcaflows.detection.detectors.security import SecurityDetector
from rcaflows.detection.model_scope import split_metric
from rcaflows.detection.models import CheckResult
from rcaflows.detection.tuning import check_key
from rcaflows.errors import ConfigError
from rcaflows.sources.base import load_sources
from rcaflows.vocab import CheckStatus

EXAMPLE = EXAMPLES / "two_models"
END = pd.Timestamp("2026-03-02T12:00:00Z")
CURRENT = END - pd.Timedelta(hours=1)

SHARED_LOG = """
system: {name: shared-log}
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
  - name: risk_model
    component: RISK_COMPONENT
    lineage_node: risk_model
    features: [x1, x2]
    label_delay: 5m
    log: {model: model_name}
  - name: price_model
    component: PRICE_COMPONENT
    lineage_node: price_model
    task: regression
    features: [x1, x2]
    label_delay: 5m
    log: {model: model_name, groups: [segment]}
teams: [{name: ml, channels: [console]}]
routing: {default_team: ml}
notifications: [{name: console, kind: console}]
"""


def shared_config(risk: str = "risk_model", price: str = "price_model") -> SystemConfig:
    """Return the two-model system whose models share one log (components as given)."""
    return parse_config(SHARED_LOG.replace("RISK_COMPONENT", risk).replace("PRICE_COMPONENT", price))


def shared_log(degrade: str | None, seed: int = 3) -> pd.DataFrame:
    """Return 25 h of both models' rows in one frame; ``degrade`` names the model made worse in the last hour."""
    rng = np.random.default_rng(seed)
    n = 25 * 60 * 30
    ts = pd.to_datetime(
        pd.Timestamp(END - pd.Timedelta(hours=25)).value + np.sort(rng.uniform(0, 25 * 3600e9, n)).astype(np.int64),
        utc=True,
    )
    which = np.where(rng.random(n) < 0.5, "risk_model", "price_model")
    x1, x2 = rng.normal(0, 1, n), rng.normal(0, 1, n)
    late = np.asarray(ts >= CURRENT)
    # risk_model: a binary classifier right about 88 % of the time
    y = (rng.random(n) < 1 / (1 + np.exp(-(1.5 * x1 - 1.0)))).astype(float)
    score = np.clip(1 / (1 + np.exp(-(1.5 * x1 - 1.0))) + rng.normal(0, 0.05, n), 0, 1)
    pred_bin = (score >= 0.5).astype(float)
    # price_model: a regression of 10 + 3 x1 + x2 with unit noise
    truth = 10 + 3 * x1 + x2 + rng.normal(0, 1, n)
    pred_reg = 10 + 3 * x1 + x2
    if degrade == "risk_model":  # a quarter of its last-hour decisions flipped
        flip = late & (rng.random(n) < 0.25)
        pred_bin = np.where(flip, 1 - pred_bin, pred_bin)
    elif degrade == "price_model":  # its last-hour forecasts 3 units high
        pred_reg = np.where(late, pred_reg + 3.0, pred_reg)
    binary = which == "risk_model"
    return pd.DataFrame(
        {
            "timestamp": ts,
            "model_name": which,
            "client_id": rng.choice([f"c-{i}" for i in range(40)], n),
            "group": np.where(rng.random(n) < 0.4, "B", "A"),
            "segment": rng.choice(["s1", "s2"], n),
            "x1": x1,
            "x2": x2,
            "score": np.where(binary, score, np.nan),
            "prediction": np.where(binary, pred_bin, pred_reg),
            "label": np.where(binary, y, truth),
            "label_at": ts + pd.Timedelta(minutes=5),
        }
    )


def window_of(preds: pd.DataFrame) -> Window:
    """Return the detection window (24 h reference, the last hour current) of a prediction log."""
    data = MonitoringData(
        start=(END - pd.Timedelta(hours=25)).to_pydatetime(), end=END.to_pydatetime(), predictions=preds
    )
    return Window.split(data, CURRENT.to_pydatetime())


def by_model(checks: list[CheckResult]) -> dict[str, list[CheckResult]]:
    """Return the checks grouped by the model their details name."""
    out: dict[str, list[CheckResult]] = {}
    for c in checks:
        out.setdefault(c.details["model"], []).append(c)
    return out


@pytest.mark.parametrize("degraded", ["risk_model", "price_model"])
def test_a_degraded_model_is_flagged_alone_through_the_log_model_column(degraded: str) -> None:
    cfg = shared_config()
    checks = by_model(QualityDetector().run(window_of(shared_log(degraded)), cfg))
    assert set(checks) == {"risk_model", "price_model"}
    failed = {m: {c.subtype for c in cs if c.status == CheckStatus.FAIL} for m, cs in checks.items()}
    other = "price_model" if degraded == "risk_model" else "risk_model"
    assert failed[other] == set()
    if degraded == "risk_model":
        assert "accuracy_drop" in failed["risk_model"]
    else:
        assert {"mae_worse", "bias_worse"} <= failed["price_model"]
    for model, cs in checks.items():
        # each model's own component, task and unchanged single-model metric names
        assert {c.component for c in cs} == {model}
        assert all(split_metric(c.metric)[1] is None for c in cs)
        # its own rows only: about half the 24 h reference's 43,200 rows
        rows = next(c for c in cs if c.subtype in ("accuracy_drop", "mae_worse")).details["n_reference"]
        assert 20_000 < rows < 23_500
    risk = {c.subtype for c in checks["risk_model"]}
    price = {c.subtype for c in checks["price_model"]}
    assert {"accuracy_drop", "recall_drop"} <= risk and not risk & price  # binary and regression metrics apart


def test_a_healthy_pair_of_models_passes() -> None:
    checks = QualityDetector().run(window_of(shared_log(None)), shared_config())
    assert checks and not [c for c in checks if c.status == CheckStatus.FAIL]


def test_a_model_without_rows_in_the_window_gets_no_data_alone() -> None:
    log = shared_log("risk_model")
    log = log[~((log["model_name"] == "price_model") & (log["timestamp"] >= CURRENT))]
    window = window_of(log)
    cfg = shared_config()
    quality = by_model(QualityDetector().run(window, cfg))
    assert [c.status for c in quality["price_model"]] == [CheckStatus.NO_DATA]
    assert "no predictions of price_model" in quality["price_model"][0].message
    assert "accuracy_drop" in {c.subtype for c in quality["risk_model"] if c.status == CheckStatus.FAIL}
    security = by_model(SecurityDetector().run(window, cfg))
    assert {c.status for c in security["price_model"]} == {CheckStatus.NO_DATA}
    assert CheckStatus.NO_DATA not in {c.status for c in security["risk_model"]}
    # availability: the price model's log fell silent, the risk model's did not
    data = MonitoringData(
        start=window.reference.start,
        end=window.current.end,
        predictions=pd.concat([window.reference.predictions, window.current.predictions]),
    )
    avail = {c.component: c for c in availability_checks(cfg, data, window.current.start)}
    assert avail["price_model"].status == CheckStatus.FAIL
    assert avail["price_model"].details["silent"][0]["metric"] == "predictions"
    assert avail["risk_model"].status == CheckStatus.OK


def test_two_models_on_one_component_keep_apart_keys() -> None:
    cfg = shared_config("api", "api")
    window = window_of(shared_log("risk_model"))
    checks = [
        *QualityDetector().run(window, cfg),
        *FairnessDetector().run(window, cfg),
        *SecurityDetector().run(window, cfg),
    ]
    keys = [(check_key(c), c.subtype) for c in checks]
    assert len(keys) == len(set(keys)), "two models' checks collide"
    failed = [c for c in checks if c.status == CheckStatus.FAIL and c.detector == "quality"]
    assert failed and {split_metric(c.metric)[1] for c in failed} == {"risk_model"}
    assert {c.component for c in failed} == {"api"}
    acc = next(c for c in failed if c.subtype == "accuracy_drop")
    assert acc.metric == "accuracy[model=risk_model]" and acc.message.startswith("risk_model")


def test_single_model_keys_are_unchanged() -> None:
    one = parse_config(_one_model_yaml())
    log = shared_log("risk_model")
    checks = QualityDetector().run(window_of(log[log["model_name"] == "risk_model"]), one)
    acc = next(c for c in checks if c.subtype == "accuracy_drop")
    assert (acc.component, acc.metric, acc.check) == ("risk_model", "accuracy", "two_proportion")
    assert acc.details["model"] == "risk_model" and acc.status == CheckStatus.FAIL
    assert not acc.message.startswith("risk_model:")  # one model: the message is as before


def _one_model_yaml() -> str:
    text = SHARED_LOG.replace("RISK_COMPONENT", "risk_model")
    head, tail = text.split("  - name: price_model")
    return head + "teams:" + tail.split("teams:")[1]


# -- the bundled example: two sources, two models ------------------------------------------------


def example_window(tmp_path: Path, fault: str) -> tuple[SystemConfig, Window]:
    """Generate the example's logs with ``fault`` and return its config (reading them) and window."""
    example_generator("two_models").write(tmp_path, END, fault)
    cfg = load_config(EXAMPLE / "system.yaml")
    sources = [
        s.model_copy(update={"options": {"directory": str(tmp_path / Path(s.options["directory"]).name)}})
        for s in cfg.sources
    ]
    cfg = cfg.model_copy(update={"sources": sources})
    data = load_sources(cfg, (END - pd.Timedelta(hours=25)).to_pydatetime(), END.to_pydatetime())
    return cfg, Window.split(data, CURRENT.to_pydatetime())


@pytest.mark.parametrize(("fault", "task_metric"), [("routing", "accuracy_worse"), ("demand", "mae_worse")])
def test_example_flags_the_faulty_model_only(tmp_path: Path, fault: str, task_metric: str) -> None:
    cfg, window = example_window(tmp_path, fault)
    truth = json.loads((tmp_path / "truth.json").read_text())
    (faulty,) = truth["faulty_models"]
    checks = by_model(QualityDetector().run(window, cfg))
    failed = {m: {c.subtype for c in cs if c.status == CheckStatus.FAIL} for m, cs in checks.items()}
    healthy = next(m for m in checks if m != faulty)
    assert task_metric in failed[faulty]
    assert failed[healthy] == set()
    assert {c.component for c in checks[faulty]} == {faulty}
    # each model's task decides its metrics: regression errors for one, class metrics for the other
    assert "mae_worse" in {c.subtype for c in checks["demand_model"]}
    assert "macro_f1_worse" in {c.subtype for c in checks["router_model"]}


def test_example_model_whose_source_delivers_nothing(tmp_path: Path) -> None:
    cfg, _ = example_window(tmp_path, "demand")
    (tmp_path / "routing" / "predictions.csv").unlink()
    data = load_sources(cfg, (END - pd.Timedelta(hours=25)).to_pydatetime(), END.to_pydatetime())
    window = Window.split(data, CURRENT.to_pydatetime())
    checks = by_model(QualityDetector().run(window, cfg))
    assert [(c.status, c.component) for c in checks["router_model"]] == [(CheckStatus.NO_DATA, "router_model")]
    assert "mae_worse" in {c.subtype for c in checks["demand_model"] if c.status == CheckStatus.FAIL}
    fairness = by_model(FairnessDetector().run(window, cfg))
    assert {c.status for c in fairness["router_model"]} == {CheckStatus.NO_DATA}
    assert all("router_model" in c.message for c in fairness["router_model"])


def test_a_model_needs_a_way_to_tell_its_rows_apart() -> None:
    text = SHARED_LOG.replace("RISK_COMPONENT", "risk_model").replace("PRICE_COMPONENT", "price_model")
    with pytest.raises(ConfigError) as exc:
        parse_config(text.replace("    log: {model: model_name}\n", "", 1))
    assert "give it 'source'" in " ".join(exc.value.problems)
