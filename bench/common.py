"""Shared helpers of the benchmarks: timing and peak-memory measurement."""

from __future__ import annotations

import argparse
import gc
import resource
import time
import tracemalloc
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def measure(fn: Callable[[], T], *, memory: bool = True) -> tuple[T, float, float, float]:
    """Run ``fn`` once; return its result, wall seconds, peak traced MiB and CPU seconds.

    The peak counts what ``fn`` allocates beyond what already exists (numpy and pandas report
    their buffers to tracemalloc), so the input data is not counted. CPU seconds (this
    process, all threads) stay meaningful when other work loads the machine; wall seconds do not.
    """
    gc.collect()
    if memory:
        tracemalloc.start()
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
    c0, t0 = time.process_time(), time.perf_counter()
    out = fn()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = 0.0
    if memory:
        peak = (tracemalloc.get_traced_memory()[1] - base) / 2**20
        tracemalloc.stop()
    return out, wall, peak, cpu


def max_rss_mib() -> float:
    """Return the process's peak resident set size so far, in MiB (Linux ru_maxrss is KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def row(**kw: Any) -> dict[str, Any]:
    """Return a result row with floats rounded for display (JSON keeps 4 significant digits)."""
    return {k: (float(f"{v:.4g}") if isinstance(v, float) else v) for k, v in kw.items()}


def print_rows(run: Callable[[bool], list[dict[str, Any]]], description: str) -> None:
    """Run a benchmark's ``run`` from the command line (``--quick`` for tiny sizes) and print its rows."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="tiny sizes")
    for r in run(parser.parse_args().quick):
        print(r)
