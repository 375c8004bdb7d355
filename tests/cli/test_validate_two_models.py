"""``rcaflows validate --predictions`` on a system with two models: each model's log against its own declaration."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from tests.examples import EXAMPLES, example_generator
from typer.testing import CliRunner

from rcaflows.cli import app

EXAMPLE = EXAMPLES / "two_models"
END = pd.Timestamp("2026-03-02T12:00:00Z")
runner = CliRunner()


def _logs(tmp_path: Path) -> dict[str, Path]:
    paths: dict[str, Path] = example_generator("two_models").write(tmp_path, END, "none")
    return paths


def test_each_source_model_is_checked_when_named(tmp_path: Path) -> None:
    logs = _logs(tmp_path)
    config = str(EXAMPLE / "system.yaml")
    for model, path in logs.items():
        res = runner.invoke(app, ["validate", config, "--predictions", str(path), "--model", model])
        assert res.exit_code == 0, res.output
    # the routing log read as the demand model's: its declared columns are missing
    res = runner.invoke(
        app, ["validate", config, "--predictions", str(logs["router_model"]), "--model", "demand_model"]
    )
    assert res.exit_code == 1
    assert "model demand_model: declared column(s) missing" in res.output and "forecast_units" in res.output


def test_models_told_apart_by_source_need_the_model_named(tmp_path: Path) -> None:
    logs = _logs(tmp_path)
    res = runner.invoke(app, ["validate", str(EXAMPLE / "system.yaml"), "--predictions", str(logs["demand_model"])])
    assert res.exit_code == 1
    assert "model router_model: cannot tell its rows apart" in res.output and "--model" in res.output
    res = runner.invoke(
        app, ["validate", str(EXAMPLE / "system.yaml"), "--predictions", str(logs["demand_model"]), "--model", "nope"]
    )
    assert res.exit_code == 1 and "no such model" in res.output


def test_a_shared_log_is_split_by_its_model_column(tmp_path: Path) -> None:
    logs = _logs(tmp_path)
    demand = pd.read_csv(logs["demand_model"]).assign(served_by="demand_model")
    routing = pd.read_csv(logs["router_model"]).assign(served_by="router_model")
    shared = pd.concat([demand, routing], ignore_index=True)
    shared["units_sold"] = shared["units_sold"].astype(object)
    shared.loc[shared.index[:3], "units_sold"] = "lots"  # demand rows come first: not a number for a regression
    path = tmp_path / "shared.csv"
    shared.to_csv(path, index=False)
    text = (EXAMPLE / "system.yaml").read_text()
    text = text.replace("source: forecast_log", "log_model_placeholder").replace("source: routing_log", "")
    text = text.replace("log_model_placeholder", "")
    text = text.replace("    log:\n      prediction:", "    log:\n      model: served_by\n      prediction:")
    cfg = tmp_path / "system.yaml"
    cfg.write_text(text)
    res = runner.invoke(app, ["validate", str(cfg), "--predictions", str(path)])
    assert res.exit_code == 1, res.output
    assert "model demand_model: label column 'units_sold' must be numeric" in res.output
    assert "router_model" not in res.output  # its rows, checked on their own, are fine
