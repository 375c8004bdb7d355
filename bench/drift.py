"""Benchmark: ``detect_drift`` side by side with evidently, nannyml and alibi-detect, at 100,000 and 1,000 rows.

Data (seeded, :func:`make_data`): 100 columns, reference and current drawn independently.
90 columns do not change, of mixed types: Gaussian, Student-t (df 2, 3, 5), log-normal, Pareto
(α 1.1 to 3), zero-inflated counts, few-valued Poisson counts, uniform, columns with 2-50 %
NaN, booleans, and categoricals of 3 to 200 levels (Zipf-like shares, some with nulls, three
with 200 levels). 10 columns shift by a small but real amount, the ones a data team must hear
about:

* category shares moving 3 to 6 points: 6 points between the top two of 5 levels, 3 points
  from the top of 20 levels to the sixth, 5 points between two of 8 levels (with nulls),
  5 points onto one of 200 levels (pro rata from the others), and 3 % of the rows of a
  200-level column taking a level the reference never had;
* a Gaussian mean moving 0.10 sd; a Gaussian sd growing × 1.15;
* the upper tail of a log-normal stretched × 2 (its top 5 % doubled);
* the zero share of a zero-inflated count dropping 4 points;
* the NaN share of a numeric column rising 3 points (values unchanged).

Reported per library and size: wall and CPU seconds (fit + verdicts, not imports or I/O;
rcaflows: the median of 3 runs, each competitor: one run; CPU
seconds of the process, which stay comparable when other work loads the machine), false
alarms on the 90 unchanged columns, misses on the 10 shifted ones, and which. The competitors
run in a separate venv (their pins conflict with pandas 3 / numpy 2): ``$RCAFLOWS_BENCH_PYTHON``
names its python (create it with ``bash bench/setup_competitors.sh``); data goes over an
``.npz`` file (categorical nulls as the level ``"None"``, booleans as ``"True"``/``"False"``)
and verdicts come back as JSON. Without the variable only rcaflows runs. ``quick`` runs 20,000
rows only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from common import measure, row
from rcaflows.detection.drift import detect_drift

HERE = Path(__file__).resolve().parent
ENV_PYTHON = "RCAFLOWS_BENCH_PYTHON"


def make_data(n_rows: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, set[str], list[str], list[str]]:
    """Return reference, current, the shifted column names, numeric and categorical names."""
    rng = np.random.default_rng(seed)
    ref: dict[str, Any] = {}
    cur: dict[str, Any] = {}
    shifted: set[str] = set()
    cat: list[str] = []

    def add(name: str, draw: Callable[[int], Any], change: Callable[[Any], Any] | None = None) -> None:
        # reference and current are independent draws; a shift transforms the current draw
        ref[name] = draw(n_rows)
        cur[name] = draw(n_rows) if change is None else change(draw(n_rows))
        if change is not None:
            shifted.add(name)

    def with_nans(x: np.ndarray, share: float) -> np.ndarray:
        x = x.astype(float)
        x[rng.random(len(x)) < share] = np.nan
        return x

    def stretch_top(x: np.ndarray, top: float, factor: float) -> np.ndarray:
        # the values above the column's own (1 - top) quantile are multiplied by ``factor``
        return np.where(x > np.quantile(x, 1 - top), x * factor, x)

    def zero_inflated(n: int, zero: float, lam: float) -> np.ndarray:
        return np.where(rng.random(n) < zero, 0.0, 1.0 + rng.poisson(lam, n))

    def levels_draw(k: int, p: np.ndarray, nan_share: float = 0.0) -> Callable[[int], Any]:
        levels = np.array([f"L{j:03d}" for j in range(k)], dtype=object)

        def draw(n: int) -> Any:
            x = levels[rng.choice(k, n, p=p)]
            if nan_share:
                x[rng.random(n) < nan_share] = None
            return x

        return draw

    def zipf(k: int, s: float = 1.0) -> np.ndarray:
        p = 1.0 / np.arange(1, k + 1) ** s
        return p / p.sum()

    def move(p: np.ndarray, src: int | None, dst: int, points: float) -> np.ndarray:
        # move ``points`` of share to level ``dst``: from level ``src``, or pro rata from all others
        q = p.copy()
        if src is None:
            q[np.arange(len(q)) != dst] *= 1 - points / (1 - q[dst])
        else:
            q[src] -= points
        q[dst] += points
        return q / q.sum()

    # ---- numeric, unchanged (some shifted ones are named below with their change)
    for i in range(29):
        mu, sd = rng.uniform(-50, 50), rng.uniform(0.5, 20)
        change = {
            0: lambda x, sd=sd: x + 0.10 * sd,  # mean moves 0.10 sd
            1: lambda x, mu=mu: mu + (x - mu) * 1.15,  # sd × 1.15
        }.get(i)
        add(f"gauss_{i:02d}", lambda n, mu=mu, sd=sd: rng.normal(mu, sd, n), change)
    for i in range(10):
        df, sc = (2.0, 3.0, 5.0)[i % 3], rng.uniform(0.5, 5)
        add(f"student_{i:02d}", lambda n, df=df, sc=sc: sc * rng.standard_t(df, n))
    for i in range(8):
        mu, sg = rng.uniform(0, 3), rng.uniform(0.5, 1.5)
        change = (lambda x: stretch_top(x, 0.05, 2.0)) if i == 0 else None  # upper tail × 2
        add(f"lognorm_{i:02d}", lambda n, mu=mu, sg=sg: rng.lognormal(mu, sg, n), change)
    for i in range(8):
        a = (1.2, 1.5, 2.0, 2.5, 3.0, 1.5, 1.1, 1.8)[i]
        add(f"pareto_{i:02d}", lambda n, a=a: 1.0 + rng.pareto(a, n))
    for i in range(8):
        zero, lam = rng.uniform(0.3, 0.9), rng.uniform(2, 30)
        # zero share drops 4 points; the non-zero counts keep their distribution
        change = (
            (
                lambda x, zero=zero, lam=lam: np.where(
                    (x == 0) & (rng.random(len(x)) < 0.04 / zero), 1.0 + rng.poisson(lam, len(x)), x
                )
            )
            if i == 0
            else None
        )
        add(f"zinf_{i:02d}", lambda n, zero=zero, lam=lam: zero_inflated(n, zero, lam), change)
    for i in range(5):
        lam = rng.uniform(0.5, 2.0)
        add(f"poisson_{i:02d}", lambda n, lam=lam: rng.poisson(lam, n).astype(float))
    for i in range(8):
        share = (0.05, 0.3, 0.1, 0.02, 0.5, 0.15, 0.05, 0.2)[i]
        base = (lambda n: rng.normal(10, 2, n)) if i % 2 else (lambda n: rng.lognormal(1, 0.7, n))
        # 3 more points of the values go missing; the rest keep their distribution
        change = (lambda x: np.where(rng.random(len(x)) < 0.03 / 0.95, np.nan, x)) if i == 0 else None
        add(f"nulls_{i:02d}", lambda n, share=share, base=base: with_nans(base(n), share), change)
    for i in range(6):
        lo = rng.uniform(0, 100)
        add(f"uniform_{i:02d}", lambda n, lo=lo: rng.uniform(lo, lo + 10, n))
    num = list(ref)
    # ---- categorical
    for i in range(2):
        share = rng.uniform(0.1, 0.6)
        add(f"bool_{i:02d}", lambda n, share=share: rng.random(n) < share)
        cat.append(f"bool_{i:02d}")
    specs = [  # levels, Zipf exponent, null share, shifted: (from level or None = pro rata, to level, points)
        (5, 1.0, 0.0, (0, 1, 0.06)),
        (20, 1.0, 0.0, (0, 5, 0.03)),
        (8, 0.8, 0.05, (1, 3, 0.05)),
        (200, 1.1, 0.0, (None, 10, 0.05)),
        (200, 0.9, 0.0, None),
        (200, 1.3, 0.02, None),
        (3, 0.5, 0.0, None),
        (12, 1.0, 0.1, None),
        (30, 1.2, 0.0, None),
        (50, 1.0, 0.0, None),
        (6, 0.0, 0.0, None),
        (40, 1.5, 0.01, None),
        (15, 0.7, 0.0, None),
        (100, 1.0, 0.0, None),
        (200, 1.0, 0.05, None),
    ]
    for i, (k, s, nan_share, shift) in enumerate(specs):
        p = zipf(k, s)
        draw = levels_draw(k, p, nan_share)
        change = None
        if shift is not None:
            draw_cur = levels_draw(k, move(p, *shift), nan_share)
            change = lambda _x, d=draw_cur: d(n_rows)  # noqa: E731
        name = f"cat{k}_{i:02d}"
        add(name, draw, change)
        cat.append(name)
    # a 200-level column where 3 % of the rows take a level the reference never had
    p = zipf(200, 1.0)
    draw = levels_draw(200, p)
    add("cat200_new", draw, lambda x: np.where(rng.random(len(x)) < 0.03, "NEW", x).astype(object))
    cat.append("cat200_new")
    return pd.DataFrame(ref), pd.DataFrame(cur), shifted, num, cat


def _score(drifted: set[str], shifted: set[str], columns: list[str]) -> tuple[int, int]:
    """Return (false alarms among unshifted columns, misses among shifted ones)."""
    return len(drifted - shifted), len(shifted - drifted)


def _competitors(ref: pd.DataFrame, cur: pd.DataFrame, num: list[str], cat: list[str]) -> list[dict[str, Any]]:
    """Run bench/competitors_drift.py in the competitor venv; return its entries ([] without one)."""
    python = os.environ.get(ENV_PYTHON)
    if not python:
        print(f"[bench] drift: ${ENV_PYTHON} unset, competitors skipped (bench/setup_competitors.sh)", file=sys.stderr)
        return []
    with tempfile.TemporaryDirectory() as tmp:
        data, out = Path(tmp) / "drift.npz", Path(tmp) / "out.json"
        np.savez(
            data,
            num_names=np.array(num),
            cat_names=np.array(cat),
            ref_num=ref[num].to_numpy(dtype=np.float64),
            cur_num=cur[num].to_numpy(dtype=np.float64),
            # nulls travel as the string "None": a level of its own, as rcaflows counts them
            ref_cat=ref[cat].astype(object).to_numpy(dtype=str),
            cur_cat=cur[cat].astype(object).to_numpy(dtype=str),
        )
        proc = subprocess.run(
            [python, str(HERE / "competitors_drift.py"), str(data), str(out)],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0 or not out.exists():
            raise RuntimeError(f"competitor run failed ({python}):\n{proc.stderr[-3000:]}")
        entries: list[dict[str, Any]] = json.loads(out.read_text())
        return entries


def run(quick: bool) -> list[dict[str, Any]]:
    """Return one row per library and size: time, false alarms on the unshifted and misses on the shifted columns."""
    rows: list[dict[str, Any]] = []
    for n in (20_000,) if quick else (100_000, 1_000):
        rows += _run_case(n)
    return rows


def _run_case(n: int) -> list[dict[str, Any]]:
    """Return the rows of one size: rcaflows first, then each competitor."""
    ref, cur, shifted, num, cat = make_data(n)
    cols = list(ref.columns)
    n_null = len(cols) - len(shifted)
    detect_drift(ref.iloc[:200], cur.iloc[:200])  # import and first-call costs stay out of the timing
    # median of 3: a sub-second run is at the mercy of one load spike on the shared machine; the
    # competitors' runs last seconds to minutes and average the load out by themselves
    runs = sorted((measure(lambda: detect_drift(ref, cur), memory=False) for _ in range(3)), key=lambda m: m[1])
    result, seconds, _, cpu = runs[1]
    ours = set(result.loc[result["drifted"], "column"])
    fa, miss = _score(ours, shifted, cols)
    case = f"{n:,} rows × {len(cols)} cols ({len(shifted)} shifted)"
    rows = [
        row(
            case=case,
            library="rcaflows detect_drift",
            api="defaults (BH alpha 0.001, DriftRule bars)",
            seconds=seconds,
            cpu_s=cpu,
            false_alarms=f"{fa}/{n_null}",
            misses=f"{miss}/{len(shifted)}",
            ours_times_faster_wall=1.0,
            ours_times_faster_cpu=1.0,
            missed_columns=",".join(sorted(shifted - ours)),
            false_alarm_columns=",".join(sorted(ours - shifted)),
        )
    ]
    for entry in _competitors(ref, cur, num, cat):
        if "error" in entry:
            rows.append(row(case=case, library=entry["library"], api=entry["api"], error=entry["error"][:200]))
            continue
        theirs = {c for c, d in entry["drifted"].items() if d}
        fa, miss = _score(theirs, shifted, cols)
        rows.append(
            row(
                case=case,
                library=entry["library"],
                api=entry["api"],
                seconds=float(entry["seconds"]),
                cpu_s=float(entry["cpu_s"]),
                false_alarms=f"{fa}/{n_null}",
                misses=f"{miss}/{len(shifted)}",
                ours_times_faster_wall=float(entry["seconds"]) / seconds,
                ours_times_faster_cpu=float(entry["cpu_s"]) / cpu,
                missed_columns=",".join(sorted(shifted - theirs)),
                false_alarm_columns=",".join(sorted(theirs - shifted)),
            )
        )
    return rows
