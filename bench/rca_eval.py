"""RCA accuracy per fault type: rcaflows vs RCAEval's BARO and NSigma vs a random ranking.

Usage::

    python bench/rca_eval.py [--quick] [--cases N] [--seed S]

Generates a seeded suite (rcaflows.rca.evaluation.make_suite: random microservice DAGs of 10-50
services, seven fault types, distractors, gaps, 1 s - 5 min sampling), ranks every case with
``rank_root_causes`` (with and without the topology), a seeded random ranking, and RCAEval's own
``baro`` and ``nsigma`` with their defaults.  RCAEval pins numpy<2, so it runs in its own venv
(``$RCAEVAL_PYTHON``, default /tmp/rcaeval-venv/bin/python; create it with
``bash bench/setup_rcaeval.sh``) through bench/_rcaeval_worker.py, exchanging wide CSV files in
RCAEval's own layout.  Prints AC@1 / AC@3 / Avg@5 per fault type, then the calibration of the top
cause's confidence (reliability table and expected calibration error).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rcaflows.rca import rank_root_causes
from rcaflows.rca.evaluation import FAULTS, Case, accuracy, make_suite, rank_of, reliability, to_wide

BENCH = Path(__file__).resolve().parent
RCAEVAL_PYTHON = os.environ.get("RCAEVAL_PYTHON", "/tmp/rcaeval-venv/bin/python")
#: the evaluation suite's seed: disjoint from the calibration-fitting seeds (see rca_calibrate.py)
EVAL_SEED = 100_000


def components_of(columns: list[str]) -> list[str]:
    """Return the component order of a ranking of ``<component>_<metric>`` columns (first mention wins)."""
    seen: dict[str, None] = {}
    for c in columns:
        seen.setdefault(str(c).split("_", 1)[0], None)
    return list(seen)


def ours(case: Case, topology: bool = True) -> tuple[list[str], float]:
    """Return our component ranking and the top cause's confidence."""
    ranked = rank_root_causes(
        case.metrics, case.incident_time, baseline=case.baseline, topology=case.topology if topology else None
    )
    return [r.component for r in ranked], (ranked[0].confidence if ranked else 0.0)


def rcaeval(cases: list[Case]) -> dict[str, dict[str, list[str]]] | None:
    """Return RCAEval's baro / nsigma column rankings per case (None when the venv is missing)."""
    if not Path(RCAEVAL_PYTHON).exists():
        print(f"[rca_eval] {RCAEVAL_PYTHON} missing: run bash bench/setup_rcaeval.sh", file=sys.stderr)
        return None
    with tempfile.TemporaryDirectory() as tmp:
        manifest = []
        for c in cases:
            # BARO/NSigma learn "normal" from rows before inject_time: a case's separate baseline
            # period goes first, as in RCAEval's own data.
            frame = c.metrics if c.baseline is None else pd.concat([c.baseline, c.metrics], ignore_index=True)
            wide = to_wide(frame).ffill().bfill()
            path = Path(tmp) / f"{c.name}.csv"
            wide.to_csv(path, index=False)
            inject = int(c.incident_time.timestamp())
            manifest.append({"name": c.name, "file": str(path), "inject_time": inject})
        (Path(tmp) / "manifest.json").write_text(json.dumps(manifest))
        out = Path(tmp) / "out.json"
        subprocess.run(
            [RCAEVAL_PYTHON, str(BENCH / "_rcaeval_worker.py"), str(Path(tmp) / "manifest.json"), str(out)],
            check=True,
        )
        return json.loads(out.read_text())


def evaluate(cases: list[Case], seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, float]]:
    """Return per-case ranks of the truth per method, our top-1 confidences, and timings."""
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    conf_rows: list[dict[str, Any]] = []
    t_ours = 0.0
    for c in cases:
        t0 = time.perf_counter()
        rk, conf = ours(c)
        t_ours += time.perf_counter() - t0
        rk_nt, _ = ours(c, topology=False)
        perm = list(rng.permutation(c.components))
        rows.append(
            {
                "case": c.name,
                "fault": c.fault,
                "ours": rank_of(rk, c.root),
                "ours (no topology)": rank_of(rk_nt, c.root),
                "random": rank_of(perm, c.root),
            }
        )
        conf_rows.append(
            {"case": c.name, "fault": c.fault, "confidence": conf, "correct": bool(rk and rk[0] == c.root)}
        )
    t0 = time.perf_counter()
    base = rcaeval(cases)
    t_base = time.perf_counter() - t0
    if base is not None:
        for r in rows:
            r["BARO"] = rank_of(components_of(base[r["case"]]["baro"]), _root(cases, r["case"]))
            r["NSigma"] = rank_of(components_of(base[r["case"]]["nsigma"]), _root(cases, r["case"]))
    return pd.DataFrame(rows), pd.DataFrame(conf_rows), {"ours_s": t_ours, "rcaeval_s": t_base}


def _root(cases: list[Case], name: str) -> str:
    return next(c.root for c in cases if c.name == name)


def table(ranks: pd.DataFrame) -> pd.DataFrame:
    """Return AC@1 / AC@3 / Avg@5 per fault type (and overall) for every method column."""
    methods = [m for m in ("ours", "ours (no topology)", "BARO", "NSigma", "random") if m in ranks]
    out = []
    for fault in [*FAULTS, "all"]:
        sub = ranks if fault == "all" else ranks[ranks["fault"] == fault]
        for m in methods:
            out.append(
                {
                    "fault": fault,
                    "method": m,
                    "n": len(sub),
                    **accuracy([None if pd.isna(x) else int(x) for x in sub[m]]),
                }
            )
    return pd.DataFrame(out)


def run(quick: bool) -> list[dict[str, Any]]:
    """Bench-runner entry point: one row per (fault type, method)."""
    cases = make_suite(14, seed=EVAL_SEED, small=True) if quick else make_suite(350, seed=EVAL_SEED)
    ranks, _, _ = evaluate(cases)
    return table(ranks).to_dict("records")


def main() -> None:
    """Print the accuracy table and the calibration report."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="70 cases instead of 350")
    ap.add_argument("--cases", type=int, default=None)
    ap.add_argument("--seed", type=int, default=EVAL_SEED)
    args = ap.parse_args()
    n = args.cases or (70 if args.quick else 350)
    t0 = time.perf_counter()
    cases = make_suite(n, seed=args.seed)
    t_gen = time.perf_counter() - t0
    ranks, conf, timing = evaluate(cases)
    tab = table(ranks)
    wide = tab.pivot_table(index=["fault", "n"], columns="method", values=["AC@1", "AC@3", "Avg@5"], sort=False)
    pd.set_option("display.width", 200)
    pd.set_option("display.max_columns", 30)
    print(
        f"{n} cases (seed {args.seed}); generation {t_gen:.1f} s, ours {1000 * timing['ours_s'] / n:.1f} ms/case, "
        f"RCAEval subprocess {timing['rcaeval_s']:.1f} s"
    )
    for metric in ("AC@1", "AC@3", "Avg@5"):
        print(f"\n{metric} per fault type")
        print(wide[metric].round(2).to_string())
    rel, ece = reliability(conf["confidence"], conf["correct"])
    print("\nCalibration of the top cause's confidence (ours):")
    print(rel.round(3).to_string(index=False))
    print(f"expected calibration error: {ece:.3f}")


if __name__ == "__main__":
    main()
