"""``rcaflows validate --predictions`` names what a prediction log lacks against the model's declaration."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from rcaflows.cli import app

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "demand_forecast" / "system.yaml"
runner = CliRunner()


def _log(tmp_path: Path, **overrides: object) -> Path:
    n = 60
    df = pd.DataFrame(
        {
            "timestamp": pd.date_range("2026-03-01", periods=n, freq="1min", tz="UTC"),
            "store_id": "s-001",
            "region": "north",
            "category": ["fresh", "dairy"] * (n // 2),
            "model_version": "v7",
            "forecast_units": range(n),
            "forecast_p10": range(n),
            "forecast_p90": range(n),
            "units_sold": [float(i % 7) for i in range(n)],
            "sold_at": pd.date_range("2026-03-01 00:10", periods=n, freq="1min", tz="UTC"),
            "request_id": [f"r{i}" for i in range(n)],
        }
    )
    for k, v in overrides.items():
        if v is None:
            df = df.drop(columns=k)
        else:
            df[k] = v
    path = tmp_path / "predictions.csv"
    df.to_csv(path, index=False)
    return path


def test_a_fitting_log_passes_with_a_note_on_the_single_version(tmp_path: Path) -> None:
    res = runner.invoke(app, ["validate", str(EXAMPLE), "--predictions", str(_log(tmp_path))])
    assert res.exit_code == 0, res.output
    assert "version column 'model_version' holds one value (v7); nothing to compare" in res.output


def test_missing_columns_and_wrong_labels_are_named(tmp_path: Path) -> None:
    path = _log(tmp_path, category=None, units_sold=["many"] * 60)
    res = runner.invoke(app, ["validate", str(EXAMPLE), "--predictions", str(path)])
    assert res.exit_code == 1
    out = " ".join(res.output.split())  # the console wraps long lines
    assert "log.groups 'category'" in out
    assert "label column 'units_sold' must be numeric for a regression model; got 'many'" in out
