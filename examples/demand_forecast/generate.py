"""Write a seeded prediction log for the demand-forecast example system, with one injected fault.

Usage::

    python examples/demand_forecast/generate.py DIRECTORY [--end 2026-03-02T12:00:00Z] [--no-fault]
        [--scenario canary|feature_change]

25 hours of hourly-ish forecasts (about 40 a minute) per store, SKU category and region; labels
(units sold) arrive 10 minutes after each forecast. The model's forecast follows the lag feature
``lag_units_7d`` with an elasticity of 0.7 around its expected value (so the feature moves the
forecast only when its meaning changes). Two faults, one per scenario:

* ``canary`` (default), 50 minutes before the end: model v8 is canaried on half the traffic and
  over-forecasts fresh produce by 45 % everywhere, so ``model_version=v8, category=fresh`` carries
  the error while v7 and the other categories are fine.
* ``feature_change``, 1 hour before the end: the feature pipeline's release sales-features v3.2
  (a change event of ``sales_features``) makes ``lag_units_7d`` count online (click-and-collect)
  orders too, about x1.4, while the model's target stays in-store units; rolled out store by store
  over two hours. Every switched store's forecasts rise by 1.4^0.7 - 1 = 27 %, so the forecast bias
  creeps up as the rollout proceeds (+4 units an hour); the model itself (v7 throughout) is unchanged.

The truth is written next to the log as ``truth.json`` (with the change in ``changes.csv``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REGIONS = np.array(["north", "south", "east", "west"])
CATEGORIES = np.array(["fresh", "dairy", "bakery", "frozen", "household"])
SCENARIOS = ("canary", "feature_change")
TRUTHS: dict[str, dict[str, Any]] = {
    "canary": {
        "root_cause_component": "demand_model",
        "root_cause_kind": "canary",
        "root_cause_metric": "abs_error[category=fresh,model_version=v8]",
    },
    "feature_change": {
        "root_cause_component": "sales_features",
        "root_cause_kind": "feature_pipeline_change",
        "root_cause_metric": "lag_units_7d",
        "incident_types": ["quality_degradation"],
    },
}
TRUTH = TRUTHS["canary"]
#: Before the end of the log: when each scenario's fault starts.
ONSET = {"canary": pd.Timedelta(minutes=50), "feature_change": pd.Timedelta(hours=1)}
ELASTICITY = 0.7  # d log(forecast) / d log(lag_units_7d / its expected value)
ONLINE_FACTOR = 1.4  # units sold in store and online (click and collect) per unit sold in store
ROLLOUT = pd.Timedelta(hours=2)  # the feature change reaches every store in this time
CHANGE = "sales-features v3.2: lag_units_7d counts online (click-and-collect) orders too, store by store"


def prediction_log(end: pd.Timestamp, seed: int = 11, fault: bool = True, scenario: str = "canary") -> pd.DataFrame:
    """Return the seeded log (time-sorted) ending at ``end``, with ``scenario``'s fault unless ``fault`` is False."""
    if scenario not in SCENARIOS:
        raise ValueError(f"scenario: unknown {scenario!r}; expected one of {', '.join(SCENARIOS)}")
    rng = np.random.default_rng(seed)
    minutes = 25 * 60
    n = int(rng.poisson(40, minutes).sum())
    start = end - pd.Timedelta(minutes=minutes)
    ts = start + pd.to_timedelta(np.sort(rng.uniform(0, minutes * 60, n)), unit="s")
    region = rng.integers(0, len(REGIONS), n)
    cat = rng.integers(0, len(CATEGORIES), n)
    store = rng.integers(1, 81, n)
    sku = rng.integers(1, 400, n)
    hour = ts.hour.to_numpy()
    base = 20 + 6 * cat + 1.5 * np.sin((hour - 8) / 24 * 2 * np.pi)  # a mild daily cycle (see docs/models.md)
    price = np.round(rng.uniform(0.8, 1.2, n), 2)
    promo = (rng.random(n) < 0.15).astype(int)
    temperature = np.round(rng.normal(12, 5, n), 1)
    demand = np.maximum(base * (1.6 - 0.6 * price) * (1 + 0.4 * promo), 1.0)
    units = rng.poisson(demand).astype(float)
    lag7 = rng.poisson(demand).astype(float)
    lag1 = rng.poisson(demand).astype(float)
    forecast = demand * np.exp(rng.normal(0, 0.08, n))
    version = np.full(n, "v7", dtype=object)
    onset = end - ONSET[scenario]
    if fault and scenario == "canary":
        canary = np.asarray(ts >= onset) & (rng.random(n) < 0.5)
        version[canary] = "v8"
        forecast = np.where(canary & (CATEGORIES[cat] == "fresh"), forecast * 1.45, forecast)
    elif fault:  # feature_change: each store switches to the new unit at its turn of the rollout
        turn = np.random.default_rng(seed + 1).permutation(80)  # store s switches (turn[s-1] + 1)/80 into it
        switch = onset + ROLLOUT * ((turn[store - 1] + 1) / 80)
        moved = np.asarray(ts >= pd.DatetimeIndex(switch))
        lag7 = np.where(moved, np.round(lag7 * ONLINE_FACTOR), lag7)
        forecast = np.where(moved, forecast * ONLINE_FACTOR**ELASTICITY, forecast)
    spread = 1.2816 * np.sqrt(demand)  # Poisson noise: p10/p90 of the units sold
    return pd.DataFrame(
        {
            "timestamp": ts,
            "request_id": [f"r-{i:07d}" for i in range(n)],
            "store_id": [f"s-{s:03d}" for s in store],
            "sku_store": [f"{k}@{s}" for k, s in zip(sku, store, strict=True)],
            "region": REGIONS[region],
            "category": CATEGORIES[cat],
            "model_version": version,
            "lag_units_7d": lag7,
            "lag_units_1d": lag1,
            "price": price,
            "promo": promo,
            "temperature": temperature,
            "forecast_units": np.round(forecast, 2),
            "forecast_p10": np.round(forecast - spread, 2),
            "forecast_p90": np.round(forecast + spread, 2),
            "units_sold": units,
            "sold_at": ts + pd.Timedelta(minutes=10),
        }
    )


