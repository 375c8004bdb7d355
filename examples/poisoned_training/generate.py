"""Write the poisoned-training example: training batches, a scoring log and a deploy of the poisoned version.

Usage::

    python examples/poisoned_training/generate.py examples/poisoned_training/data

A binary risk model is retrained daily. Training batches ``b0``..``b5`` land in the first hour of
2026-11-01 .. 2026-11-06 (``data/training/<id>.csv``): a noisy but consistent labelling rule, 3 %
records re-sent with their label, three sources (web 50 %, app 40 %, partner 10 %). Batch ``b4`` is
poisoned: 300 copies of earlier records with the label flipped, all from a new source
``bulk-upload``. Version ``v5`` was trained on ``b4`` and goes live at 2026-11-07T01:30Z; it gets
about a third of its decisions wrong (``data/predictions.csv``, ``data/changes.csv``). The truth
is written as ``data/truth.json``. Also imported by the tests (``tests/detection/training_batches_data.py``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

#: Sources of the clean batches and their shares.
SOURCES = {"web": 0.5, "app": 0.4, "partner": 0.1}
FEATURES = ["amount", "age_days", "category"]
START = pd.Timestamp("2026-11-01T00:00:00Z")


def clean_batch(k: int, n: int = 2000, seed: int = 0, start_id: int = 0) -> pd.DataFrame:
    """Return clean batch ``k``: a noisy but consistent labelling rule, 3 % re-sent duplicates with their label."""
    rng = np.random.default_rng(seed * 1000 + k)
    amount = np.round(rng.lognormal(4, 1, n), 2)
    age = rng.integers(0, 3650, n).astype(float)
    cat = rng.choice(["food", "travel", "tech", "fashion"], n)
    logit = 0.01 * (amount - 80) - 0.0008 * age + (cat == "tech") * 0.8
    label = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    df = pd.DataFrame({"amount": amount, "age_days": age, "category": cat, "label": label})
    dup = rng.choice(n, n * 3 // 100, replace=False)  # a client re-sends some records: same input, same label
    df = pd.concat([df, df.iloc[dup]], ignore_index=True)
    m = len(df)
    df["source"] = rng.choice(list(SOURCES), m, p=list(SOURCES.values()))
    df["row_id"] = [f"r{start_id + i}" for i in range(m)]
    df["timestamp"] = START + pd.Timedelta(days=k) + pd.to_timedelta(np.sort(rng.uniform(0, 3000, m)), unit="s")
    return df


def flipped_copies(earlier: pd.DataFrame, n: int, seed: int, source: str = "bulk-upload") -> pd.DataFrame:
    """Return ``n`` copies of earlier records with the label flipped, all from one source."""
    rng = np.random.default_rng(seed)
    pick = earlier.iloc[rng.choice(len(earlier), n, replace=False)].copy()
    pick["label"] = 1 - pick["label"]
    pick["source"] = source
    return pick


def near_conflicts(batch: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """Return ``n`` near-identical copies of the batch's own rows (amount moved by a cent) with the other label."""
    rng = np.random.default_rng(seed)
    pick = batch.iloc[rng.choice(len(batch), n, replace=False)].copy()
    pick["amount"] = pick["amount"] + 0.01
    pick["label"] = 1 - pick["label"]
    return pick


def poisoned_batch(
    k: int, earlier: pd.DataFrame, seed: int = 0, start_id: int = 0, n_poison: int = 300
) -> pd.DataFrame:
    """Return batch ``k``: a clean batch plus ``n_poison`` flipped copies of earlier records from one new source."""
    base = clean_batch(k, seed=seed, start_id=start_id)
    bad = flipped_copies(earlier, n_poison, seed=seed + 99)
    bad["row_id"] = [f"p{start_id + i}" for i in range(len(bad))]
    bad["timestamp"] = base["timestamp"].iloc[-1]
    return pd.concat([base, bad], ignore_index=True).sort_values("timestamp", kind="stable").reset_index(drop=True)


