"""Custom metrics named in the config are tested against the reference and reported as their own checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from detection_data import with_model
from pydantic import ValidationError
from typer.testing import CliRunner

from rcaflows.cli import app
from rcaflows.config import demo_config_path
from rcaflows.config.models import ModelAnalysisConfig, ModelConfig, SystemConfig
from rcaflows.data import MonitoringData, Window
from rcaflows.detection.detectors.quality import QualityDetector
from rcaflows.model.log import model_view
from rcaflows.model.metrics import compare
from rcaflows.vocab import CheckStatus

END = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SPLIT = END - timedelta(hours=1)
START = END - timedelta(hours=7)
FNS = "custom_metric_fns"


def _config(task: str, features: list[str], analysis: dict[str, Any], **log: object) -> SystemConfig:
    base = with_model(task, features, **log)
    assert base.models
    model = ModelConfig.model_validate({**base.models[0].model_dump(), "analysis": analysis})
    return base.model_copy(update={"models": [model]})


def _times(n: int, start: datetime, end: datetime, rng: np.random.Generator) -> pd.Series:
    offs = np.sort(rng.uniform(0, (end - start).total_seconds(), n))
    return pd.Series(pd.Timestamp(start) + pd.to_timedelta(offs, unit="s"))


def _window(ref: pd.DataFrame, cur: pd.DataFrame) -> Window:
    return Window(
        reference=MonitoringData(start=START, end=SPLIT, predictions=ref),
        current=MonitoringData(start=SPLIT, end=END, predictions=cur),
    )


def _fraud(n: int, start: datetime, end: datetime, seed: int, miss_big: float = 0.0) -> pd.DataFrame:
    """A fraud model's log; ``miss_big``: share of large frauds (top 30 % amounts) it stops flagging."""
    rng = np.random.default_rng(seed)
    ts = _times(n, start, end, rng)
    y = (rng.random(n) < 0.3).astype(float)
    amount = np.exp(rng.normal(4, 1, n))
    s = np.clip(np.where(y == 1, 0.72, 0.28) + rng.normal(0, 0.18, n), 0, 1)
    pred = (s >= 0.5).astype(int)
    big = amount > np.exp(4 + 0.52)
    pred = np.where((y == 1) & big & (rng.random(n) < miss_big), 0, pred)
    return pd.DataFrame(
        {
            "timestamp": ts,
            "amount": amount,
            "group": rng.choice(["A", "B"], n),
            "score": s,
            "prediction": pred,
            "label": y,
            "label_at": ts + pd.Timedelta(minutes=5),
        }
    )


CAUGHT = {"name": "amount_caught", "function": f"{FNS}:fraud_amount_caught"}


def test_a_custom_metric_that_degrades_fails_and_one_that_does_not_stays_ok() -> None:
    cfg = _config("binary", ["amount"], {"custom_metrics": [CAUGHT]})
    ref = _fraud(12_000, START, SPLIT, 1)
    same = {c.subtype: c for c in QualityDetector().run(_window(ref, _fraud(3_000, SPLIT, END, 2)), cfg)}
    # the binary defaults still run beside the custom check
    assert {"accuracy_drop", "recall_drop", "amount_caught_worse"} <= set(same)
    ok = same["amount_caught_worse"]
    assert ok.status == CheckStatus.OK and ok.details["custom"] is True
    assert ok.details["function"] == f"{FNS}:fraud_amount_caught"
    assert ok.details["reference_chunks"] == 6  # the reference chunks' spread was estimated on it too
    assert abs(ok.statistic - ok.baseline) < 0.03

    cur = _fraud(3_000, SPLIT, END, 3, miss_big=0.7)
    worse = {c.subtype: c for c in QualityDetector().run(_window(ref, cur), cfg)}
    bad = worse["amount_caught_worse"]
    assert bad.status == CheckStatus.FAIL and bad.p_value is not None and bad.p_value < 1e-4
    assert bad.statistic < bad.baseline - 0.2
    assert bad.threshold == pytest.approx(0.1 * bad.baseline)  # default min_change: 10 % of the reference
    assert "amount_caught" in bad.message


def test_a_higher_is_worse_custom_metric_with_its_own_min_change() -> None:
    """``higher_is_better: false`` flips the direction; a declared ``min_change`` is the bar."""
    spec = {**CAUGHT, "higher_is_better": False, "min_change": 0.5}
    cfg = _config("binary", ["amount"], {"custom_metrics": [spec]})
    ref = _fraud(12_000, START, SPLIT, 1)
    check = next(
        c
        for c in QualityDetector().run(_window(ref, _fraud(3_000, SPLIT, END, 3, miss_big=0.7)), cfg)
        if c.subtype == "amount_caught_worse"
    )
    # the share fell, which is better when higher is worse
    assert check.status == CheckStatus.OK and check.details["change"] < -0.2 and check.threshold == 0.5


