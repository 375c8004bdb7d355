"""Run rcaflows benchmarks and print one table.

Usage::

    python bench/run.py [names…] [--quick] [--json bench/results/<name>.json]

A benchmark is a module ``bench/<name>.py`` that exposes ``run(quick: bool) -> list[dict]``;
every module in ``bench/`` with such a function is found by name (see bench/README.md).
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
#: Modules in bench/ that are helpers, not benchmarks.
_NOT_BENCHMARKS = {"run", "common", "competitors_drift", "__init__"}

Runner = Callable[[bool], list[dict[str, Any]]]


def _load(name: str) -> Runner | None:
    """Import ``bench/<name>.py`` and return its ``run`` (None when it has none)."""
    if str(BENCH_DIR) not in sys.path:
        sys.path.insert(0, str(BENCH_DIR))
    fn = getattr(importlib.import_module(name), "run", None)
    return fn if callable(fn) else None


def candidates() -> list[str]:
    """Return the names of the modules in bench/ that may be benchmarks."""
    return [
        p.stem for p in sorted(BENCH_DIR.glob("*.py")) if p.stem not in _NOT_BENCHMARKS and not p.stem.startswith("_")
    ]


def discover(names: list[str] | None = None) -> dict[str, Runner]:
    """Return the benchmarks by module name (modules exposing ``run(quick)``); all when ``names`` is empty.

    Only the named modules are imported; when discovering all, a module that fails to import
    is reported on stderr and skipped, so one broken benchmark does not stop the others.
    """
    found: dict[str, Runner] = {}
    if names:
        unknown = [n for n in names if n not in candidates()]
        if unknown:
            raise SystemExit(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(candidates())}")
        for name in names:
            fn = _load(name)
            if fn is None:
                raise SystemExit(f"bench/{name}.py has no run(quick) function")
            found[name] = fn
        return found
    for name in candidates():
        try:
            fn = _load(name)
        except Exception as exc:  # report and go on with the others
            print(f"[bench] {name}: import failed ({type(exc).__name__}: {exc}); skipped", file=sys.stderr)
            continue
        if fn is not None:
            found[name] = fn
    return found


def run_benchmarks(names: list[str], quick: bool) -> list[dict[str, Any]]:
    """Run the named benchmarks (all when empty) and return their rows, tagged by benchmark."""
    registry = discover(names)
    rows: list[dict[str, Any]] = []
    for name, fn in registry.items():
        t0 = time.perf_counter()
        out = fn(quick)
        load = os.getloadavg()[0]  # other work on the machine inflates wall times: say how much
        for row in out:
            rows.append({"benchmark": name, **row, "load_1m": round(load, 1)})
        print(f"[bench] {name} done in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return rows


def _fmt(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return "" if v is None else str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "–"
        if v != 0 and (abs(v) >= 1e5 or abs(v) < 1e-3):
            return f"{v:.3g}"
        return f"{v:.3f}".rstrip("0").rstrip(".") if abs(v) < 100 else f"{v:.1f}"
    return str(v)


def print_table(rows: list[dict[str, Any]]) -> None:
    """Print the rows as one rich table; columns are the union of the rows' keys, in order."""
    from rich.console import Console
    from rich.table import Table

    columns = list(dict.fromkeys(k for r in rows for k in r))
    table = Table(show_lines=False)
    for c in columns:
        table.add_column(c, overflow="fold")
    for r in rows:
        table.add_row(*(_fmt(r.get(c)) for c in columns))
    Console(width=max(160, 12 * len(columns))).print(table)


def _json_default(v: Any) -> Any:
    if hasattr(v, "item"):
        return v.item()
    return str(v)


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, run, print and optionally write JSON."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (seconds), for smoke tests")
    parser.add_argument("--json", type=Path, help="write the rows to this JSON file")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(discover()))
        return 0
    rows = run_benchmarks(args.names, args.quick)
    print_table(rows)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2, default=_json_default, allow_nan=True) + "\n")
        print(f"[bench] wrote {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
