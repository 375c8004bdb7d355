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

* ``graph`` (only when no topology is given; with one, the shipped order is returned): a component
  graph inferred from the reference period (:func:`component_similarity`: same-kind series whose
  first differences correlate at ``|r| >= rho``), then a MicroRCA-style personalized PageRank
  (``ppr``), the shipped score plus ``beta`` x that PageRank (``blend``), plus the neighbours'
  mean score (``neighbours``), or the inferred graph handed to the shipped ranking as topology
  (``topology``). Controls that use no anomaly: ``degree`` (centrality alone), ``blend_uniform``
  (plain PageRank), and ``blend ... shuffled k`` (the personalization permuted across components).
* ``fisher``: a component's evidence is Fisher's sum of ``-log p`` over its series (Gaussian tail of
  the largest z, corrected for the number of rows; each capped at ``cap``).
* ``mahalanobis``: a component's evidence is the joint deviation of all its series (reference
  correlation shrunk towards the identity by ``shrink``), as a chi-square tail.
* ``ks``: epsilon-Diagnosis-style two-sample test per series (Kolmogorov-Smirnov, reference vs.
  anomalous values) as the z, or its geometric mean with the shipped z.

Measured 2026-12-07 (see ``docs/rca.md``, "Ideas that did not help on TrainTicket"): no idea that
uses the incident's data lifts nezha TrainTicket to Avg@5 .20 without lowering another system or
the all-78 figures, except the inferred-graph walk, whose lift the controls show to be a prior on
central components (centrality alone, with no anomaly data, scores .371 there).
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
#: hook that returns each series' evidence contribution (replacing ``z / (z + Z_EVIDENCE)``):
#: (matrix, split, scores, reference rows) -> contributions
ContribHook = Callable[[Matrix, int, Scores, np.ndarray], np.ndarray]
#: hook that reorders the ranked components: (matrix, split, scores, ranked rows, topology) -> components
RerankHook = Callable[[Matrix, int, Scores, list[dict[str, Any]], Any], list[str]]


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
    contrib_hook: ContribHook | None = None,
    rerank_hook: RerankHook | None = None,
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
    if weight_hook is None and contrib_hook is None:
        rows = ranking.rank_components(sc, mat.step, case["topology"])
    else:
        weights = weight_hook(mat, split, sc) if weight_hook is not None else np.ones(len(sc.keys))
        ref_rows = base_vals if base_vals is not None else mat.values[:split]
        contrib = contrib_hook(mat, split, sc, ref_rows) if contrib_hook is not None else None
        original = ranking._component_arrays

        def weighted(s: Scores) -> dict[str, Any]:
            arr = original(s)
            z = np.nan_to_num(s.z, nan=0.0)
            codes, _ = pd.factorize(np.array([k[0] for k in s.keys], dtype=object))
            per_series = contrib if contrib is not None else z / (z + ranking.Z_EVIDENCE)
            arr["evidence"] = np.bincount(codes, weights=weights * per_series, minlength=len(arr["z"]))
            return arr

        ranking._component_arrays = weighted
        try:
            rows = ranking.rank_components(sc, mat.step, case["topology"])
        finally:
            ranking._component_arrays = original
    if rerank_hook is not None:
        return rerank_hook(mat, split, sc, rows, case["topology"])
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


