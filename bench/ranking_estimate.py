"""Compare the pre-label hit rate@k and NDCG@k estimates of a ranking model with the realised ones (issue 16).

Usage::

    python bench/ranking_estimate.py [--quick]

Seeded lists of 10 items: score = list level + item noise (+ a shift), each item relevant
independently with P = sigmoid(score - 2 + intent), where ``intent`` is a hidden per-list offset
the scores do not see (SD 0: the estimate's independence assumption holds). The reference
(4,000 lists) calibrates the scores; each row is one set of 1,500 unlabelled lists: the estimate
(:func:`rcaflows.model.estimate.estimate_hit_rate`), its standard error, the realised hit rate@3,
the estimate without the division by the expected number of lists holding a relevant item, and
the same for NDCG@3 (:func:`rcaflows.model.estimate.estimate_ndcg`) with its CPU seconds.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from common import print_rows  # bench/ is on sys.path (the runner's, or the script's own folder)
from rcaflows.model.estimate import estimate_hit_rate, estimate_ndcg
from rcaflows.model.metrics import ranking_units

K = 3
PER = 10


def lists(n: int, seed: int, intent_sd: float = 0.0, shift: float = 0.0) -> pd.DataFrame:
    """Return ``n`` seeded ranked lists (see the module doc)."""
    rng = np.random.default_rng(seed)
    level = np.repeat(rng.normal(0, 0.8, n), PER)
    intent = np.repeat(rng.normal(0, intent_sd, n), PER) if intent_sd else 0.0
    score = level + rng.normal(0, 1.2, n * PER) + shift
    relevant = rng.random(len(score)) < 1 / (1 + np.exp(-(score - 2 + intent)))
    grade = np.where(relevant, 1 + (rng.random(len(score)) < 0.4), 0).astype(float)
    return pd.DataFrame({"query": np.repeat(np.arange(n), PER), "score": score, "label": grade})


def run(quick: bool) -> list[dict[str, Any]]:
    """Return one row per (seed, hidden intent SD, score shift)."""
    n_ref, n_cur = (600, 300) if quick else (4_000, 1_500)
    cases = (
        [(s, 0.0, 0.0) for s in (1, 2, 3)]
        + [(1, 0.0, -1.0)]
        + [(1, sd, sh) for sd in (0.5, 1.0, 2.0) for sh in (0.0, -1.0)]
    )
    rows = []
    for seed, sd, shift in cases[:2] if quick else cases:
        ref = lists(n_ref, 100 + seed, sd)
        cur = lists(n_cur, 200 + seed, sd, shift)
        est = estimate_hit_rate(ref, cur.drop(columns=["label"]), K)
        t0 = time.process_time()
        nd = estimate_ndcg(ref, cur.drop(columns=["label"]), K)
        ndcg_cpu = time.process_time() - t0
        realised_ndcg, realised_hit = ranking_units(cur, K)
        rows.append(
            {
                "seed": seed,
                "intent_sd": sd,
                "shift": shift,
                "estimate": round(est.hit_rate, 4),
                "se": round(est.se, 4),
                "realised": round(float(realised_hit.mean()), 4),
                "unconditioned": round(est.hit_rate * est.expected_counted / est.queries, 4),
                "ndcg_estimate": round(nd.ndcg, 4),
                "ndcg_se": round(nd.se, 4),
                "ndcg_realised": round(float(realised_ndcg.mean()), 4),
                "ndcg_cpu_s": round(ndcg_cpu, 3),
            }
        )
    return rows


if __name__ == "__main__":
    print_rows(run, __doc__.splitlines()[0])
