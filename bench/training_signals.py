"""Time the label-noise and poisoning signals of training batches (issue 16 item 5) and print the figures.

Usage::

    python bench/training_signals.py [--batches 20] [--rows 50000] [--features 20]

Seeded batches of ``--rows`` rows each with ``--features`` numeric features, four categorical
ones, a 0/1 label and a source; the last batch gets 2 % flipped copies of earlier records from
one new source. Prints the wall time of :func:`rcaflows.detection.poisoning.batch_signals`
judging the last batch against all earlier ones, and which signals fired.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from rcaflows.config.models import TrainingSignals
from rcaflows.detection.poisoning import batch_signals


def make_batch(k: int, rows: int, features: int, rng: np.random.Generator) -> pd.DataFrame:
    """Return one seeded batch."""
    x = rng.normal(size=(rows, features)).round(3)
    df = pd.DataFrame(x, columns=[f"f{i}" for i in range(features)])
    for j in range(4):
        df[f"c{j}"] = rng.choice(["a", "b", "c", "d", "e"], rows)
    df["label"] = (x[:, 0] + 0.5 * x[:, 1] + rng.normal(0, 1, rows) > 0).astype(int)
    df["source"] = rng.choice(["web", "app", "partner"], rows, p=[0.5, 0.4, 0.1])
    df["row_id"] = [f"{k}-{i}" for i in range(rows)]
    return df


def main() -> None:
    """Build the batches, time the signals, print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", type=int, default=20)
    ap.add_argument("--rows", type=int, default=50_000)
    ap.add_argument("--features", type=int, default=20)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    frames = [make_batch(k, args.rows, args.features, rng) for k in range(args.batches)]
    earlier = pd.concat(frames[:-1], ignore_index=True)
    bad = earlier.sample(n=args.rows // 50, random_state=1).assign(source="bulk-upload")
    bad["label"] = 1 - bad["label"]
    frames[-1] = pd.concat([frames[-1], bad], ignore_index=True)
    ids = [f"b{k}" for k in range(args.batches)]
    features = [c for c in frames[0].columns if c.startswith(("f", "c"))]
    t0, c0 = time.perf_counter(), time.process_time()
    out = batch_signals(
        frames,
        ids,
        [ids[-1]],
        features=features,
        label="label",
        regression=False,
        settings=TrainingSignals(),
        source_column="source",
        id_column="row_id",
    )
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    total = sum(len(f) for f in frames)
    print(
        f"{args.batches} batches, {total:,} rows, {len(features)} features: signals of the last batch in "
        f"{wall:.2f} s wall, {cpu:.2f} s CPU"
    )
    for s in out[ids[-1]]:
        print(f"  {s.name:20s} {'FAIL' if s.failed else 'ok  '} share {s.share:.4f} before {s.baseline or 0:.4f}")


if __name__ == "__main__":
    main()
