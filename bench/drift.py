"""Benchmark: ``detect_drift`` on 100,000 rows × 100 columns, side by side with evidently, nannyml, alibi-detect.

Data (seeded, no nulls so every library can take it): 92 numeric columns — Gaussian, log-normal
(heavy right tail), Poisson counts (λ = 3, few distinct values) and uniform — and 8 categorical
columns (5 to 40 levels, Zipf-like shares). Reference and current rows are drawn independently.
10 columns are shifted by a small but real amount, chosen once from what a data-quality team
would want to hear about:

* 3 Gaussian: mean + 0.2σ; 2 Gaussian: scale × 1.3;
* 1 log-normal: median × 1.25; 1 Poisson: λ 3 → 3.5; 1 uniform: range shifted by 10 %;
* 2 categorical: 12 % of the rows move from the top level to others (total variation 0.12).

Reported per library: wall and CPU seconds (fit + verdicts, not imports or I/O; CPU seconds of
the process, which stay comparable when other work loads the machine), false alarms on the
90 unshifted columns, misses on the 10 shifted ones. The competitors run in a separate venv
(their pins conflict with pandas 3 / numpy 2): ``$RCAFLOWS_BENCH_PYTHON`` names its python
(create it with ``bash bench/setup_competitors.sh``); data goes over an ``.npz`` file and
verdicts come back as JSON. Without the variable only rcaflows runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from common import measure, row
from rcaflows.detection.stats import detect_drift

HERE = Path(__file__).resolve().parent
ENV_PYTHON = "RCAFLOWS_BENCH_PYTHON"


def make_data(n_rows: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, set[str], list[str], list[str]]:
    """Return reference, current, the shifted column names, numeric and categorical names."""
    rng = np.random.default_rng(seed)
    ref: dict[str, np.ndarray] = {}
    cur: dict[str, np.ndarray] = {}
    shifted: set[str] = set()

    def add(name: str, draw: Any, draw_cur: Any = None) -> None:
        ref[name] = draw(n_rows)
        cur[name] = (draw_cur or draw)(n_rows)
        if draw_cur is not None:
            shifted.add(name)

    for i in range(40):
        mu, sd = rng.uniform(-50, 50), rng.uniform(0.5, 20)
        shift = {0: (0.2 * sd, 1.0), 1: (0.2 * sd, 1.0), 2: (0.2 * sd, 1.0), 3: (0.0, 1.3), 4: (0.0, 1.3)}.get(i)
        add(
            f"gauss_{i:02d}",
            lambda n, mu=mu, sd=sd: rng.normal(mu, sd, n),
            None if shift is None else (lambda n, mu=mu, sd=sd, s=shift: rng.normal(mu + s[0], sd * s[1], n)),
        )
    for i in range(20):
        mu = rng.uniform(0, 3)
        add(
            f"lognorm_{i:02d}",
            lambda n, mu=mu: rng.lognormal(mu, 1.0, n),
            (lambda n, mu=mu: rng.lognormal(mu + np.log(1.25), 1.0, n)) if i == 0 else None,
        )
    for i in range(16):
        add(
            f"count_{i:02d}",
            lambda n: rng.poisson(3.0, n).astype(float),
            (lambda n: rng.poisson(3.5, n).astype(float)) if i == 0 else None,
        )
    for i in range(16):
        lo = rng.uniform(0, 100)
        add(
            f"uniform_{i:02d}",
            lambda n, lo=lo: rng.uniform(lo, lo + 10, n),
            (lambda n, lo=lo: rng.uniform(lo + 1, lo + 11, n)) if i == 0 else None,
        )
    num = list(ref)
    cat: list[str] = []
    for i in range(8):
        k = int(rng.integers(5, 41))
        p = 1.0 / np.arange(1, k + 1)
        p /= p.sum()
        levels = np.array([f"L{j:02d}" for j in range(k)])
        q = p.copy()
        if i < 2:  # move 12 % of the rows from the top level to the others, pro rata
            q[0] -= 0.12
            q[1:] += 0.12 * p[1:] / p[1:].sum()
        name = f"cat_{i:02d}"
        cat.append(name)
        ref[name] = rng.choice(levels, n_rows, p=p)
        cur[name] = rng.choice(levels, n_rows, p=q)
        if i < 2:
            shifted.add(name)
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
            ref_cat=ref[cat].to_numpy(dtype=str),
            cur_cat=cur[cat].to_numpy(dtype=str),
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
    """Return one row per library: time, false alarms on the unshifted and misses on the shifted columns."""
    n = 5_000 if quick else 100_000
    ref, cur, shifted, num, cat = make_data(n)
    cols = list(ref.columns)
    n_null = len(cols) - len(shifted)
    result, seconds, _, cpu = measure(lambda: detect_drift(ref, cur), memory=False)
    ours = set(result.loc[result["drifted"], "column"])
    fa, miss = _score(ours, shifted, cols)
    case = f"{n:,} rows × {len(cols)} cols ({len(shifted)} shifted)"
    rows = [
        row(
            case=case,
            library="rcaflows detect_drift",
            api="defaults (alpha 0.001 BH, min_effect 0.1)",
            seconds=seconds,
            cpu_s=cpu,
            false_alarms=f"{fa}/{n_null}",
            misses=f"{miss}/{len(shifted)}",
            ours_times_faster_wall=1.0,
            ours_times_faster_cpu=1.0,
            missed_columns=",".join(sorted(shifted - ours)),
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
            )
        )
    return rows
