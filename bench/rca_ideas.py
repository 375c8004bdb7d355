"""Try metrics-only ranking ideas on the 78 real development incidents, one per-system table per idea.

Usage::

    python bench/rca_ideas.py [--data ../shared/data/rca] [--only onset,horizon] [--json FILE]

Each idea is a variant of ``rank_root_causes`` built from the shipped core (``to_matrix``,
``incident_split``, ``score_with_lookback``, ``rank_components``) with one step changed, swept over
its parameter so a plateau can be told from a peak; the first row (``base``) is the shipped
ranking and must equal ``python ../shared/eval/devscore.py rca``. Every idea is system-independent:
no branch on dataset, component or metric names (a "metric kind" is the ``metric`` column's value,
grouped from the data). The ideas, after the methods that work on metrics only (see
``../shared/METHODS.md``):

* ``onset``: BARO-style onset detection. The split moves to the row, within ``back`` minutes before
  and ``fwd`` after the given time, where the summed standardized mean shift over all series (each
  capped at ``cap``) is largest; the series are then scored from there.
* ``horizon``: only the first ``h`` minutes after the split count (a short fault's trace, not the
  noise of the rest of the window).
* ``redundancy``: series of one component that move together in the reference (``|r| >= rho``:
  CPU and CPU %, latency p90/p95/p99) share one unit of evidence instead of one each.
* ``agreement``: per-pod agreement; a series counts fully only when its peak lies within ``k``
  steps of the component's strongest series' peak (else ``d`` of its evidence).
* ``constant``: series constant in the reference (any blip is a huge z) keep ``w`` of their evidence.
* ``pop_floor``: a scale floor from the metric kind's population (``a`` times the median standard
  deviation of that kind over all components) so a near-constant series cannot turn a blip into a
  huge z; the z is rescaled, onsets are kept.
* ``kind_norm``: a component's z is divided by the typical z of the same metric kind over all
  components (quantile ``q``) when that exceeds 1: a deviation every pod shows is not local.
* ``late_steps``: how much moving after the first mover costs (``LATE_STEPS``; ``inf`` switches
  the onset order off).
* ``recency``: a row's z counts ``1 / (1 + t / tau)``, ``t`` minutes after the given time (a
  deviation near the incident time says more about this incident than one at the window's end).
* ``robust``: BARO's RobustScorer (largest deviation from the reference median over its IQR) instead
  of the mean/std z, or the geometric mean of the two (onsets as shipped).
* ``persistence``: the score of a series is the geometric mean of its largest and its ``k``-th
  largest z after the split (a deviation held over several samples, not one spike).
* ``winsor``: the rows before the split are winsorized at quantiles ``p`` and ``1 - p`` before the
  reference's mean and standard deviation are taken (robust to earlier incidents inside the
  reference period; a separate baseline is left as is).
* ``disturbed_rows``: the ``share`` of the rows before the split where the most series deviate at
  once (an earlier incident) leave the reference, whole rows at a time.

Measured 2026-12-07 (see ``docs/rca.md``, "Ideas that did not help on TrainTicket"): none lifts
nezha TrainTicket to Avg@5 .20 without lowering petshop, OnlineBoutique or the all-78 figures.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rca_calibrate import DATA, load_cases
from rcaflows.rca import ranking
from rcaflows.rca.ranking import Matrix, Scores

GROUPS = ("petshop", "nezha/OB", "nezha/TT")
INF = float("inf")

#: hook that may move the split or change the matrix: (matrix, split) -> (matrix, split)
SplitHook = Callable[[Matrix, int], tuple[Matrix, int]]
#: hook that may change the scores: (matrix, split, scores, reference rows) -> scores
ScoresHook = Callable[[Matrix, int, Scores, np.ndarray], Scores]
#: hook that returns per-series evidence weights: (matrix, split, scores) -> weights
WeightHook = Callable[[Matrix, int, Scores], np.ndarray]


def groups_of(root: Path) -> dict[str, str]:
    """Return the reporting group of every case id (``dataset``, or ``nezha/<system>``) from cases.csv."""
    cases = pd.read_csv(root / "cases.csv", dtype=str, keep_default_na=False)
    return {
        c.case_id: c.dataset if c.dataset != "nezha" else f"nezha/{c.system}" for c in cases.itertuples(index=False)
    }


@contextmanager
def patched(**attrs: Any) -> Iterator[None]:
    """Set module constants of :mod:`rcaflows.rca.ranking` for the block, then restore them."""
    old = {k: getattr(ranking, k) for k in attrs}
    for k, v in attrs.items():
        setattr(ranking, k, v)
    try:
        yield
    finally:
        for k, v in old.items():
            setattr(ranking, k, v)


def rank(
    case: dict[str, Any],
    *,
    split_hook: SplitHook | None = None,
    scores_hook: ScoresHook | None = None,
    weight_hook: WeightHook | None = None,
    horizon_min: float | None = None,
) -> list[str]:
    """Return the ranked components of one case: ``rank_root_causes`` with the given step changed."""
    mat = ranking.to_matrix(case["metrics"])
    base_vals = None
    if case["baseline"] is not None:
        bmat = ranking.to_matrix(case["baseline"], step=mat.step)
        base_vals = ranking.align(bmat, mat.keys)
    split, _ = ranking.incident_split(mat, case["incident_time"], base_vals is not None, "bench")
    if split_hook is not None:
        mat, split = split_hook(mat, split)
    if horizon_min is not None:
        end = split + max(1, int(np.ceil(pd.Timedelta(minutes=horizon_min) / mat.step)))
        mat = Matrix(mat.times[:end], mat.values[:end], mat.components, mat.metrics)
    sc = ranking.score_with_lookback(mat, split, base_vals)
    if scores_hook is not None:
        sc = scores_hook(mat, split, sc, base_vals if base_vals is not None else mat.values[:split])
    if weight_hook is None:
        rows = ranking.rank_components(sc, mat.step, case["topology"])
    else:
        weights = weight_hook(mat, split, sc)
        original = ranking._component_arrays

        def weighted(s: Scores) -> dict[str, Any]:
            arr = original(s)
            z = np.nan_to_num(s.z, nan=0.0)
            codes, _ = pd.factorize(np.array([k[0] for k in s.keys], dtype=object))
            arr["evidence"] = np.bincount(
                codes, weights=weights * z / (z + ranking.Z_EVIDENCE), minlength=len(arr["z"])
            )
            return arr

        ranking._component_arrays = weighted
        try:
            rows = ranking.rank_components(sc, mat.step, case["topology"])
        finally:
            ranking._component_arrays = original
    return [r["component"] for r in rows]


def score(cases: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
    """Return Avg@5 and AC@1 per group and overall, and the mean milliseconds per case."""
    ranks: dict[str, list[int | None]] = {g: [] for g in GROUPS}
    t0 = time.perf_counter()
    for c in cases:
        comps = rank(c, **kw)
        ranks[c["group"]].append(comps.index(c["root"]) + 1 if c["root"] in comps else None)
    ms = 1000 * (time.perf_counter() - t0) / len(cases)
    out: dict[str, Any] = {}
    every: list[int | None] = []
    for g in GROUPS:
        every += ranks[g]
        out[g] = _summary(ranks[g])
    out["all"] = _summary(every)
    out["ms"] = round(ms, 1)
    return out


def _summary(ranks: list[int | None]) -> tuple[float, float]:
    """Return (Avg@5, AC@1) of 1-based ranks (None: not ranked)."""
    hits = [[r is not None and r <= k for r in ranks] for k in range(1, 6)]
    return round(float(np.mean([np.mean(h) for h in hits])), 3), round(float(np.mean(hits[0])), 3)


# ---------------------------------------------------------------------------- the ideas


def onset_hook(back_min: float, fwd_min: float, cap: float, width: int = 3, before: int = 10) -> SplitHook:
    """Return a split hook that moves the split to the strongest multivariate mean shift near it."""

    def hook(mat: Matrix, split: int) -> tuple[Matrix, int]:
        x = ranking.ffill(mat.values)
        lo = max(3, split - int(pd.Timedelta(minutes=back_min) / mat.step))
        hi = min(len(x) - 1, split + int(pd.Timedelta(minutes=fwd_min) / mat.step))
        if hi <= lo:
            return mat, split
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            sd = np.nanstd(x[:split], axis=0)
            sd = np.where(np.isfinite(sd) & (sd > 1e-9), sd, np.nan)
            shift = [
                float(
                    np.nansum(
                        np.minimum(
                            np.abs(np.nanmean(x[r : r + width], axis=0) - np.nanmean(x[max(0, r - before) : r], axis=0))
                            / sd,
                            cap,
                        )
                    )
                )
                for r in range(lo, hi + 1)
            ]
        return mat, lo + int(np.argmax(shift))

    return hook


def _by_component(keys: list[tuple[str, str]]) -> tuple[np.ndarray, int]:
    codes, uniq = pd.factorize(np.array([k[0] for k in keys], dtype=object))
    return codes, len(uniq)


def redundancy_hook(rho: float) -> WeightHook:
    """Return weights 1 / (number of the component's series correlated with it at |r| >= rho in the reference)."""

    def hook(mat: Matrix, split: int, sc: Scores) -> np.ndarray:
        x = ranking.ffill(mat.values)[: max(split, 2)]
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            mu, sd = np.nanmean(x, axis=0), np.nanstd(x, axis=0)
        ok = np.isfinite(x) & (sd > 1e-12)
        zx = np.where(ok, (x - mu) / np.where(sd > 1e-12, sd, 1.0), 0.0)
        codes, n = _by_component(mat.keys)
        w = np.ones(len(mat.keys))
        for g in range(n):
            idx = np.flatnonzero(codes == g)
            c = zx[:, idx].T @ zx[:, idx] / len(zx)
            np.fill_diagonal(c, 1.0)
            w[idx] = 1.0 / (np.abs(c) >= rho).sum(axis=1)
        return w

    return hook


def agreement_hook(k: int, d: float) -> WeightHook:
    """Return weights 1 for series peaking within ``k`` steps of their component's strongest series, else ``d``."""

    def hook(mat: Matrix, split: int, sc: Scores) -> np.ndarray:
        if not len(sc.zs):
            return np.ones(len(sc.keys))
        peak = np.where(np.isfinite(sc.zs), np.abs(sc.zs), -1.0).argmax(axis=0)
        codes, n = _by_component(sc.keys)
        z = np.nan_to_num(sc.z, nan=0.0)
        best = np.full(n, -1.0)
        np.maximum.at(best, codes, z)
        lead = np.zeros(n, dtype=np.int64)
        is_best = z >= best[codes]
        lead[codes[is_best][::-1]] = peak[is_best][::-1]
        return np.where(np.abs(peak - lead[codes]) <= k, 1.0, d)

    return hook


def constant_hook(w: float) -> WeightHook:
    """Return weights ``w`` for series that were constant in the reference (scale at the 1e-9 floor)."""
    return lambda mat, split, sc: np.where(sc.base_scale <= 1.0001e-9, w, 1.0)


def pop_floor_hook(a: float) -> ScoresHook:
    """Return a scores hook flooring each scale at ``a`` x the median scale of its metric kind."""

    def hook(mat: Matrix, split: int, sc: Scores, ref: np.ndarray) -> Scores:
        kinds, _ = pd.factorize(np.array([k[1] for k in sc.keys], dtype=object))
        scale = sc.base_scale
        good = np.isfinite(scale) & (scale > 1.0001e-9)
        pop = np.array(
            [
                np.median(scale[(kinds == g) & good]) if ((kinds == g) & good).sum() >= 3 else 0.0
                for g in range(kinds.max() + 1)
            ]
        )
        new = np.maximum(scale, a * pop[kinds])
        z = sc.z * scale / np.where(new > 0, new, 1.0)
        return replace(sc, z=z, score=ranking.z_to_score(z))

    return hook


def kind_norm_hook(q: float) -> ScoresHook:
    """Return a scores hook dividing each z by its metric kind's ``q``-quantile z when that exceeds 1."""

    def hook(mat: Matrix, split: int, sc: Scores, ref: np.ndarray) -> Scores:
        kinds, _ = pd.factorize(np.array([k[1] for k in sc.keys], dtype=object))
        z = np.nan_to_num(sc.z, nan=0.0)
        ref = np.array(
            [np.quantile(z[kinds == g], q) if (kinds == g).sum() >= 5 else 0.0 for g in range(kinds.max() + 1)]
        )
        z = z / np.maximum(1.0, ref[kinds])
        return replace(sc, z=z, score=ranking.z_to_score(z))

    return hook


def persistence_hook(k: int) -> ScoresHook:
    """Return a scores hook replacing each z by the geometric mean of its largest and k-th largest z."""

    def hook(mat: Matrix, split: int, sc: Scores, ref: np.ndarray) -> Scores:
        if len(sc.zs) < k:
            return sc
        az = np.sort(np.where(np.isfinite(sc.zs), np.abs(sc.zs), 0.0), axis=0)[::-1]
        top = np.where(az[0] > 0, az[0], 1.0)
        z = sc.z * np.sqrt(az[k - 1] / top)  # keeps the practical-significance factor of sc.z
        return replace(sc, z=z, score=ranking.z_to_score(z))

    return hook


def recency_hook(tau_min: float) -> ScoresHook:
    """Return a scores hook weighting each row's z by ``1 / (1 + t / tau)``, t minutes after the split."""

    def hook(mat: Matrix, split: int, sc: Scores, ref: np.ndarray) -> Scores:
        if not len(sc.zs):
            return sc
        t = np.maximum((sc.times - mat.times[split]) / pd.Timedelta(minutes=1), 0.0)
        az = np.where(np.isfinite(sc.zs), np.abs(sc.zs), 0.0)
        top = az.max(axis=0)
        decayed = (az / (1.0 + np.asarray(t)[:, None] / tau_min)).max(axis=0)
        z = sc.z * decayed / np.where(top > 0, top, 1.0)  # keeps the practical-significance factor of sc.z
        return replace(sc, z=z, score=ranking.z_to_score(z))

    return hook


def robust_hook(blend: bool) -> ScoresHook:
    """Return a scores hook using BARO's RobustScorer z (median and IQR of the reference), or its
    geometric mean with the shipped mean/std z when ``blend``."""

    def hook(mat: Matrix, split: int, sc: Scores, ref: np.ndarray) -> Scores:
        x = ranking.ffill(mat.values)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            q1, med, q3 = np.nanquantile(ranking.ffill(ref), [0.25, 0.5, 0.75], axis=0)
            dev = np.nanmax(np.abs(x[split:] - med), axis=0)
        iqr = np.maximum(q3 - q1, 1e-9)
        zr = np.nan_to_num(dev / iqr, nan=0.0)
        z = np.sqrt(zr * np.nan_to_num(sc.z, nan=0.0)) if blend else zr
        return replace(sc, z=z, score=ranking.z_to_score(z))

    return hook


def winsor_hook(p: float) -> SplitHook:
    """Return a split hook that winsorizes the reference rows (in place on a copy) at ``p`` and ``1 - p``."""

    def hook(mat: Matrix, split: int) -> tuple[Matrix, int]:
        ref = mat.values[:split]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            lo, hi = np.nanquantile(ref, p, axis=0), np.nanquantile(ref, 1 - p, axis=0)
        mat.values[:split] = np.clip(ref, lo, hi)  # the matrix is this case's own copy
        return mat, split

    return hook


def disturbed_rows_hook(share: float) -> SplitHook:
    """Return a split hook dropping the ``share`` of reference rows where the most series deviate at once.

    Earlier incidents inside the reference period disturb many series in the same rows; dropping
    whole rows (not each series' own tail, as winsorizing does) keeps every series' normal noise.
    The first two rows stay (they fix the grid step).
    """

    def hook(mat: Matrix, split: int) -> tuple[Matrix, int]:
        if split <= 10:
            return mat, split
        ref = ranking.ffill(mat.values)[:split]
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            sd = np.nanstd(ref, axis=0)
            z = np.abs(ref - np.nanmean(ref, axis=0)) / np.where(sd > 1e-9, sd, np.nan)
            disturbance = np.nanmean(np.minimum(z, 10.0), axis=1)
        keep = np.ones(len(mat.times), dtype=bool)
        keep[:split] = np.nan_to_num(disturbance, nan=0.0) <= np.nanquantile(disturbance, 1 - share)
        keep[:2] = True
        new = Matrix(mat.times[keep], mat.values[keep], mat.components, mat.metrics)
        return new, int(keep[:split].sum())

    return hook


def ideas() -> dict[str, list[tuple[str, dict[str, Any], dict[str, Any]]]]:
    """Return every idea as (label, rank keywords, patched constants) per sweep point."""
    return {
        "base": [("shipped ranking", {}, {})],
        "onset": [
            (f"back {b} fwd {f} cap {c:g}", {"split_hook": onset_hook(b, f, c)}, {})
            for b, f in ((10, 0), (30, 0), (0, 10), (10, 5), (30, 10))
            for c in (3.0, 10.0)
        ],
        "horizon": [(f"{h} min", {"horizon_min": h}, {}) for h in (3, 5, 8, 10, 15, 20, 30)],
        "redundancy": [(f"rho {r}", {"weight_hook": redundancy_hook(r)}, {}) for r in (0.7, 0.8, 0.9, 0.95)],
        "agreement": [
            (f"k {k} d {d}", {"weight_hook": agreement_hook(k, d)}, {}) for k in (0, 1, 2, 3) for d in (0.0, 0.5)
        ],
        "constant": [(f"w {w}", {"weight_hook": constant_hook(w)}, {}) for w in (0.0, 0.25, 0.5, 0.75)],
        "pop_floor": [(f"a {a}", {"scores_hook": pop_floor_hook(a)}, {}) for a in (0.01, 0.03, 0.1, 0.3, 1.0)],
        "kind_norm": [(f"q {q}", {"scores_hook": kind_norm_hook(q)}, {}) for q in (0.5, 0.75, 0.9)],
        "late_steps": [(f"{v:g}", {}, {"LATE_STEPS": v}) for v in (2.0, 5.0, 10.0, 20.0, INF)],
        "recency": [(f"tau {t} min", {"scores_hook": recency_hook(t)}, {}) for t in (2, 5, 10, 20, 40)],
        "robust": [
            ("median/IQR", {"scores_hook": robust_hook(False)}, {}),
            ("geo. mean with mean/std", {"scores_hook": robust_hook(True)}, {}),
        ],
        "persistence": [(f"k {k}", {"scores_hook": persistence_hook(k)}, {}) for k in (2, 3)],
        "winsor": [(f"p {p}", {"split_hook": winsor_hook(p)}, {}) for p in (0.01, 0.025, 0.05, 0.1)],
        "disturbed_rows": [(f"share {p}", {"split_hook": disturbed_rows_hook(p)}, {}) for p in (0.05, 0.1, 0.2)],
    }


def main() -> None:
    """Score every idea (or ``--only`` some) and print one line per sweep point."""
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--only", default="", help="comma-separated idea names (default: all)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    cases = load_cases(args.data)
    group = groups_of(args.data)
    for c in cases:
        c["group"] = group[c["case_id"]]
    chosen = [s for s in args.only.split(",") if s] or list(ideas())
    unknown = sorted(set(chosen) - set(ideas()))
    if unknown:
        sys.exit(f"--only: unknown idea(s) {', '.join(unknown)}; known: {', '.join(ideas())}")
    rows: list[dict[str, Any]] = []
    print(f"{'idea':12} {'setting':22} " + "  ".join(f"{g:>15}" for g in (*GROUPS, "all")) + "  ms/case")
    for name in ["base"] + [n for n in chosen if n != "base"]:
        for label, kw, consts in ideas()[name]:
            with patched(**consts):
                res = score(cases, **kw)
            cells = "  ".join(f"{res[g][0]:.3f} ({res[g][1]:.3f})" for g in (*GROUPS, "all"))
            print(f"{name:12} {label:22} {cells}  {res['ms']:.1f}", flush=True)
            rows.append(
                {"idea": name, "setting": label, **{g: list(res[g]) for g in (*GROUPS, "all")}, "ms": res["ms"]}
            )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
