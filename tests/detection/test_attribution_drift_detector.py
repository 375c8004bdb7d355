"""The attribution-drift detector: a feature's share of the logged attributions moving, not its values."""

from __future__ import annotations

from datetime import timedelta

import pytest

from rcaflows.config import load_config
from rcaflows.config.loader import demo_config_path
from rcaflows.config.models import SystemConfig
from rcaflows.data import Window
from rcaflows.demo import DEMO_END, simulate
from rcaflows.detection import DETECTORS
from rcaflows.errors import ConfigError
from rcaflows.vocab import CheckStatus


@pytest.fixture(scope="module")
def cfg() -> SystemConfig:
    return load_config(demo_config_path())


def _window(name: str) -> Window:
    data = simulate(name).data.slice(DEMO_END - timedelta(days=1, hours=1), DEMO_END)
    return Window.split(data, DEMO_END - timedelta(hours=1))


def _with_attributions(cfg: SystemConfig, attributions: dict[str, str]) -> SystemConfig:
    assert cfg.models
    log = cfg.models[0].log.model_copy(update={"attributions": attributions})
    return cfg.model_copy(update={"models": [cfg.models[0].model_copy(update={"log": log})]})


def test_a_weight_push_fails_only_the_feature_it_moved(cfg: SystemConfig) -> None:
    checks = DETECTORS["attribution_drift"].run(_window("attribution_shift"), cfg)
    assert cfg.models and len(checks) == len(cfg.models[0].log.attributions)
    by = {c.metric: c for c in checks}
    mr = by["merchant_risk"]
    assert mr.status == CheckStatus.FAIL and mr.incident_type == "quality_degradation"
    assert mr.statistic is not None and mr.baseline is not None and mr.statistic - mr.baseline >= 0.1
    assert mr.p_value is not None and mr.p_value < 1e-3 and not mr.details["input_drift"]
    # the others lose share in consequence, each by less than the bar: no failure of their own
    assert all(c.status != CheckStatus.FAIL for m, c in by.items() if m != "merchant_risk")
    quiet = DETECTORS["attribution_drift"].run(_window("no_fault"), cfg)
    assert [c.status for c in quiet] == [CheckStatus.OK] * len(quiet)


def test_an_attribution_that_moves_with_its_drifting_input_is_left_to_data_quality(cfg: SystemConfig) -> None:
    # amounts in cents: the amount attribution moves because the amount itself moved
    checks = {c.metric: c for c in DETECTORS["attribution_drift"].run(_window("drifting_source"), cfg)}
    amount = checks["amount"]
    assert amount.details["input_drift"] and amount.status == CheckStatus.OK
    assert amount.statistic is not None and amount.baseline is not None
    assert amount.statistic - amount.baseline > 0.1  # it did move: the input explains it
    assert "drifted" in amount.message


def test_bad_declarations_are_named_and_the_rest_is_judged(cfg: SystemConfig) -> None:
    bad = _with_attributions(
        cfg,
        {"merchant_risk": "shap_merchant_risk", "amount": "shap_amt", "colour": "shap_amount"},
    )
    checks = DETECTORS["attribution_drift"].run(_window("attribution_shift"), bad)
    (problem,) = [c for c in checks if c.status == CheckStatus.NO_DATA]
    assert "log.attributions[amount] 'shap_amt' is not in the prediction log" in problem.message
    assert "log.attributions[colour] names no feature of the model" in problem.message
    # the one usable column is still judged (alone it holds the whole share, so nothing moves)
    assert [c.metric for c in checks if c.status != CheckStatus.NO_DATA] == ["merchant_risk"]


def _with_settings(cfg: SystemConfig, settings: dict[str, float]) -> SystemConfig:
    detectors = cfg.detectors.model_copy(update={"extra": {"attribution_drift": settings}})
    return cfg.model_copy(update={"detectors": detectors})


def test_no_attributions_declared_means_no_checks_and_settings_are_validated(cfg: SystemConfig) -> None:
    assert DETECTORS["attribution_drift"].run(_window("attribution_shift"), _with_attributions(cfg, {})) == []
    strict = _with_settings(cfg, {"min_share_change": 0.5})
    checks = DETECTORS["attribution_drift"].run(_window("attribution_shift"), strict)
    assert all(c.status != CheckStatus.FAIL for c in checks)
    wrong = _with_settings(cfg, {"min_share": 0.5})
    with pytest.raises(ConfigError, match="attribution_drift"):
        DETECTORS["attribution_drift"].run(_window("attribution_shift"), wrong)


def test_too_few_rows_is_no_data(cfg: SystemConfig) -> None:
    world = simulate("no_fault").data
    data = world.slice(DEMO_END - timedelta(minutes=6), DEMO_END)
    checks = DETECTORS["attribution_drift"].run(Window.split(data, DEMO_END - timedelta(minutes=3)), cfg)
    assert [(c.status, c.details["reason"]) for c in checks] == [(CheckStatus.NO_DATA, "insufficient")]