def _ref_post(mat: Matrix, split: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the forward-filled reference rows (before the split) and anomalous rows (from it)."""
    x = ranking.ffill(mat.values)
    return x[:split], x[split:]


def component_similarity(mat: Matrix, split: int, period: str = "reference") -> tuple[np.ndarray, np.ndarray]:
    """Return the components and their pairwise similarity inferred from the data.

    Two components are similar when a series of one moves with the series of the same metric kind
    of the other (absolute Pearson correlation of first differences, so a shared trend is not a
    link): the largest such correlation over their metric kinds. Callers and callees share
    request-driven series (traffic, bytes, latency), so on a system without a given topology this
    is the data's own guess at who talks to whom (CIRCA / MicroCause build their graphs from data
    in the same spirit; no direction is inferred: one-minute samples carry no usable lag).
    ``period`` "reference" uses the rows before the split; "incident" the anomalous rows and as
    many rows before them (MicroRCA weights its edges by how the components co-move around the
    anomaly, not in normal operation).
    """
    ref, post = _ref_post(mat, split)
    if period == "incident":
        ref = np.concatenate([ref[max(0, len(ref) - len(post)) :], post])
    comps, codes = np.unique(mat.components.astype(str), return_inverse=True)
    kinds, kcodes = np.unique(mat.metrics.astype(str), return_inverse=True)
    sim = np.zeros((len(comps), len(comps)))
    if len(ref) < 5:
        return comps, sim
    d = np.diff(ref, axis=0)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        d = d - np.nanmean(d, axis=0)
        sd = np.nanstd(d, axis=0)
    ok = np.isfinite(sd) & (sd > 1e-12)
    z = np.where(ok, np.nan_to_num(d) / np.where(ok, sd, 1.0), 0.0)
    for k in range(len(kinds)):
        cols = np.flatnonzero((kcodes == k) & ok)
        if len(cols) < 2:
            continue
        r = np.abs(z[:, cols].T @ z[:, cols] / len(z))
        ci = codes[cols]
        block = np.zeros_like(sim)
        np.maximum.at(block, (ci[:, None], ci[None, :]), r)
        sim = np.maximum(sim, block)
    np.fill_diagonal(sim, 0.0)
    return comps, sim


def graph_hook(
    rho: float,
    mode: str,
    alpha: float = 0.85,
    beta: float = 0.5,
    shuffle_seed: int | None = None,
    period: str = "reference",
) -> RerankHook:
    """Return a rerank hook that, only when no topology is given, uses a graph inferred from the data.

    ``mode``:

    * ``ppr``: MicroRCA-style personalized PageRank over the inferred graph (edges with
      similarity ``>= rho``, weighted by it), personalization = the shipped component scores; rank
      by the stationary probability (a component next to many anomalous ones gains; one that is
      not anomalous itself can rank).
    * ``blend``: the shipped score plus ``beta`` times the PageRank mass rescaled to the largest
      shipped score.
    * ``neighbours``: the shipped score plus ``beta`` times the similarity-weighted mean score of
      its neighbours (the caller-support idea without direction).
    * ``topology``: the inferred graph, both directions, passed to the shipped ranking as if it
      were the topology (caller support, victims, co-movers).
    * controls that use no anomaly at all, to tell diagnosis from a prior on central components:
      ``degree`` ranks every component by its summed similarity; ``blend_uniform`` is ``blend``
      with a uniform personalization (plain PageRank centrality); ``shuffle_seed`` permutes the
      personalization across components (the walk then sees the anomaly sizes, not where they are).
    """

    def hook(mat: Matrix, split: int, sc: Scores, rows: list[dict[str, Any]], topology: Any) -> list[str]:
        shipped = [r["component"] for r in rows]
        if topology is not None and topology.number_of_nodes():
            return shipped
        comps, sim = component_similarity(mat, split, period)
        w = np.where(sim >= rho, sim, 0.0)
        if mode == "topology":
            import networkx as nx

            g = nx.DiGraph()
            g.add_nodes_from(comps.tolist())
            ii, jj = np.nonzero(w)
            g.add_edges_from(zip(comps[ii].tolist(), comps[jj].tolist(), strict=True))
            return [r["component"] for r in ranking.rank_components(sc, mat.step, g)]
        index = {c: i for i, c in enumerate(comps.tolist())}
        s = np.zeros(len(comps))
        for r in rows:
            s[index[r["component"]]] = r["score"]
        if s.sum() <= 0:
            return shipped
        if mode == "degree":
            final = w.sum(axis=1)
        elif mode == "neighbours":
            deg = w.sum(axis=1)
            nb = np.divide(w @ s, deg, out=np.zeros_like(s), where=deg > 0)
            final = s + beta * nb
        else:
            deg = w.sum(axis=1, keepdims=True)
            trans = np.divide(w, deg, out=np.zeros_like(w), where=deg > 0)
            p = np.full(len(s), 1.0 / len(s)) if mode == "blend_uniform" else s / s.sum()
            if shuffle_seed is not None:
                p = np.random.default_rng(shuffle_seed).permutation(p)
            r_ = p.copy()
            for _ in range(60):
                nxt = (1 - alpha) * p + alpha * (r_ @ trans)
                nxt += alpha * r_[deg[:, 0] == 0].sum() * p  # dangling nodes restart
                if np.abs(nxt - r_).sum() < 1e-10:
                    r_ = nxt
                    break
                r_ = nxt
            final = r_ if mode == "ppr" else s + beta * s.max() * r_ / max(r_.max(), 1e-300)
        order = np.argsort(-final, kind="stable")
        return [comps[i] for i in order.tolist() if final[i] > 0 or mode == "degree"]

    return hook


def fisher_hook(cap: float) -> ContribHook:
    """Return per-series contributions ``-log p`` (capped at ``cap``), Fisher's combination per component.

    ``p`` is the chance that the series' largest |z| over its anomalous rows is reached by noise
    (Gaussian tail, Sidak-corrected for the number of rows); a component's evidence is the sum,
    so breadth counts in the units of a test rather than through ``z / (z + 30)``.
    """
    from scipy import stats

    def hook(mat: Matrix, split: int, sc: Scores, ref: np.ndarray) -> np.ndarray:
        z = np.nan_to_num(sc.z, nan=0.0)
        m = np.maximum(sc.n_cur, 1)
        logp1 = np.log(2.0) + stats.norm.logsf(z)  # two-sided, one row
        # p = 1 - (1 - p1)^m, in logs; for small p1 this is log(m) + log(p1)
        logp = np.log(-np.expm1(m * np.log1p(-np.minimum(np.exp(logp1), 1 - 1e-16))))
        logp = np.where(np.isfinite(logp), logp, np.log(m) + logp1)
        return np.minimum(-np.minimum(logp, 0.0), cap)

    return hook


def mahalanobis_hook(shrink: float, cap: float = 50.0) -> ContribHook:
    """Return per-component evidence from a joint (Mahalanobis) deviation of all its series.

    Each series is standardized with the reference's mean and the shipped scale (|z| capped at ``cap``);
    the component's reference correlation matrix, shrunk towards the identity by ``shrink``,
    whitens the anomalous rows, and the largest squared distance over them, as a chi-square tail
    with one degree of freedom per series, gives a z-equivalent ``zc``. Duplicates (CPU and CPU %)
    then count once, and a component where several independent series moved together scores
    higher than one with a single wild series. The evidence ``zc / (zc + Z_EVIDENCE)`` is put on the
    component's first series (the others get 0) so the shipped component sum carries it.
    """
    from scipy import stats

    def hook(mat: Matrix, split: int, sc: Scores, ref: np.ndarray) -> np.ndarray:
        ref = ranking.ffill(ref)  # the separate baseline when there is one, else the rows before the split
        post = ranking.ffill(mat.values)[split:]
        out = np.zeros(len(sc.keys))
        if len(ref) < 5 or not len(post):
            return out
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            mu = np.nanmean(ref, axis=0)
        scale = np.where(np.isfinite(sc.base_scale) & (sc.base_scale > 0), sc.base_scale, 1.0)
        zr = np.clip(np.nan_to_num((ref - mu) / scale), -cap, cap)
        zp = np.clip(np.nan_to_num((post - mu) / scale), -cap, cap)
        codes, n = _by_component(sc.keys)
        for g in range(n):
            idx = np.flatnonzero(codes == g)
            c = np.corrcoef(zr[:, idx].T) if len(idx) > 1 else np.ones((1, 1))
            c = np.nan_to_num(np.atleast_2d(c))
            np.fill_diagonal(c, 1.0)
            c = (1 - shrink) * c + shrink * np.eye(len(idx))
            d2 = np.einsum("ti,ij,tj->t", zp[:, idx], np.linalg.pinv(c), zp[:, idx]).max()
            p = stats.chi2.sf(d2, len(idx)) * len(zp)
            zc = float(stats.norm.isf(min(max(p, 1e-300), 1.0) / 2)) if p < 1 else 0.0
            out[idx[0]] = zc / (zc + ranking.Z_EVIDENCE)
        return out

    return hook


def ks_hook(blend: bool) -> ScoresHook:
    """Return a scores hook using an epsilon-Diagnosis-style two-sample test per series.

    The Kolmogorov-Smirnov distance between a series' reference values (the separate baseline, or
    the rows before the split) and its anomalous ones (from the split) gives an asymptotic p-value,
    turned into the z of the same two-sided Gaussian tail (capped at 40) so thresholds and evidence
    stay in z units; ``blend`` takes the geometric mean with the shipped z. Onsets are kept as
    shipped. With three 5-minute samples after the incident no test reaches that z: a two-sample
    test has no power there.
    """
    from scipy import stats

    def hook(mat: Matrix, split: int, sc: Scores, ref: np.ndarray) -> Scores:
        ref = ranking.ffill(ref)  # the separate baseline when there is one, else the rows before the split
        post = ranking.ffill(mat.values)[split:]
        if len(ref) < 3 or not len(post):
            return sc
        allv = np.concatenate([ref, post])
        n, m = np.isfinite(ref).sum(axis=0), np.isfinite(post).sum(axis=0)
        # ECDFs of both samples at every pooled value (NaN compares False: not counted)
        fa = (ref[:, None, :] <= allv[None, :, :]).sum(axis=0) / np.maximum(n, 1)
        fb = (post[:, None, :] <= allv[None, :, :]).sum(axis=0) / np.maximum(m, 1)
        d = np.nanmax(np.abs(fa - fb), axis=0)
        en = np.sqrt(n * m / np.maximum(n + m, 1))
        p = stats.kstwobign.sf(d * en)
        zk = np.where((n > 2) & (m > 0), np.minimum(stats.norm.isf(np.maximum(p, 1e-300) / 2), 40.0), 0.0)
        zk = np.maximum(zk, 0.0)
        z = np.sqrt(zk * np.nan_to_num(sc.z, nan=0.0)) if blend else zk
        return replace(sc, z=z, score=ranking.z_to_score(z))

    return hook


def residual_hook(k: int, demote_only: bool, ridge: float = 1.0) -> ScoresHook:
    """Return a scores hook scoring each series by what the rest of the system does not explain.

    CIRCA regresses every metric on its parents in the call graph, fitted on normal data, and scores
    the standardized residual. Without a graph the "parents" here are the ``k`` series of the same
    metric kind on other components that correlate most with it in the reference (first
    differences); a ridge regression (penalty ``ridge`` on standardized data) fitted on the
    reference predicts each series in the anomalous rows, and the largest residual over the
    reference residuals' standard deviation is its z. A deviation that every component's shared
    load explains (traffic rising everywhere) is then not local. The shipped z is multiplied by
    the ratio residual z / plain z (at most 1 when ``demote_only``), so the practical-significance
    factor and the onsets stay as shipped.
    """

    def hook(mat: Matrix, split: int, sc: Scores, ref: np.ndarray) -> Scores:
        ref = ranking.ffill(ref)
        post = ranking.ffill(mat.values)[split:]
        if len(ref) < max(8, 2 * k) or not len(post):
            return sc
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            mu, sd = np.nanmean(ref, axis=0), np.nanstd(ref, axis=0)
            d = np.diff(ref, axis=0)
            d = d - np.nanmean(d, axis=0)
            dsd = np.nanstd(d, axis=0)
        ok = np.isfinite(sd) & (sd > 1e-12) & np.isfinite(dsd) & (dsd > 1e-12)
        zr = np.where(ok, np.nan_to_num((ref - mu) / np.where(ok, sd, 1.0)), 0.0)
        zp = np.where(ok, np.nan_to_num((post - mu) / np.where(ok, sd, 1.0)), 0.0)
        zd = np.where(ok, np.nan_to_num(d / np.where(ok, dsd, 1.0)), 0.0)
        comps = mat.components.astype(str)
        kinds = mat.metrics.astype(str)
        ratio = np.ones(len(sc.keys))
        for kind in np.unique(kinds):
            cols = np.flatnonzero((kinds == kind) & ok)
            if len(cols) <= k:
                continue
            c = np.abs(zd[:, cols].T @ zd[:, cols] / len(zd))
            same = comps[cols][:, None] == comps[cols][None, :]
            c[same] = -1.0  # never explain a series by its own component
            for a, j in enumerate(cols.tolist()):
                pred = cols[np.argsort(-c[a])[:k]]
                x = zr[:, pred]
                beta = np.linalg.solve(x.T @ x + ridge * np.eye(k), x.T @ zr[:, j])
                res_ref = zr[:, j] - x @ beta
                rs = max(float(res_ref.std()), 1e-9)
                zres = float(np.max(np.abs(zp[:, j] - zp[:, pred] @ beta))) / rs
                zraw = float(np.max(np.abs(zp[:, j])))
                if zraw > 1e-9:
                    ratio[j] = zres / zraw
        if demote_only:
            ratio = np.minimum(ratio, 1.0)
        z = np.nan_to_num(sc.z, nan=0.0) * ratio
        return replace(sc, z=z, score=ranking.z_to_score(z))

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
        "graph": [
            (f"{mode} rho {r}", {"rerank_hook": graph_hook(r, mode)}, {})
            for mode in ("ppr", "neighbours", "topology", "degree")
            for r in (0.5, 0.7, 0.9)
        ]
        + [
            (f"{mode} rho {r} beta {b:g}", {"rerank_hook": graph_hook(r, mode, beta=b)}, {})
            for mode in ("blend", "blend_uniform")
            for r in (0.5, 0.7)
            for b in (0.5, 1.0, 2.0, 5.0)
        ]
        + [
            (
                f"blend rho 0.5 beta {b:g} shuffled {k}",
                {"rerank_hook": graph_hook(0.5, "blend", beta=b, shuffle_seed=k)},
                {},
            )
            for b in (2.0, 5.0)
            for k in range(5)
        ],
        "graph_incident": [
            (f"{mode} rho {r}", {"rerank_hook": graph_hook(r, mode, beta=2.0, period="incident")}, {})
            for mode in ("ppr", "blend", "degree")
            for r in (0.5, 0.7, 0.9)
        ],
        "fisher": [(f"cap {c:g}", {"contrib_hook": fisher_hook(c)}, {}) for c in (10.0, 30.0, 100.0, 1000.0)],
        "mahalanobis": [(f"shrink {a}", {"contrib_hook": mahalanobis_hook(a)}, {}) for a in (0.1, 0.5, 0.9)],
        "residual": [
            (f"k {k} {'demote' if dem else 'replace'}", {"scores_hook": residual_hook(k, dem)}, {})
            for k in (1, 3, 5)
            for dem in (True, False)
        ],
        "ks": [
            ("KS z", {"scores_hook": ks_hook(False)}, {}),
            ("geo. mean with z", {"scores_hook": ks_hook(True)}, {}),
        ],
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
