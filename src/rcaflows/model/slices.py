"""Slice search: the intersections of up to three columns where the model's loss is worst.

Like SliceLine, every slice ``col_a = x [and col_b = y [and col_c = z]]`` with enough rows is
tried; unlike a top-k search, each is tested (one-sided z-test of its mean loss against the
rest of the rows) and the false-discovery rate is controlled with Benjamini-Hochberg across
every slice tried. The significant slices are then reduced to the ones that carry the excess:
when a slice ``P`` contains a significant slice ``C``, ``P`` is dropped if ``P`` without ``C``
is no worse than the rest (``C`` explains it), else ``C`` is dropped (``P`` is bad throughout).

Counting is vectorised: one ``bincount`` of mixed-radix codes per column combination, never a
loop over rows.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats


@dataclass(frozen=True)
class Slice:
    """One slice, its loss against the rest of the rows, and its test."""

    conditions: tuple[tuple[str, str], ...]
    n: int
    loss: float
    rest_loss: float
    z: float
    p_value: float
    q_value: float = 1.0
    _sums: tuple[float, float] = (0.0, 0.0)

    @property
    def label(self) -> str:
        """Return ``col=value,col=value`` (the metric suffix of a finding)."""
        return ",".join(f"{c}={v}" for c, v in self.conditions)

    @property
    def lift(self) -> float:
        """Return the slice's loss minus the rest's."""
        return self.loss - self.rest_loss


@dataclass
class SliceSearch:
    """What a search tried and found."""

    found: list[Slice] = field(default_factory=list)
    significant: int = 0
    tried: int = 0
    too_small: int = 0
    skipped_columns: dict[str, str] = field(default_factory=dict)


def bh_adjust(p: np.ndarray) -> np.ndarray:
    """Return Benjamini-Hochberg adjusted p-values (q-values) in the input order."""
    m = len(p)
    if m == 0:
        return p
    order = np.argsort(p)
    ranked = p[order] * m / np.arange(1, m + 1)
    q = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(q, 1.0)
    return out


def sf(z: float) -> float:
    """Return the standard normal upper tail (scalar; scipy's per-call overhead dominates in loops)."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def _z_vec(
    s1: np.ndarray, q1: np.ndarray, n1: np.ndarray, s2: np.ndarray, q2: np.ndarray, n2: np.ndarray
) -> np.ndarray:
    """Return :func:`_z` over arrays of slices at once."""
    with np.errstate(invalid="ignore", divide="ignore"):
        m1, m2 = s1 / n1, s2 / n2
        v1 = np.maximum(q1 / n1 - m1 * m1, 0.0) * n1 / (n1 - 1)
        v2 = np.maximum(q2 / n2 - m2 * m2, 0.0) * n2 / (n2 - 1)
        floor = 1e-4 * np.maximum(np.maximum(m1, m2), 1e-6)
        z = (m1 - m2) / np.sqrt(np.maximum(v1, floor) / n1 + np.maximum(v2, floor) / n2)
    return np.where((n1 >= 2) & (n2 >= 2), z, 0.0)


def _z(s1: float, q1: float, n1: float, s2: float, q2: float, n2: float) -> float:
    """Return the z of mean1 > mean2 from sums and sums of squares (unequal variances)."""
    if n1 < 2 or n2 < 2:
        return 0.0
    m1, m2 = s1 / n1, s2 / n2
    v1 = max(q1 / n1 - m1 * m1, 0.0) * n1 / (n1 - 1)
    v2 = max(q2 / n2 - m2 * m2, 0.0) * n2 / (n2 - 1)
    # a floor on the variance keeps a zero-loss rest from making any slice infinitely significant
    se = math.sqrt(max(v1, 1e-4 * max(m1, m2, 1e-6)) / n1 + max(v2, 1e-4 * max(m1, m2, 1e-6)) / n2)
    return (m1 - m2) / se


