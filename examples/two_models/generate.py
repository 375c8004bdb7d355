"""Write the prediction logs of the two-model example system: demand forecasts and ticket routing.

Usage::

    python examples/two_models/generate.py DIRECTORY [--end 2026-03-02T12:00:00Z] [--fault routing|demand|both|none]

One system serves two models, each logged by its own source: ``DIRECTORY/forecasts`` holds the
demand-forecast regression model's log (:mod:`examples.demand_forecast.generate`, whose fault is
the canary v8 over-forecasting fresh produce) and ``DIRECTORY/routing`` the ticket-routing
multiclass model's (:mod:`examples.ticket_routing.generate`, whose fault is arm B mangling German
tickets). Both generators are imported, not copied; ``--fault`` says which model's fault is
injected (default ``routing``), and ``DIRECTORY/truth.json`` names the faulty model(s) with each
generator's truth.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pandas as pd

EXAMPLES = Path(__file__).resolve().parent.parent
#: model name -> (example folder whose generator writes its log, sub-directory its source reads)
MODELS = {"demand_model": ("demand_forecast", "forecasts"), "router_model": ("ticket_routing", "routing")}
FAULTS = {"routing": ("router_model",), "demand": ("demand_model",), "both": tuple(MODELS), "none": ()}


def generator(example: str) -> ModuleType:
    """Return the ``generate`` module of ``examples/<example>`` (the examples are scripts, not a package)."""
    path = EXAMPLES / example / "generate.py"
    spec = importlib.util.spec_from_file_location(f"{example}_generate", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the generator {path}")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def write(directory: Path, end: pd.Timestamp, fault: str = "routing") -> dict[str, Path]:
    """Write each model's log under ``directory`` with the faults ``fault`` names; return model -> log path."""
    if fault not in FAULTS:
        raise ValueError(f"fault: unknown {fault!r}; expected one of {', '.join(FAULTS)}")
    out: dict[str, Path] = {}
    truth: dict[str, Any] = {"faulty_models": list(FAULTS[fault])}
    for model, (example, sub) in MODELS.items():
        faulty = model in FAULTS[fault]
        out[model] = generator(example).write(directory / sub, end, fault=faulty)
        if faulty:
            truth[model] = json.loads((directory / sub / "truth.json").read_text())
    (directory / "truth.json").write_text(json.dumps(truth, indent=2) + "\n")
    return out


def main() -> None:
    """Parse the arguments and write the files."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("directory", type=Path)
    ap.add_argument("--end", default="2026-03-02T12:00:00Z")
    ap.add_argument("--fault", choices=tuple(FAULTS), default="routing", help="whose fault to inject")
    args = ap.parse_args()
    for model, path in write(args.directory, pd.Timestamp(args.end), args.fault).items():
        print(f"{model}: {path}")


if __name__ == "__main__":
    main()
