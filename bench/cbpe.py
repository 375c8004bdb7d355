"""CBPE accuracy estimates before labels arrive: rcaflows vs NannyML's CBPE on the same seeded data.

Usage::

    RCAFLOWS_BENCH_PYTHON=/tmp/bench-venv/bin/python python bench/cbpe.py   # bench/setup_competitors.sh

A fixed concept P(y=1 | x) = sigmoid(x) and a monotone but under-confident score sigmoid(x / 2);
the reference has x ~ N(0, 3), and seven analysis chunks of 5,000 rows move x towards the
decision boundary (spread 3 -> 0.4) or off-centre, so the realised accuracy falls from ~0.83 to
~0.59. Both estimators are fitted on the reference (scores and labels) and see the chunks without
labels. Printed: realised accuracy, each estimate per chunk, and each estimator's mean absolute
error and time. Without the competitor venv only rcaflows' column is printed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from rcaflows.model.estimate import Calibrator, estimated_accuracy

CHUNK = 5_000
CHUNKS = [(0.0, 3.0), (0.0, 2.0), (0.0, 1.5), (0.0, 1.0), (0.0, 0.6), (0.0, 0.4), (1.5, 1.0)]  # (mean, spread)


def draw(n: int, mean: float, spread: float, rng: np.random.Generator) -> pd.DataFrame:
    """Return ``n`` rows of score, thresholded prediction and label."""
    x = rng.normal(mean, spread, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-x))).astype(int)
    score = 1 / (1 + np.exp(-0.5 * x))
    return pd.DataFrame({"score": score, "prediction": (score >= 0.5).astype(int), "label": y})


def compare(chunk: int, competitor: bool) -> tuple[list[float], list[float], list[float] | None, float, float]:
    """Return realised, rcaflows and NannyML (None without its venv) accuracy per chunk, and both times."""
    rng = np.random.default_rng(42)
    ref = draw(4 * chunk, 0.0, 3.0, rng)
    chunks = [draw(chunk, m, s, rng) for m, s in CHUNKS]
    realised = [float((c["prediction"] == c["label"]).mean()) for c in chunks]
    t0 = time.perf_counter()
    cal = Calibrator.fit(ref["score"].to_numpy(), ref["label"].to_numpy())
    ours = [estimated_accuracy(cal(c["score"].to_numpy()), c["prediction"].to_numpy() == 1).accuracy for c in chunks]
    t_ours = time.perf_counter() - t0
    theirs: list[float] | None = None
    t_theirs = float("nan")
    py = os.environ.get("RCAFLOWS_BENCH_PYTHON", "") if competitor else ""
    if py:
        with tempfile.TemporaryDirectory() as tmp:
            ref.to_csv(f"{tmp}/ref.csv", index=False)
            pd.concat(chunks, ignore_index=True).to_csv(f"{tmp}/ana.csv", index=False)
            worker = Path(__file__).with_name("_nannyml_cbpe_worker.py")
            t0 = time.perf_counter()
            subprocess.run(
                [py, str(worker), f"{tmp}/ref.csv", f"{tmp}/ana.csv", str(chunk), f"{tmp}/out.json"], check=True
            )
            t_theirs = time.perf_counter() - t0
            theirs = json.loads(Path(f"{tmp}/out.json").read_text())
    return realised, ours, theirs, t_ours, t_theirs


def run(quick: bool) -> list[dict[str, object]]:
    """Return one row per estimator (NannyML only with $RCAFLOWS_BENCH_PYTHON, never when quick)."""
    realised, ours, theirs, t_ours, t_theirs = compare(1_000 if quick else CHUNK, competitor=not quick)
    rows: list[dict[str, object]] = [
        {
            "estimator": "rcaflows CBPE",
            "chunks": len(CHUNKS),
            "mae_vs_realised": round(float(np.mean(np.abs(np.array(ours) - realised))), 4),
            "seconds": round(t_ours, 3),
        }
    ]
    if theirs:
        rows.append(
            {
                "estimator": "nannyml CBPE",
                "chunks": len(CHUNKS),
                "mae_vs_realised": round(float(np.mean(np.abs(np.array(theirs) - realised))), 4),
                "seconds": round(t_theirs, 3),
            }
        )
    return rows


def main() -> None:
    """Print the comparison table."""
    realised, ours, theirs, t_ours, t_theirs = compare(CHUNK, competitor=True)
    print(f"{'chunk (mean, spread)':<22}{'realised':>10}{'rcaflows':>10}{'nannyml':>10}")
    for i, (m, s) in enumerate(CHUNKS):
        nml = f"{theirs[i]:>10.3f}" if theirs else f"{'-':>10}"
        print(f"{f'{m:+.1f}, {s:.1f}':<22}{realised[i]:>10.3f}{ours[i]:>10.3f}{nml}")
    mae = float(np.mean(np.abs(np.array(ours) - realised)))
    line = f"mean |estimate - realised|: rcaflows {mae:.4f} ({t_ours * 1000:.0f} ms)"
    if theirs:
        mae_t = float(np.mean(np.abs(np.array(theirs) - realised)))
        line += f", nannyml {mae_t:.4f} ({t_theirs:.1f} s incl. process start and CSV read)"
    print(line)
    sys.stdout.flush()
    if not theirs:
        print("(NannyML not run: set RCAFLOWS_BENCH_PYTHON, see bench/setup_competitors.sh)", file=sys.stderr)


if __name__ == "__main__":
    main()
