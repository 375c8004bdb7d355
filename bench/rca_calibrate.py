"""Fit the confidence calibration of ``rank_root_causes`` once, on a fixed seeded suite.

Usage::

    python bench/rca_calibrate.py [--cases 280] [--write]

Ranks every case of ``make_suite(N, seed=0)`` (seeds disjoint from bench/rca_eval.py's
evaluation suite) with and without its topology, records the raw (softmax) confidence of the top
cause and whether it was right, fits an isotonic map raw -> observed accuracy (pool adjacent
violators) and prints it as the ``rank_calibration`` block of ``src/rcaflows/rca/rules.yaml``;
``--write`` replaces that block in place.  The reliability table before and after is printed too.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

import numpy as np

from rcaflows.rca import ranking
from rcaflows.rca.evaluation import isotonic, make_suite, reliability

RULES = Path(ranking.__file__).with_name("rules.yaml")
FIT_SEED = 0


def raw_outcomes(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the raw top-cause confidence and correctness over the fitting suite (both topology modes)."""
    identity = (np.array([0.0, 1.0]), np.array([0.0, 1.0]))
    saved = ranking.rank_calibration
    ranking.rank_calibration = lambda: identity  # type: ignore[assignment]
    conf: list[float] = []
    ok: list[bool] = []
    try:
        for case in make_suite(n, seed=FIT_SEED):
            for topo in (case.topology, None):
                r = ranking.rank_root_causes(case.metrics, case.incident_time, case.baseline, topo)
                conf.append(r[0].confidence if r else 0.0)
                ok.append(bool(r) and r[0].component == case.root)
    finally:
        ranking.rank_calibration = saved  # type: ignore[assignment]
    return np.asarray(conf), np.asarray(ok)


def fit(conf: np.ndarray, ok: np.ndarray, knots: int = 12) -> dict[str, list[float]]:
    """Return the isotonic calibration map thinned to at most ``knots`` points, anchored at 0 and 1."""
    kx, ky = isotonic(conf, ok.astype(float))
    if len(kx) > knots:
        pick = np.unique(np.linspace(0, len(kx) - 1, knots).round().astype(int))
        kx, ky = kx[pick], ky[pick]
    xs = np.concatenate([[0.0], kx, [1.0]])
    ys = np.concatenate([[min(ky[0], 0.05)], ky, [ky[-1]]])
    xs, idx = np.unique(xs, return_index=True)
    return {"raw": [round(float(x), 4) for x in xs], "calibrated": [round(float(y), 4) for y in ys[idx]]}


def block(cal: dict[str, Any], n: int) -> str:
    """Return the YAML block stored in rules.yaml."""
    return (
        "# Calibration of rank_root_causes' top confidence: raw softmax -> observed accuracy, an isotonic\n"
        f"# fit on the seeded suite make_suite({n}, seed={FIT_SEED}) with and without topology\n"
        "# (written by `python bench/rca_calibrate.py --write`; not tuned per dataset).\n"
        "rank_calibration:\n"
        f"  raw: {cal['raw']}\n"
        f"  calibrated: {cal['calibrated']}\n"
    )


def main() -> None:
    """Fit, print and optionally write the calibration."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", type=int, default=280)
    ap.add_argument("--write", action="store_true", help="replace the rank_calibration block in rules.yaml")
    args = ap.parse_args()
    conf, ok = raw_outcomes(args.cases)
    cal = fit(conf, ok)
    before, ece0 = reliability(conf, ok)
    after, ece1 = reliability(np.interp(conf, cal["raw"], cal["calibrated"]), ok)
    print(f"fitting suite: {len(conf)} rankings, top-1 accuracy {ok.mean():.2f}")
    print("raw confidence:\n" + before.round(3).to_string(index=False) + f"\nECE {ece0:.3f}")
    print("calibrated (in-sample):\n" + after.round(3).to_string(index=False) + f"\nECE {ece1:.3f}")
    text = block(cal, args.cases)
    print(text)
    if args.write:
        rules = RULES.read_text(encoding="utf-8")
        pattern = re.compile(r"# Calibration of rank_root_causes.*?rank_calibration:\n(?:  .*\n)+", re.S)
        rules = pattern.sub(text, rules) if pattern.search(rules) else rules.rstrip("\n") + "\n\n" + text
        RULES.write_text(rules, encoding="utf-8")
        print(f"wrote {RULES}")


if __name__ == "__main__":
    main()
