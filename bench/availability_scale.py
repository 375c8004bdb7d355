"""Time the data-availability checks (cadence per series, silence, grouping) over many series.

``python bench/availability_scale.py [--series 10000] [--hours 25]``: every series on a 1-minute
grid, one component (10 series) silent for the last 40 minutes; prints CPU and wall seconds of
:func:`rcaflows.detection.detectors.availability.availability_checks` for a cold and a warm call, and the
failing checks (one is right). Then the registered detector as the scan runs it (scope ``"data"``:
``run(Window.split(data, start), config)``, which rebuilds the loaded rows from the two halves): the
seconds of the split and of ``run``, and whether it gives the same checks as the direct call.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from rcaflows.data import MonitoringData, Window
from rcaflows.demo import demo_config
from rcaflows.detection import DETECTORS
from rcaflows.detection.detectors.availability import availability_checks

END = datetime(2026, 1, 10, 12, tzinfo=UTC)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--series", type=int, default=10_000, help="Series (10 per component).")
    ap.add_argument("--hours", type=int, default=25, help="Hours of data (the last one is the current window).")
    args = ap.parse_args()
    ts = pd.date_range(END - timedelta(hours=args.hours), END, freq="1min", inclusive="left")
    comp = np.repeat([f"c{i // 10}" for i in range(args.series)], len(ts))
    metric = np.tile([f"m{i % 10}" for i in range(10)], args.series // 10).repeat(len(ts))
    frame = pd.DataFrame({"timestamp": np.tile(ts, args.series), "component": comp, "metric": metric, "value": 1.0})
    frame = frame[~((frame["component"] == "c7") & (frame["timestamp"] >= END - timedelta(minutes=40)))]
    data = MonitoringData(
        start=END - timedelta(hours=args.hours),
        end=END,
        metrics=frame,
        source_components={"feed": tuple(sorted(set(comp)))},
    )
    cfg = demo_config().model_copy(update={"models": []})
    for label in ("cold", "warm"):
        wall, cpu = time.perf_counter(), time.process_time()
        checks = availability_checks(cfg, data, END - timedelta(hours=1))
        failing = [c.component for c in checks if c.failed]
        print(
            f"{label}: {args.series} series x {args.hours} h ({len(frame):,} rows): "
            f"cpu {time.process_time() - cpu:.2f} s, wall {time.perf_counter() - wall:.2f} s, "
            f"{len(checks)} checks, failing {failing}"
        )
    wall = time.perf_counter()
    window = Window.split(data, END - timedelta(hours=1))
    split_s, wall = time.perf_counter() - wall, time.perf_counter()
    via = DETECTORS["availability"].run(window, cfg)
    print(
        f"registered detector: Window.split {split_s:.2f} s, run(window) {time.perf_counter() - wall:.2f} s, "
        f"same checks as the direct call: {via == checks}"
    )


if __name__ == "__main__":
    main()
