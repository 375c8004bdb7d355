"""Label-noise and poisoning signals on training batches, each judged against the batches before it.

Three signals, computed for every batch at once with whole-array pandas (no loop over rows):

``conflicting_labels``
    Rows of the batch whose near-identical inputs *in the same batch* carry a different label.
    Near-identical: every numeric feature in the same cell of a grid ``tolerance`` robust standard
    deviations wide (MAD x 1.4826, pooled over the batches compared) and every other feature
    equal, or the same ``hash_column`` value. (A grid splits two close values that straddle a
    cell edge, so the share is a slight undercount; it is compared with the same undercount in
    earlier batches.) Label noise from a bad labelling round shows here.
``flipped_duplicates``
    Rows of the batch whose exact inputs occur in the batch or any earlier batch with a
    different label: copies of known records with the label flipped, the cheapest poisoning.
``source_burst``
    The share of the batch from one source far above that source's share of the earlier batches.

Each batch's share is tested against the pooled share of the earlier batches with a one-sided
pooled two-proportion z-test (the quality detector's), and fails only when ``p < alpha`` **and**
the rise passes a minimum effect (``min_*_increase``; for a source also ``min_source_ratio``), so
a big batch does not fail on a negligible rise. Source tests are Benjamini-Hochberg adjusted over
the sources of the batch. The first batch has no history to be sudden against: it is not judged
(its checks say so), but it is the history of every later one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from rcaflows.config.models import TrainingSignals
from rcaflows.detection.detectors.quality import two_proportion_drop
from rcaflows.detection.stats import bh_adjust, robust_location_scale

__all__ = [
    "CONFLICTING_LABELS",
    "FLIPPED_DUPLICATES",
    "SOURCE_BURST",
    "Signal",
    "batch_signals",
    "input_keys",
    "label_disagreement",
    "rise_p_value",
]

CONFLICTING_LABELS = "conflicting_labels"
FLIPPED_DUPLICATES = "flipped_duplicates"
SOURCE_BURST = "source_burst"


@dataclass(frozen=True)
class Signal:
    """One signal on one batch: the flagged rows, the share before, the test, and example row ids."""

    name: str
    batch: str
    rows: int
    count: int
    share: float
    baseline: float | None
    p_value: float | None
    threshold: float
    failed: bool
    message: str
    examples: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    #: why the signal was not judged ("too few rows", "no earlier batch"), or None
    skipped: str | None = None


def rise_p_value(k_ref: int, n_ref: int, k_cur: int, n_cur: int) -> float:
    """Return the one-sided p of H1: the current proportion is above the reference one.

    A rise of a share is a drop of its complement, so this is the quality detector's pooled
    two-proportion test on the complements (the same z, the same pooled variance).
    """
    if n_ref <= 0 or n_cur <= 0:
        return float("nan")
    _, p = two_proportion_drop(n_ref - k_ref, n_ref, n_cur - k_cur, n_cur)
    return p


def input_keys(
    frame: pd.DataFrame, features: list[str], tolerance: float, scales: pd.Series | None = None
) -> np.ndarray:
    """Return a uint64 key per row: equal keys mean near-identical inputs (exact ones when ``tolerance`` is 0).

    Args:
        frame: the rows.
        features: the columns compared; numeric ones are cut into cells of ``tolerance * scales[col]``,
            the others compared as text.
        tolerance: cell width in standard deviations; 0 compares exact values.
        scales: per numeric feature the standard deviation the cells are measured in (pooled over
            the batches compared, so every batch uses the same grid); default: this frame's.
    """
    cols: dict[str, Any] = {}
    for col in features:
        v = frame[col]
        if pd.api.types.is_numeric_dtype(v) and not pd.api.types.is_bool_dtype(v) and tolerance > 0:
            sd = float(scales[col]) if scales is not None and col in scales.index else float(v.std())
            width = tolerance * sd if np.isfinite(sd) and sd > 0 else 1.0
            cols[col] = np.floor(v.to_numpy(dtype=float) / width)
        else:
            cols[col] = v.astype(str).to_numpy() if not pd.api.types.is_numeric_dtype(v) else v.to_numpy(dtype=float)
    if not cols:
        return np.zeros(len(frame), dtype=np.uint64)
    return pd.util.hash_pandas_object(pd.DataFrame(cols, index=frame.index), index=False).to_numpy()


def label_disagreement(
    keys: np.ndarray, labels: pd.Series, order: np.ndarray, *, cumulative: bool, regression: bool, tol: float
) -> np.ndarray:
    """Return, per row, whether another row with the same key carries a different label.

    Args:
        keys: input key per row (:func:`input_keys`).
        labels: label per row; rows without a label are never flagged and never flag others.
        order: batch position per row (0 = earliest).
        cumulative: compare with rows of the same and every earlier batch (flipped duplicates);
            else with rows of the same batch only (conflicting labels).
        regression: labels are numbers that differ when more than ``tol`` apart; else classes.
        tol: label tolerance of a regression model.
    """
    n = len(keys)
    out = np.zeros(n, dtype=bool)
    # only rows whose key occurs more than once can disagree with another (most rows, in real data)
    keep = np.flatnonzero(pd.Series(keys).duplicated(keep=False).to_numpy() & labels.notna().to_numpy())
    if keep.size == 0:
        return out
    df = pd.DataFrame({"k": keys[keep], "b": order[keep]})
    if regression:
        y = pd.to_numeric(labels.iloc[keep], errors="coerce").to_numpy(dtype=float)
        g = df.assign(y=y).groupby(["k", "b"], sort=True)
        gid = g.ngroup().to_numpy()
        lo, hi = g["y"].min(), g["y"].max()
        if cumulative:  # extremes over the key's rows in this and every earlier batch
            lo, hi = lo.groupby(level=0).cummin(), hi.groupby(level=0).cummax()
        flag = (hi.to_numpy()[gid] - y > tol) | (y - lo.to_numpy()[gid] > tol)
    else:
        df["y"] = pd.factorize(labels.iloc[keep])[0]
        per_kb, per_kyb = df.groupby(["k", "b"], sort=True), df.groupby(["k", "y", "b"], sort=True)
        n_k, n_ky = per_kb.size(), per_kyb.size()
        if cumulative:  # counts over this and every earlier batch
            n_k, n_ky = n_k.groupby(level=0).cumsum(), n_ky.groupby(level=[0, 1]).cumsum()
        flag = n_ky.to_numpy()[per_kyb.ngroup().to_numpy()] < n_k.to_numpy()[per_kb.ngroup().to_numpy()]
    out[keep] = np.asarray(flag, dtype=bool)
    return out


def _row_ids(rows: pd.DataFrame, mask: np.ndarray, id_column: str | None, k: int) -> list[str]:
    """Return up to ``k`` ids of the masked rows (the id column, else the 1-based row number)."""
    idx = np.flatnonzero(mask)[:k]
    if id_column is not None and id_column in rows.columns:
        return [str(v) for v in rows[id_column].to_numpy()[idx]]
    return [f"row {i + 1}" for i in idx]


def _share_signal(
    name: str,
    what: str,
    batch: str,
    flags: np.ndarray,
    b: int,
    order: np.ndarray,
    n_per: np.ndarray,
    rows: pd.DataFrame,
    s: TrainingSignals,
    min_increase: float,
    id_column: str | None,
) -> Signal:
    """Judge the share of flagged rows of batch ``b`` against the pooled share of the batches before it."""
    n_cur = int(n_per[b])
    mine = flags[order == b]
    k_cur = int(mine.sum())
    share = k_cur / n_cur if n_cur else 0.0
    examples = _row_ids(rows, mine, id_column, s.examples)

    def not_judged(message: str, reason: str) -> Signal:
        return Signal(
            name, batch, n_cur, k_cur, share, None, None, min_increase, False, message, examples, skipped=reason
        )

    if b == 0:
        return not_judged(
            f"batch {batch}: the first batch; {what} has no earlier share to be compared with", "no earlier batch"
        )
    if n_cur < s.min_rows:
        return not_judged(f"batch {batch}: {n_cur} rows, fewer than {s.min_rows}; {what} not judged", "too few rows")
    before = order < b
    n_ref = int(n_per[:b].sum())
    k_ref = int(flags[before].sum())
    baseline = k_ref / n_ref if n_ref else 0.0
    p = rise_p_value(k_ref, n_ref, k_cur, n_cur)
    rise = share - baseline
    failed = rise >= min_increase and p < s.alpha
    test = f"one-sided two-proportion p {p:.2g}"
    msg = (
        f"batch {batch}: {k_cur} of {n_cur} rows ({share:.1%}) have {what}, against {baseline:.1%} in "
        f"{int(b)} earlier batch(es) ({test}; fails from a rise of {min_increase:.0%})"
    )
    if examples and k_cur:
        msg += f"; e.g. {', '.join(examples)}"
    return Signal(
        name,
        batch,
        n_cur,
        k_cur,
        share,
        baseline,
        p,
        min_increase,
        bool(failed),
        msg,
        examples,
        {"rows_before": n_ref, "flagged_before": k_ref, "rise": rise},
    )


def _source_signal(
    batch: str,
    b: int,
    sources: pd.Series,
    order: np.ndarray,
    n_per: np.ndarray,
    rows: pd.DataFrame,
    s: TrainingSignals,
    id_column: str | None,
) -> Signal:
    """Judge the share of each source in batch ``b`` against its share of the earlier batches (BH over sources)."""
    n_cur = int(n_per[b])
    if b == 0:
        return Signal(
            SOURCE_BURST,
            batch,
            n_cur,
            0,
            0.0,
            None,
            None,
            s.min_source_increase,
            False,
            f"batch {batch}: the first batch; its source mix has nothing to be compared with",
            skipped="no earlier batch",
        )
    if n_cur < s.min_rows:
        return Signal(
            SOURCE_BURST,
            batch,
            n_cur,
            0,
            0.0,
            None,
            None,
            s.min_source_increase,
            False,
            f"batch {batch}: {n_cur} rows, fewer than {s.min_rows}; source mix not judged",
            skipped="too few rows",
        )
    src = sources.fillna("(none)").astype(str)
    cur_all = src[order == b].value_counts()
    ref_all = src[order < b].value_counts()
    names = sorted(set(cur_all.index) | set(ref_all.index))
    k_cur = cur_all.reindex(names, fill_value=0).to_numpy()
    k_ref = ref_all.reindex(names, fill_value=0).to_numpy()
    n_ref = int(n_per[:b].sum())
    p = np.array([rise_p_value(int(kr), n_ref, int(kc), n_cur) for kr, kc in zip(k_ref, k_cur, strict=True)])
    q = bh_adjust(p)
    share, before = k_cur / n_cur, k_ref / max(n_ref, 1)
    rise = share - before
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(before > 0, share / np.where(before > 0, before, 1.0), np.inf)
    fail = (q < s.alpha) & (rise >= s.min_source_increase) & (ratio >= s.min_source_ratio)
    top = int(np.argmax(np.where(fail, rise, -np.inf))) if fail.any() else int(np.argmax(rise))
    name = names[top]
    mine = (src[order == b] == name).to_numpy()
    examples = _row_ids(rows, mine, id_column, s.examples)
    ratio_txt = "new" if not np.isfinite(ratio[top]) else f"x{ratio[top]:.1f}"
    msg = (
        f"batch {batch}: source {name} sent {int(k_cur[top])} of {n_cur} rows ({share[top]:.1%}), against "
        f"{before[top]:.1%} of {n_ref} rows in {b} earlier batch(es) ({ratio_txt}; BH-adjusted one-sided "
        f"two-proportion p {q[top]:.2g} over {len(names)} sources; fails from a rise of {s.min_source_increase:.0%} "
        f"and x{s.min_source_ratio:g})"
    )
    if fail.any() and examples:
        msg += f"; e.g. {', '.join(examples)}"
    return Signal(
        SOURCE_BURST,
        batch,
        n_cur,
        int(k_cur[top]),
        float(share[top]),
        float(before[top]),
        float(q[top]),
        s.min_source_increase,
        bool(fail[top]),
        msg,
        examples,
        {
            "source": name,
            "rows_before": n_ref,
            "rise": float(rise[top]),
            "ratio": float(ratio[top]) if np.isfinite(ratio[top]) else None,
            "sources_failed": [names[i] for i in np.flatnonzero(fail)],
        },
    )


def batch_signals(
    frames: list[pd.DataFrame],
    ids: list[str],
    targets: list[str],
    *,
    features: list[str],
    label: str,
    regression: bool,
    settings: TrainingSignals,
    source_column: str | None = None,
    id_column: str | None = None,
) -> dict[str, list[Signal]]:
    """Return the signals of each batch in ``targets``, each judged against the batches before it.

    Args:
        frames: the batches' rows, in landing order (earliest first).
        ids: the batch ids, in the same order.
        targets: ids of the batches to judge.
        features: feature columns compared (those missing from a batch are left out of its keys).
        label: the label column.
        regression: labels are numbers (``settings.label_tolerance`` applies), else classes.
        settings: tolerances, test level and minimum effects.
        source_column: the column naming each record's source (no burst test without it).
        id_column: the row-id column quoted in the evidence.
    """
    if not frames:
        return {}
    order = np.concatenate([np.full(len(f), i, dtype=np.int64) for i, f in enumerate(frames)])
    n_per = np.array([len(f) for f in frames], dtype=np.int64)
    present = [c for c in features if all(c in f.columns for f in frames)]
    everything = pd.concat([f.reindex(columns=[*present, label]) for f in frames], ignore_index=True)
    labels = everything[label]
    if settings.hash_column is not None:
        hashed = pd.concat([f.reindex(columns=[settings.hash_column]) for f in frames], ignore_index=True)
        near = input_keys(hashed, [settings.hash_column], 0.0)
    else:
        numeric = [
            c
            for c in present
            if pd.api.types.is_numeric_dtype(everything[c]) and not pd.api.types.is_bool_dtype(everything[c])
        ]
        # a robust scale: the standard deviation of a heavy-tailed amount is its tail's, not its bulk's
        sample = everything[numeric].to_numpy(dtype=float)[:: max(1, len(everything) // 100_000)]  # even stride
        _, mad = robust_location_scale(sample) if numeric else (None, [])
        scales = pd.Series(mad, index=numeric, dtype=float) if numeric else None
        near = input_keys(everything, present, settings.tolerance, scales)
    exact = input_keys(everything, present, 0.0)
    tol = settings.label_tolerance
    conflicts = label_disagreement(near, labels, order, cumulative=False, regression=regression, tol=tol)
    flips = label_disagreement(exact, labels, order, cumulative=True, regression=regression, tol=tol)
    sources = (
        pd.concat([f.reindex(columns=[source_column]) for f in frames], ignore_index=True)[source_column]
        if source_column is not None
        else None
    )
    out: dict[str, list[Signal]] = {}
    pos = {bid: i for i, bid in enumerate(ids)}
    for bid in targets:
        b = pos[bid]
        rows = frames[b]
        sig = [
            _share_signal(
                CONFLICTING_LABELS,
                "a near-identical input in the batch with a different label",
                bid,
                conflicts,
                b,
                order,
                n_per,
                rows,
                settings,
                settings.min_conflict_increase,
                id_column,
            ),
            _share_signal(
                FLIPPED_DUPLICATES,
                "an exact duplicate input (in this or an earlier batch) with a different label",
                bid,
                flips,
                b,
                order,
                n_per,
                rows,
                settings,
                settings.min_flip_increase,
                id_column,
            ),
        ]
        if sources is not None:
            sig.append(_source_signal(bid, b, sources, order, n_per, rows, settings, id_column))
        out[bid] = sig
    return out