def _regression(n: int, start: datetime, end: datetime, seed: int, noise: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ts = _times(n, start, end, rng)
    x = rng.normal(size=n)
    y = 50 + 8 * x + rng.normal(0, 3, n)
    return pd.DataFrame(
        {
            "timestamp": ts,
            "x": x,
            "group": "A",
            "prediction": 50 + 8 * x + rng.normal(0, noise, n),
            "label": y,
            "label_at": ts + pd.Timedelta(minutes=5),
        }
    )


@pytest.mark.parametrize("noise", [2.0, 4.0])
def test_a_per_row_custom_metric_equal_to_mae_matches_the_builtin(noise: float) -> None:
    spec = {"name": "my_mae", "function": f"{FNS}:abs_error", "per_row": True, "higher_is_better": False}
    cfg = _config("regression", ["x"], {"metrics": ["mae"], "custom_metrics": [spec]})
    ref = _regression(6_000, START, SPLIT, 4, 2.0)
    cur = _regression(1_500, SPLIT, END - timedelta(minutes=6), 5, noise)
    checks = {c.subtype: c for c in QualityDetector().run(_window(ref, cur), cfg)}
    mine, builtin = checks["my_mae_worse"], checks["mae_worse"]
    assert mine.statistic == pytest.approx(builtin.statistic, rel=1e-12)
    assert mine.baseline == pytest.approx(builtin.baseline, rel=1e-12)
    assert mine.p_value == pytest.approx(builtin.p_value, rel=1e-9)
    assert mine.threshold == pytest.approx(builtin.threshold)
    assert mine.status == builtin.status
    assert mine.status == (CheckStatus.FAIL if noise > 3 else CheckStatus.OK)
    # and through the metrics API, with no detector around it
    assert cfg.models
    r, c = model_view(ref, cfg.models[0]), model_view(cur, cfg.models[0])
    t_mine, t_mae = compare(r, c, cfg.models[0], "my_mae"), compare(r, c, cfg.models[0], "mae")
    assert (t_mine.reference, t_mine.current, t_mine.change) == pytest.approx(
        (t_mae.reference, t_mae.current, t_mae.change)
    )
    assert t_mine.se == pytest.approx(t_mae.se)


def test_bad_callables_are_named_and_the_rest_goes_on() -> None:
    bad = [
        {"name": "gone", "function": "no_such_package_xyz.metrics:score"},
        {"name": "missing_attr", "function": f"{FNS}:no_such_function"},
        {"name": "not_callable", "function": f"{FNS}:NOT_CALLABLE"},
        {"name": "raising", "function": f"{FNS}:raises"},
        {"name": "texty", "function": f"{FNS}:returns_text"},
        {"name": "short", "function": f"{FNS}:wrong_length", "per_row": True},
    ]
    cfg = _config("binary", ["amount"], {"custom_metrics": [*bad, CAUGHT]})
    ref = _fraud(12_000, START, SPLIT, 1)
    checks = {c.subtype: c for c in QualityDetector().run(_window(ref, _fraud(3_000, SPLIT, END, 3, 0.7)), cfg)}
    for spec in bad:
        c = checks[f"{spec['name']}_worse"]
        assert c.status == CheckStatus.NO_DATA and c.details["reason"] == "invalid", c.message
        assert spec["name"] in c.message and spec["function"] in c.message and "expected" in c.message
        assert c.details["function"] == spec["function"]
    assert "cannot be imported (ModuleNotFoundError" in checks["gone_worse"].message
    assert "has no attribute 'no_such_function'" in checks["missing_attr_worse"].message
    assert "is a int, not a callable" in checks["not_callable_worse"].message
    assert "raised KeyError: 'no_such_column'" in checks["raising_worse"].message
    assert "returned str 'fine'; expected one number" in checks["texty_worse"].message
    assert "returned shape (11999,) for 12000 rows; expected one number per row" in checks["short_worse"].message
    # the good custom metric and the built-in checks still ran
    assert checks["amount_caught_worse"].status == CheckStatus.FAIL
    assert checks["accuracy_drop"].status in (CheckStatus.OK, CheckStatus.WARN, CheckStatus.FAIL)


def test_custom_metric_names_and_paths_are_checked_by_the_config() -> None:
    with pytest.raises(ValidationError, match=r"custom_metrics \['mae'\] reuse built-in metric names"):
        ModelAnalysisConfig.model_validate({"custom_metrics": [{"name": "mae", "function": f"{FNS}:abs_error"}]})
    with pytest.raises(ValidationError, match="declared more than once"):
        ModelAnalysisConfig.model_validate(
            {"custom_metrics": [{"name": "a", "function": "m:f"}, {"name": "a", "function": "m:g"}]}
        )
    with pytest.raises(ValidationError, match=r"'metrics\.abs_error' is not an import path; expected 'package\.module"):
        ModelAnalysisConfig.model_validate({"custom_metrics": [{"name": "a", "function": "metrics.abs_error"}]})


def test_validate_reports_an_unimportable_custom_metric(tmp_path: Path) -> None:
    runner = CliRunner()
    raw = yaml.safe_load(demo_config_path().read_text())
    raw["model"]["analysis"]["custom_metrics"] = [
        {"name": "amount_caught", "function": f"{FNS}:fraud_amount_caught"},
        {"name": "gone", "function": "no_such_package_xyz.metrics:score"},
    ]
    path = tmp_path / "system.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    res = runner.invoke(app, ["validate", str(path)])
    assert res.exit_code == 1, res.output
    line = next(i for i, s in enumerate(path.read_text().splitlines(), 1) if "no_such_package_xyz" in s)
    assert f"{path}:{line}: model.analysis.custom_metrics[1].function: custom metric 'gone'" in res.output
    assert "cannot be imported" in res.output and "1 problem(s)" in res.output
    # the same model listed under 'models:' is named by its index there
    listed = {**{k: v for k, v in raw.items() if k != "model"}, "models": [raw["model"]]}
    path.write_text(yaml.safe_dump(listed, sort_keys=False))
    res = runner.invoke(app, ["validate", str(path)])
    line = next(i for i, s in enumerate(path.read_text().splitlines(), 1) if "no_such_package_xyz" in s)
    assert f"{path}:{line}: models[0].analysis.custom_metrics[1].function: custom metric 'gone'" in res.output
    raw["model"]["analysis"]["custom_metrics"].pop()
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    ok = runner.invoke(app, ["validate", str(path)])
    assert ok.exit_code == 0, ok.output
