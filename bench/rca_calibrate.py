"""Fit the confidence calibration of ``rank_root_causes`` once, on the 78 real development incidents.

Usage::

    python bench/rca_calibrate.py [--data ../shared/data/rca] [--write] [--plot bench/results/rca_calibration.png]

Ranks every incident of ``<data>/cases.csv`` (petshop, nezha OnlineBoutique and TrainTicket: one
mapping for all systems, no per-system branch) with the calibration switched off, records the raw
(softmax) confidence of the top cause and whether it was the labelled root cause, and fits an
isotonic map raw -> observed accuracy (pool adjacent violators). It prints the reliability table
and the expected calibration error (ECE, 5 equal-width bins) of the raw confidence, of the fitted
map in-sample, and of the map under 5-fold cross-validation (each fold scored by a map fitted on
the other four: the honest estimate for unseen incidents; its mean over 20 random splits too).
``--write`` replaces the
``rank_calibration`` block of ``src/rcaflows/rca/rules.yaml``; ``--plot`` draws the reliability
diagram; the figures also go to ``bench/results/rca_calibration.json``.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd

from rcaflows.rca import ranking
from rcaflows.rca.evaluation import isotonic, reliability

RULES = Path(ranking.__file__).with_name("rules.yaml")
BENCH = Path(__file__).resolve().parent
DATA = BENCH.parent.parent / "shared" / "data" / "rca"
BINS = 5
FOLDS = 5
#: equal-count groups the isotonic map is fitted on
GROUPS = 4


def load_cases(root: Path) -> list[dict[str, Any]]:
    """Return every development incident: metrics, optional baseline and topology, time and truth."""
    cases = pd.read_csv(root / "cases.csv", dtype=str, keep_default_na=False)
    out: list[dict[str, Any]] = []
    baselines: dict[str, pd.DataFrame] = {}
    for _, c in cases.iterrows():
        topo = None
        if c.topology_file:
            t = json.loads((root / c.topology_file).read_text())
            topo = nx.DiGraph()
            topo.add_nodes_from(t["nodes"])
            topo.add_edges_from(map(tuple, t["edges"]))
        base = None
        if c.baseline_file:
            base = baselines.setdefault(c.baseline_file, pd.read_parquet(root / c.baseline_file))
        out.append(
            {
                "case_id": c.case_id,
                "metrics": pd.read_parquet(root / c.metrics_file),
                "baseline": base,
                "topology": topo,
                "incident_time": pd.Timestamp(c.incident_time),
                "root": c.root_cause,
            }
        )
    return out


def raw_outcomes(cases: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """Return the raw top-cause confidence and its correctness on every case (calibration off)."""
    identity = (np.array([0.0, 1.0]), np.array([0.0, 1.0]))
    saved = ranking.rank_calibration
    ranking.rank_calibration = lambda: identity  # type: ignore[assignment]
    conf: list[float] = []
    ok: list[bool] = []
    try:
        for c in cases:
            r = ranking.rank_root_causes(c["metrics"], c["incident_time"], c["baseline"], c["topology"])
            conf.append(r[0].confidence if r else 0.0)
            ok.append(bool(r) and r[0].component == c["root"])
    finally:
        ranking.rank_calibration = saved  # type: ignore[assignment]
    return np.asarray(conf), np.asarray(ok)


def fit(conf: np.ndarray, ok: np.ndarray, groups: int | None = None) -> dict[str, list[float]]:
    """Return the isotonic calibration map fitted on ``groups`` equal-count groups of the raw confidence.

    With tens of incidents, pool-adjacent-violators on single cases follows their noise (a block of
    one correct case maps to 100 %); fitting it on the mean confidence and accuracy of equal-count
    groups keeps every knot backed by several incidents. The map is flat before the first knot and
    after the last one (no extrapolation beyond what was observed).
    """
    order = np.argsort(conf, kind="stable")
    parts = [p for p in np.array_split(order, min(groups or GROUPS, len(order))) if len(p)]
    gx = np.array([conf[p].mean() for p in parts])
    gy = np.array([ok[p].mean() for p in parts])
    w = np.array([len(p) for p in parts], dtype=float)
    kx, ky = isotonic(np.repeat(gx, w.astype(int)), np.repeat(gy, w.astype(int)))
    xs = np.concatenate([[0.0], kx, [1.0]])
    ys = np.concatenate([[ky[0]], ky, [ky[-1]]])
    xs, idx = np.unique(xs, return_index=True)
    return {"raw": [round(float(x), 4) for x in xs], "calibrated": [round(float(y), 4) for y in ys[idx]]}


def apply(cal: dict[str, list[float]], conf: np.ndarray) -> np.ndarray:
    """Return the calibrated confidence as ``rank_root_causes`` computes it (capped at MAX_CONFIDENCE)."""
    return np.clip(np.interp(conf, cal["raw"], cal["calibrated"]), 0.0, ranking.MAX_CONFIDENCE)


def cross_validated(conf: np.ndarray, ok: np.ndarray, folds: int = FOLDS, seed: int = 0) -> np.ndarray:
    """Return out-of-fold calibrated confidences (each fold mapped by a fit on the others)."""
    idx = np.random.default_rng(seed).permutation(len(conf))
    out = np.empty(len(conf))
    for k in range(folds):
        test = idx[k::folds]
        train = np.setdiff1d(idx, test)
        out[test] = apply(fit(conf[train], ok[train]), conf[test])
    return out


def block(cal: dict[str, Any], n: int) -> str:
    """Return the YAML block stored in rules.yaml."""
    return (
        "# Calibration of rank_root_causes' top confidence: raw softmax -> observed top-1 accuracy, an\n"
        f"# isotonic fit on the {n} real development incidents (petshop, nezha OB and TT; one map for all\n"
        "# systems), written by `python bench/rca_calibrate.py --write`.\n"
        "rank_calibration:\n"
        f"  raw: {cal['raw']}\n"
        f"  calibrated: {cal['calibrated']}\n"
    )


def plot(path: Path, curves: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    """Draw the reliability diagram (accuracy per confidence bin against the diagonal)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect calibration")
    for label, (conf, ok) in curves.items():
        table, ece = reliability(conf, ok, bins=BINS)
        t = table[table["n"] > 0]
        ax.plot(t["mean_confidence"], t["accuracy"], marker="o", label=f"{label} (ECE {ece:.3f})")
        for _, row in t.iterrows():
            ax.annotate(
                str(int(row["n"])),
                (row["mean_confidence"], row["accuracy"]),
                fontsize=7,
                textcoords="offset points",
                xytext=(4, -8),
            )
    ax.set_xlabel("top-cause confidence (bin mean)")
    ax.set_ylabel("share of incidents whose top cause is the root cause")
    ax.set_title(f"rank_root_causes on the {len(next(iter(curves.values()))[0])} development incidents")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    """Fit, report and optionally write the calibration and the reliability plot."""
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--write", action="store_true", help="replace the rank_calibration block in rules.yaml")
    ap.add_argument("--plot", type=Path, default=BENCH / "results" / "rca_calibration.png")
    args = ap.parse_args()
    cases = load_cases(args.data)
    conf, ok = raw_outcomes(cases)
    cal = fit(conf, ok)
    fitted = apply(cal, conf)
    oof = cross_validated(conf, ok)
    report: dict[str, Any] = {"cases": len(conf), "top1_accuracy": round(float(ok.mean()), 4), "bins": BINS}
    for label, c in (("raw", conf), ("calibrated_in_sample", fitted), ("calibrated_5fold_cv", oof)):
        table, ece = reliability(c, ok, bins=BINS)
        report[f"ece_{label}"] = round(ece, 4)
        print(f"{label}:\n" + table.round(3).to_string(index=False) + f"\nECE {ece:.3f}\n")
    # the split into folds moves a 78-case ECE by several points: report its spread over 20 splits
    spread = [reliability(cross_validated(conf, ok, seed=k), ok, bins=BINS)[1] for k in range(20)]
    report["ece_calibrated_5fold_cv_20_splits"] = {
        "mean": round(float(np.mean(spread)), 4),
        "min": round(float(np.min(spread)), 4),
        "max": round(float(np.max(spread)), 4),
    }
    print(
        f"5-fold CV ECE over 20 splits: mean {np.mean(spread):.3f} (min {np.min(spread):.3f}, max {np.max(spread):.3f})"
    )
    print(f"{len(conf)} incidents, top-1 accuracy {ok.mean():.3f}")
    report["rank_calibration"] = cal
    text = block(cal, len(conf))
    print(text)
    (BENCH / "results").mkdir(exist_ok=True)
    (BENCH / "results" / "rca_calibration.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if args.plot:
        plot(args.plot, {"raw softmax": (conf, ok), "calibrated, 5-fold CV": (oof, ok)})
        print(f"wrote {args.plot}")
    if args.write:
        rules = RULES.read_text(encoding="utf-8")
        pattern = re.compile(r"# Calibration of rank_root_causes.*?rank_calibration:\n(?:  .*\n)+", re.S)
        rules = pattern.sub(lambda _: text, rules) if pattern.search(rules) else rules.rstrip("\n") + "\n\n" + text
        RULES.write_text(rules, encoding="utf-8")
        print(f"wrote {RULES}")


if __name__ == "__main__":
    main()