def write(directory: Path, end: pd.Timestamp, fault: bool = True, scenario: str = "canary") -> Path:
    """Write ``predictions.csv`` (labels not yet arrived at ``end`` left empty), ``truth.json`` and the changes.

    ``changes.csv`` holds the feature pipeline's release of ``feature_change`` (and is removed otherwise).
    """
    directory.mkdir(parents=True, exist_ok=True)
    df = prediction_log(end, fault=fault, scenario=scenario)
    late = df["sold_at"] >= end
    df.loc[late, "units_sold"] = np.nan
    df["sold_at"] = df["sold_at"].where(~late)
    path = directory / "predictions.csv"
    df.to_csv(path, index=False, date_format="%Y-%m-%dT%H:%M:%S.%fZ")
    onset = end - ONSET[scenario]
    changes = directory / "changes.csv"
    if fault and scenario == "feature_change":
        pd.DataFrame(
            {"timestamp": [onset], "component": ["sales_features"], "kind": ["deploy"], "description": [CHANGE]}
        ).to_csv(changes, index=False, date_format="%Y-%m-%dT%H:%M:%SZ")
    else:
        changes.unlink(missing_ok=True)
    truth = {**TRUTHS[scenario], "scenario": scenario, "onset": onset.isoformat()} if fault else {}
    (directory / "truth.json").write_text(json.dumps(truth, indent=2) + "\n")
    return path


def main() -> None:
    """Parse the arguments and write the files."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("directory", type=Path)
    ap.add_argument("--end", default="2026-03-02T12:00:00Z")
    ap.add_argument("--no-fault", action="store_true")
    ap.add_argument("--scenario", choices=SCENARIOS, default="canary", help="which fault to inject")
    args = ap.parse_args()
    print(write(args.directory, pd.Timestamp(args.end), fault=not args.no_fault, scenario=args.scenario))


if __name__ == "__main__":
    main()