def search(
    frame: pd.DataFrame,
    loss: np.ndarray,
    columns: list[str],
    *,
    max_order: int = 3,
    min_rows: int = 100,
    fdr: float = 0.01,
    min_lift: float = 0.05,
    relative: bool = False,
) -> SliceSearch:
    """Return the slices of ``frame`` whose mean ``loss`` is significantly above the rest's.

    Args:
        frame: rows (labelled), holding ``columns``.
        loss: per-row loss aligned with ``frame`` (0/1 error, or absolute error).
        columns: candidate columns; missing or single-valued ones are skipped and named.
        max_order: most columns intersected in one slice (1 to 3).
        min_rows: slices with fewer rows are counted in ``too_small`` and not tested.
        fdr: false-discovery rate over all slices tried.
        min_lift: smallest excess loss that counts (relative to the rest's loss when ``relative``).
        relative: judge ``min_lift`` as a share of the rest's loss (for unbounded losses).
    """
    out = SliceSearch()
    loss = np.asarray(loss, dtype=float)
    usable: list[str] = []
    codes: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for c in columns:
        if c not in frame.columns:
            out.skipped_columns[c] = "missing from the prediction log"
            continue
        code, uniq = pd.factorize(frame[c].astype(object).where(frame[c].notna(), "<missing>"), sort=True)
        if len(uniq) < 2:
            out.skipped_columns[c] = f"one value ({uniq[0] if len(uniq) else 'none'})"
            continue
        usable.append(c)
        codes[c] = (code.astype(np.int64), np.asarray(uniq, dtype=object))
    n_all = float(len(loss))
    s_all, q_all = float(loss.sum()), float((loss**2).sum())
    cand: list[tuple[tuple[tuple[str, str], ...], float, float, float, float]] = []
    for order in range(1, max_order + 1):
        for combo in itertools.combinations(usable, order):
            key = np.zeros(len(loss), dtype=np.int64)
            radix = 1
            for c in combo:
                key = key * len(codes[c][1]) + codes[c][0]
                radix *= len(codes[c][1])
            if radix > 5_000_000:
                continue  # a near-unique column combination: no slice there holds min_rows
            cnt = np.bincount(key, minlength=radix)
            seen = np.flatnonzero(cnt)
            big = seen[cnt[seen] >= min_rows]
            out.too_small += len(seen) - len(big)
            if not len(big):
                continue
            s = np.bincount(key, weights=loss, minlength=radix)[big]
            q = np.bincount(key, weights=loss**2, minlength=radix)[big]
            for j, cell in enumerate(big):
                conds = []
                rem = int(cell)
                for c in reversed(combo):
                    k = len(codes[c][1])
                    conds.append((c, str(codes[c][1][rem % k])))
                    rem //= k
                cand.append((tuple(reversed(conds)), float(cnt[cell]), float(s[j]), float(q[j]), 0.0))
    out.tried = len(cand)
    if not cand:
        return out
    n = np.array([c[1] for c in cand])
    s = np.array([c[2] for c in cand])
    q = np.array([c[3] for c in cand])
    z = _z_vec(s, q, n, s_all - s, q_all - q, n_all - n)
    p = stats.norm.sf(z)
    qv = bh_adjust(p)
    slices = []
    for i, cnd in enumerate(cand):
        rest_n = n_all - n[i]
        rest = float((s_all - s[i]) / rest_n) if rest_n else 0.0
        sl = Slice(
            cnd[0],
            int(n[i]),
            float(s[i] / n[i]),
            rest,
            float(z[i]),
            float(p[i]),
            float(qv[i]),
            (float(s[i]), float(q[i])),
        )
        lift_ok = sl.lift >= (min_lift * max(rest, 1e-9) if relative else min_lift)
        if sl.q_value < fdr and lift_ok:
            slices.append(sl)
    out.significant = len(slices)
    kept = _minimal(slices, n_all, s_all, q_all, fdr, min_lift, relative)
    out.found = _explain_away(kept, codes, loss, fdr, min_lift, relative)
    return out


def _explain_away(
    slices: list[Slice],
    codes: dict[str, tuple[np.ndarray, np.ndarray]],
    loss: np.ndarray,
    alpha: float,
    min_lift: float,
    relative: bool,
) -> list[Slice]:
    """Keep, largest excess first, the slices still worse than the rest once earlier ones' rows are set aside.

    A slice that overlaps a found one without containing it (``device=web,tier=gold`` next to the
    found ``device=web,region=eu``) is significant only through the shared rows; testing it on
    its own remaining rows drops it.
    """
    covered = np.zeros(len(loss), dtype=bool)
    out = []
    for sl in slices:
        mask = np.ones(len(loss), dtype=bool)
        for c, v in sl.conditions:
            code, uniq = codes[c]
            mask &= code == int(np.flatnonzero(uniq.astype(str) == v)[0])
        own = mask & ~covered
        rest = ~mask & ~covered
        n1, n2 = float(own.sum()), float(rest.sum())
        a, b = loss[own], loss[rest]
        z = _z(float(a.sum()), float((a**2).sum()), n1, float(b.sum()), float((b**2).sum()), n2)
        lift = (a.mean() if n1 else 0.0) - (b.mean() if n2 else 0.0)
        bar = min_lift * max(float(b.mean()) if n2 else 0.0, 1e-9) if relative else min_lift
        if sf(z) < alpha and lift >= bar:
            out.append(sl)
            covered |= mask
    return out


def _minimal(
    slices: list[Slice], n_all: float, s_all: float, q_all: float, alpha: float, min_lift: float, relative: bool
) -> list[Slice]:
    """Keep the slices that carry the excess loss (see the module docstring)."""
    dropped: set[int] = set()
    conds = [set(s.conditions) for s in slices]
    for i, parent in enumerate(slices):
        for j, child in enumerate(slices):
            if i == j or not conds[i] < conds[j]:
                continue
            # parent without child, against everything outside it
            n = parent.n - child.n
            s_ = parent._sums[0] - child._sums[0]
            q_ = parent._sums[1] - child._sums[1]
            z = _z(s_, q_, n, s_all - s_, q_all - q_, n_all - n)
            rest = (s_all - s_) / max(n_all - n, 1)
            lift = s_ / max(n, 1) - rest
            bad = sf(z) < alpha and lift >= (min_lift * max(rest, 1e-9) if relative else min_lift)
            dropped.add(j if bad else i)
    keep = [s for k, s in enumerate(slices) if k not in dropped]
    return sorted(keep, key=lambda s: -s.n * s.lift)
