"""Time the quality detector with custom metrics (issue 16 item 2): none, per-row, whole-window.

Usage::

    python bench/custom_metrics.py [--quick]

A seeded binary fraud log (7 h: 6 h reference, 1 h current, labels 5 min after each prediction)
is judged by :class:`~rcaflows.detection.detectors.quality.QualityDetector` three ways: the
built-in checks only; plus a per-row custom metric (the row's absolute error: Welch's t on row
values); plus a whole-window custom metric (share of the fraudulent amount flagged: a bootstrap
of ``rcaflows.model.custom.BOOTSTRAP`` row resamples per window, and one resample set per
reference chunk). Prints CPU seconds of one detector run (median of 3) and the check's verdict.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from common import measure, print_rows  # bench/ is on sys.path (the runner's, or the script's own folder)
from rcaflows.config.loader import demo_config_path, load_config
from rcaflows.config.models import ModelConfig, SystemConfig
from rcaflows.data import MonitoringData, Window
from rcaflows.detection.detectors.quality import QualityDetector

END = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SPLIT = END - timedelta(hours=1)
START = END - timedelta(hours=7)


def abs_error(rows: pd.DataFrame) -> np.ndarray:
    """Return each row's 0/1 error (a per-row custom metric)."""
    return np.abs(rows["prediction"].to_numpy(dtype=float) - rows["label"].to_numpy(dtype=float))


def amount_caught(rows: pd.DataFrame) -> float:
    """Return the share of the fraudulent amount flagged (a whole-window custom metric)."""
    fraud = rows["label"].to_numpy(dtype=float) >= 0.5
    amount = rows["amount"].to_numpy(dtype=float)
    total = amount[fraud].sum()
    flagged = rows["prediction"].to_numpy(dtype=float) >= 0.5
    return float(amount[fraud & flagged].sum() / total) if total > 0 else float("nan")


def log(n: int, start: datetime, end: datetime, seed: int) -> pd.DataFrame:
    """Return a seeded fraud model log of ``n`` rows between ``start`` and ``end``."""
    rng = np.random.default_rng(seed)
    ts = pd.Series(
        pd.Timestamp(start) + pd.to_timedelta(np.sort(rng.uniform(0, (end - start).total_seconds(), n)), unit="s")
    )
    y = (rng.random(n) < 0.3).astype(float)
    s = np.clip(np.where(y == 1, 0.72, 0.28) + rng.normal(0, 0.18, n), 0, 1)
    return pd.DataFrame(
        {
            "timestamp": ts,
            "amount": np.exp(rng.normal(4, 1, n)),
            "group": rng.choice(["A", "B"], n),
            "score": s,
            "prediction": (s >= 0.5).astype(int),
            "label": y,
            "label_at": ts + pd.Timedelta(minutes=5),
        }
    )


def config(custom: list[dict[str, Any]]) -> SystemConfig:
    """Return the demo config with a binary model over ``amount`` and the given custom metrics."""
    base = load_config(demo_config_path())
    model = ModelConfig(
        name="m",
        component=base.models[0].component,
        lineage_node=base.models[0].lineage_node,
        features=["amount"],
        label_delay=timedelta(minutes=5),
        analysis={"custom_metrics": custom},  # type: ignore[arg-type]
    )
    return base.model_copy(update={"models": [model]})


CASES: dict[str, list[dict[str, Any]]] = {
    "built-in only": [],
    "per-row custom": [
        {"name": "err", "function": "custom_metrics:abs_error", "per_row": True, "higher_is_better": False}
    ],
    "whole-window custom": [{"name": "caught", "function": "custom_metrics:amount_caught"}],
}


def run(quick: bool) -> list[dict[str, Any]]:
    """Return one row per case: CPU seconds of one detector run and the custom check's status."""
    per_hour = 500 if quick else 3_000
    window = Window(
        reference=MonitoringData(start=START, end=SPLIT, predictions=log(6 * per_hour, START, SPLIT, 1)),
        current=MonitoringData(start=SPLIT, end=END, predictions=log(per_hour, SPLIT, END, 2)),
    )
    rows = []
    for case, custom in CASES.items():
        cfg = config(custom)
        cpus, checks = [], []
        for _ in range(1 if quick else 3):
            checks, _, _, cpu = measure(lambda cfg=cfg: QualityDetector().run(window, cfg), memory=False)
            cpus.append(cpu)
        mine = [c for c in checks if c.details.get("custom")]
        rows.append(
            {
                "case": case,
                "rows_reference": 6 * per_hour,
                "rows_current": per_hour,
                "cpu_s": float(np.median(cpus)),
                "custom_status": str(mine[0].status) if mine else None,
            }
        )
    return rows


if __name__ == "__main__":
    print_rows(run, __doc__.splitlines()[0])
