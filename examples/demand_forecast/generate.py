"""Write a seeded prediction log for the demand-forecast example system, with one injected fault.

Usage::

    python examples/demand_forecast/generate.py DIRECTORY [--end 2026-03-02T12:00:00Z] [--no-fault]

25 hours of hourly-ish forecasts (about 40 a minute) per store, SKU category and region; labels
(units sold) arrive 10 minutes after each forecast. The fault, 50 minutes before the end:
model v8 is canaried on half the traffic and over-forecasts fresh produce by 45 % everywhere, so
``model_version=v8, category=fresh`` carries the error while v7 and the other categories are fine.
The truth is written next to the log as ``truth.json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

REGIONS = np.array(["north", "south", "east", "west"])
CATEGORIES = np.array(["fresh", "dairy", "bakery", "frozen", "household"])
TRUTH = {
    "root_cause_component": "demand_model",
    "root_cause_kind": "canary",
    "root_cause_metric": "abs_error[category=fresh,model_version=v8]",
}


def prediction_log(end: pd.Timestamp, seed: int = 11, fault: bool = True) -> pd.DataFrame:
    """Return the seeded log (time-sorted) ending at ``end``."""
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
    if fault:
        onset = end - pd.Timedelta(minutes=50)
        canary = np.asarray(ts >= onset) & (rng.random(n) < 0.5)
        version[canary] = "v8"
        forecast = np.where(canary & (CATEGORIES[cat] == "fresh"), forecast * 1.45, forecast)
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


def write(directory: Path, end: pd.Timestamp, fault: bool = True) -> Path:
    """Write ``predictions.csv`` (labels not yet arrived at ``end`` left empty) and ``truth.json``."""
    directory.mkdir(parents=True, exist_ok=True)
    df = prediction_log(end, fault=fault)
    late = df["sold_at"] >= end
    df.loc[late, "units_sold"] = np.nan
    df["sold_at"] = df["sold_at"].where(~late)
    path = directory / "predictions.csv"
    df.to_csv(path, index=False, date_format="%Y-%m-%dT%H:%M:%S.%fZ")
    onset = (end - pd.Timedelta(minutes=50)).isoformat() if fault else None
    (directory / "truth.json").write_text(json.dumps({**TRUTH, "onset": onset} if fault else {}, indent=2) + "\n")
    return path


def main() -> None:
    """Parse the arguments and write the files."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("directory", type=Path)
    ap.add_argument("--end", default="2026-03-02T12:00:00Z")
    ap.add_argument("--no-fault", action="store_true")
    args = ap.parse_args()
    print(write(args.directory, pd.Timestamp(args.end), fault=not args.no_fault))


if __name__ == "__main__":
    main()
