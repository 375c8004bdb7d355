"""Write a seeded prediction log for the ticket-routing example system, with one injected fault.

Usage::

    python examples/ticket_routing/generate.py DIRECTORY [--end 2026-03-02T12:00:00Z] [--no-fault]

25 hours of tickets (about 25 a minute) in four languages and three channels, routed to five
queues with class probabilities; an A/B test sends half the traffic to arm B. Labels (the queue
that resolved the ticket) arrive 20 minutes later. The fault, 60 minutes before the end: arm B's
new tokenizer mangles German text, so arm B routes German tickets almost at random, while arm A
and arm B on other languages are fine. The truth is written next to the log as ``truth.json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

QUEUES = np.array(["billing", "tech", "sales", "account", "other"])
LANGUAGES = np.array(["en", "de", "fr", "es"])
CHANNELS = np.array(["email", "chat", "web"])
TRUTH = {
    "root_cause_component": "router_model",
    "root_cause_kind": "experiment_arm",
    "root_cause_metric": "error_rate[language=de,ab_arm=B]",
}


def prediction_log(end: pd.Timestamp, seed: int = 5, fault: bool = True) -> pd.DataFrame:
    """Return the seeded log (time-sorted) ending at ``end``."""
    rng = np.random.default_rng(seed)
    minutes = 25 * 60
    n = int(rng.poisson(25, minutes).sum())
    start = end - pd.Timedelta(minutes=minutes)
    ts = start + pd.to_timedelta(np.sort(rng.uniform(0, minutes * 60, n)), unit="s")
    lang = rng.choice(len(LANGUAGES), n, p=[0.5, 0.2, 0.15, 0.15])
    arm = np.where(rng.random(n) < 0.5, "A", "B")
    truth = rng.choice(len(QUEUES), n, p=[0.3, 0.3, 0.15, 0.15, 0.1])
    # a confident, mostly right model: logits peak at the true queue
    logits = rng.normal(0, 1, (n, len(QUEUES)))
    logits[np.arange(n), truth] += 3.0
    if fault:
        broken = np.asarray(ts >= end - pd.Timedelta(minutes=60)) & (arm == "B") & (LANGUAGES[lang] == "de")
        logits[broken] = rng.normal(0, 1, (int(broken.sum()), len(QUEUES)))
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    routed = probs.argmax(axis=1)
    return pd.DataFrame(
        {
            "timestamp": ts,
            "language": LANGUAGES[lang],
            "channel": CHANNELS[rng.integers(0, len(CHANNELS), n)],
            "ab_arm": arm,
            "length": rng.integers(20, 2000, n),
            "n_links": rng.poisson(0.5, n),
            "has_attachment": (rng.random(n) < 0.2).astype(int),
            "routed_queue": QUEUES[routed],
            **{f"p_{q}": np.round(probs[:, i], 5) for i, q in enumerate(QUEUES)},
            "resolved_queue": QUEUES[truth],
            "resolved_at": ts + pd.Timedelta(minutes=20),
        }
    )


def write(directory: Path, end: pd.Timestamp, fault: bool = True) -> Path:
    """Write ``predictions.csv`` (labels not yet arrived at ``end`` left empty) and ``truth.json``."""
    directory.mkdir(parents=True, exist_ok=True)
    df = prediction_log(end, fault=fault)
    late = df["resolved_at"] >= end
    df["resolved_queue"] = df["resolved_queue"].where(~late)
    df["resolved_at"] = df["resolved_at"].where(~late)
    path = directory / "predictions.csv"
    df.to_csv(path, index=False, date_format="%Y-%m-%dT%H:%M:%S.%fZ")
    onset = (end - pd.Timedelta(minutes=60)).isoformat() if fault else None
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