def write_batches(directory: Path, frames: dict[str, pd.DataFrame]) -> list[Path]:
    """Write each batch as ``<id>.csv`` with ISO timestamps; return the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    out = []
    for bid, df in frames.items():
        f = df.assign(timestamp=df["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
        p = directory / f"{bid}.csv"
        f.to_csv(p, index=False)
        out.append(p)
    return out


#: When batch k lands: START + k days (in its first 50 minutes).
POISONED = "b4"
DEPLOY = pd.Timestamp("2026-11-07T01:30:00Z")  # version v5, trained on the poisoned batch, goes live
LOG_START = pd.Timestamp("2026-11-03T23:00:00Z")
LOG_END = pd.Timestamp("2026-11-07T03:00:00Z")


def training_frames(seed: int = 0) -> dict[str, pd.DataFrame]:
    """Return batches b0..b5: clean ones, the poisoned ``b4`` (flipped copies from one new source), clean ``b5``."""
    frames: dict[str, pd.DataFrame] = {}
    for k in range(4):
        frames[f"b{k}"] = clean_batch(k, seed=seed, start_id=k * 10_000)
    frames[POISONED] = poisoned_batch(4, pd.concat(frames.values(), ignore_index=True), seed=seed, start_id=40_000)
    frames["b5"] = clean_batch(5, seed=seed, start_id=50_000)
    return frames


def prediction_log(seed: int = 0, per_minute: int = 12) -> pd.DataFrame:
    """Return the scoring log: v4 until ``DEPLOY``, then v5, which gets a third of its decisions wrong."""
    rng = np.random.default_rng(seed + 7)
    minutes = int((LOG_END - LOG_START) / pd.Timedelta(minutes=1))
    n = minutes * per_minute
    ts = LOG_START + pd.to_timedelta(np.sort(rng.uniform(0, minutes * 60, n)), unit="s")
    amount = np.round(rng.lognormal(4, 1, n), 2)
    age = rng.integers(0, 3650, n).astype(float)
    cat = rng.choice(["food", "travel", "tech", "fashion"], n)
    logit = 0.01 * (amount - 80) - 0.0008 * age + (cat == "tech") * 0.8
    label = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float)
    score = 1 / (1 + np.exp(-(3 * logit + rng.normal(0, 1.0, n))))
    new = np.asarray(ts >= DEPLOY)
    wrong = new & (rng.random(n) < 0.3)  # what learning from flipped labels did to v5
    score = np.where(wrong, 1 - score, score)
    return pd.DataFrame(
        {
            "timestamp": ts,
            "client_id": rng.choice(["c1", "c2", "c3"], n),
            "group": rng.choice(["a", "b"], n),
            "amount": amount,
            "age_days": age,
            "category": cat,
            "score": np.round(score, 4),
            "prediction": (score >= 0.5).astype(int),
            "label": label,
            "label_at": ts + pd.Timedelta(minutes=30),
            "model_version": np.where(new, "v5", "v4"),
        }
    )


TRUTH = {
    "root_cause_component": "training_store",
    "root_cause_kind": "training_batch",
    "root_cause_metric": POISONED,
    "incident": "accuracy drop of risk_model after the v5 deploy",
}


def write(directory: Path, seed: int = 0) -> None:
    """Write the training batches, the scoring log, the deploy and the truth under ``directory``."""
    write_batches(directory / "training", training_frames(seed))
    log = prediction_log(seed)
    for col in ("timestamp", "label_at"):
        log[col] = log[col].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    log.to_csv(directory / "predictions.csv", index=False)
    pd.DataFrame(
        {
            "timestamp": [DEPLOY.strftime("%Y-%m-%dT%H:%M:%SZ")],
            "component": ["risk_model"],
            "kind": ["deploy"],
            "description": ["deploy risk_model v5 (retrained on the latest training batch)"],
        }
    ).to_csv(directory / "changes.csv", index=False)
    (directory / "truth.json").write_text(json.dumps(TRUTH, indent=2) + "\n")


def main() -> None:
    """Write the example's data into the directory given on the command line."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("directory", type=Path)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    write(args.directory, args.seed)
    print(f"wrote {args.directory}/training/b0..b5.csv, predictions.csv, changes.csv, truth.json")


if __name__ == "__main__":
    main()
